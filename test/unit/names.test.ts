import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { DISABLE_LOOKALIKES, MAX_NAME_BYTES, printable, validatePlotName } from '../../src/wire/names.js';

describe('plot names', () => {
  it('accepts plain file names', () => {
    for (const n of [
      'plot-k32-2024-01-01-00-00-abc.plot',
      'a',
      'x..y.plot',
      'ünïcode.plot',
      'a'.repeat(MAX_NAME_BYTES),
    ]) {
      assert.equal(validatePlotName(n), n);
    }
  });

  it('rejects anything that could leave the directory or hide', () => {
    const bad = [
      '',
      '.',
      '..',
      '../../x',
      '../x.plot',
      'a/b',
      '/etc/passwd',
      'a\\b',
      '.hidden.plot',
      '.plotferry-x.plot.1234.partial',
      'x\u0000y',
      'x\ny',
      'x\u007f',
      'a'.repeat(MAX_NAME_BYTES + 1),
      'é'.repeat(101),
    ];
    for (const n of bad) {
      assert.throws(
        () => validatePlotName(n),
        (e: unknown) => e instanceof PlotferryError && e.code === 'PF_BAD_NAME',
        JSON.stringify(n),
      );
    }
    for (const n of [undefined, null, 5, {}]) {
      assert.throws(
        () => validatePlotName(n),
        (e: unknown) => e instanceof PlotferryError && e.code === 'PF_BAD_NAME',
      );
    }
  });

  it('never echoes control characters', () => {
    assert.equal(printable('a\u001b[2Jb\n'), 'a?[2Jb?');
    assert.equal(printable('x\u202etolp.exe'), 'x?tolp.exe');
  });

  // Regression: `send evil/plotferry.disable` was stored, and took the disk
  // out of rotation for every later file; a NATS claim for that name was accepted too.
  it('refuses the names plotferry gives a meaning to, in any case', () => {
    for (const n of ['plotferry.disable', 'PLOTFERRY.DISABLE', 'Plotferry.Disable', 'plotferry.anything']) {
      assert.throws(
        () => validatePlotName(n),
        (e: unknown) => e instanceof PlotferryError && e.code === 'PF_BAD_NAME' && /reserved/.test(e.message),
        n,
      );
    }
    assert.equal(validatePlotName('plotferry-disable.plot'), 'plotferry-disable.plot');
  });

  // Regression: a right-to-left override makes `x\u202etolp.exe` read as
  // `xexe.plot`; it was accepted.
  it('refuses bidi controls with the other control characters', () => {
    for (const n of ['x\u202etolp.exe', 'a\u2066b.plot', 'a\u200fb.plot', 'a\u0085b.plot']) {
      assert.throws(
        () => validatePlotName(n),
        (e: unknown) => e instanceof PlotferryError && e.code === 'PF_BAD_NAME',
        JSON.stringify(n),
      );
    }
  });

  // A look-alike takes a disk out of rotation too: no sender may deliver one.
  it('refuses every look-alike of plotferry.disable as a plot name', () => {
    for (const n of DISABLE_LOOKALIKES) assert.throws(() => validatePlotName(n), PlotferryError, n);
  });
});
