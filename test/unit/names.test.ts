import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/errors.js';
import { MAX_NAME_BYTES, printable, validatePlotName } from '../../src/wire/names.js';

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
  });
});
