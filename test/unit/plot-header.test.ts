import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { writeSamplePlot } from '../../src/demo/sample.js';
import { checkPlotHeader, PLOT_HEADER_MAX_CHECK } from '../../src/wire/plot-header.js';

const notAPlot = (re: RegExp) => (e: unknown) =>
  e instanceof PlotferryError && e.code === 'PF_NOT_A_PLOT' && re.test(e.message);

function v1(k = 32, fd = 'v1.0'): Buffer {
  const b = Buffer.alloc(19 + 32 + 1 + 2 + fd.length + 2 + 128);
  b.write('Proof of Space Plot', 0, 'latin1');
  b.fill(0xab, 19, 51);
  b[51] = k;
  b.writeUInt16BE(fd.length, 52);
  b.write(fd, 54, 'latin1');
  b.writeUInt16BE(128, 54 + fd.length);
  return b;
}

/** BladeBit's compressed layout. */
function v2(k = 32, version = 2): Buffer {
  const b = Buffer.alloc(4 + 4 + 32 + 1 + 2 + 112 + 4 + 1);
  b.writeUInt32LE(0x544f4c50, 0); // "PLOT"
  b.writeUInt32LE(version, 4);
  b.fill(0xcd, 8, 40);
  b[40] = k;
  b.writeUInt16BE(112, 41);
  return b;
}

describe('plot header check', () => {
  it('takes the v1 (chiapos, madMAx, BladeBit) and v2 (BladeBit compressed) layouts', () => {
    assert.deepEqual(checkPlotHeader(v1(), 100e9), { format: 'v1', k: 32, id: 'ab'.repeat(32) });
    assert.deepEqual(checkPlotHeader(v2(33), 80e9), { format: 'v2', k: 33, id: 'cd'.repeat(32) });
    assert.equal(v2().subarray(0, 4).toString('latin1'), 'PLOT');
  });

  it('refuses other files, out-of-range fields and truncated headers', () => {
    assert.throws(
      () => checkPlotHeader(Buffer.from('PK\x03\x04 a zip file, not a plot........................'), 1e6),
      notAPlot(/does not start/),
    );
    assert.throws(() => checkPlotHeader(v1(5), 1e9), notAPlot(/k 5 is outside/));
    assert.throws(() => checkPlotHeader(v1(32, 'v\x001.0'), 1e9), notAPlot(/not text/));
    assert.throws(() => checkPlotHeader(v2(32, 3), 1e9), notAPlot(/version 3/));
    assert.throws(() => checkPlotHeader(v1().subarray(0, 40), 40), notAPlot(/shorter than any plot header/));
    assert.throws(() => checkPlotHeader(v1().subarray(0, 56), 56), notAPlot(/ends inside the format description/));
    const zeroFd = v1();
    zeroFd.writeUInt16BE(0, 52);
    assert.throws(() => checkPlotHeader(zeroFd, 1e9), notAPlot(/format description length 0/));
  });

  it('the check never needs more than PLOT_HEADER_MAX_CHECK bytes', () => {
    const longest = v1(32, 'x'.repeat(64));
    assert.equal(checkPlotHeader(longest.subarray(0, PLOT_HEADER_MAX_CHECK), 1e9).format, 'v1');
  });

  it('writeSamplePlot makes files the check takes', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pf-ph-')), 's.plot');
    try {
      writeSamplePlot(f, 4096, 25);
      assert.equal(checkPlotHeader(fs.readFileSync(f), 4096).k, 25);
    } finally {
      fs.rmSync(path.dirname(f), { recursive: true });
    }
  });
});
