/**
 * wire/plot-header.ts against headers written field by field (demo/sample.ts sampleHeader), and
 * against single bytes changed: every field the parser reads is at the offset the layout says.
 */
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { sampleHeader, writeSamplePlot } from '../../src/demo/sample.js';
import { checkPlotHeader, PLOT_HEADER_MAX_CHECK, PLOT_HEADER_MIN } from '../../src/wire/plot-header.js';

const notAPlot = (re: RegExp) => (e: unknown) =>
  e instanceof PlotferryError && e.code === 'PF_NOT_A_PLOT' && re.test(e.message);
const id = (b: number) => Buffer.alloc(32, b);

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

describe('plot header', () => {
  it('PoS1 chiapos v1: k at byte 51, id at 19-50, no compression', () => {
    assert.deepEqual(checkPlotHeader(sampleHeader('chiapos-v1', { k: 32, id: id(0xab) }), 100e9), {
      pos: 1,
      format: 'chiapos-v1',
      k: 32,
      id: 'ab'.repeat(32),
      compression: 0,
    });
  });

  it('PoS1 BladeBit v2: "PLOT", u32 version 2, id at 8, k at 40, flags after the memo, then the level', () => {
    const plain = sampleHeader('bladebit-v2', { k: 33, id: id(0xcd) });
    assert.deepEqual(checkPlotHeader(plain, 80e9), {
      pos: 1,
      format: 'bladebit-v2',
      k: 33,
      id: 'cd'.repeat(32),
      compression: 0,
    });
    const c7 = sampleHeader('bladebit-v2', { k: 32, id: id(0xcd), compression: 7 });
    assert.equal(checkPlotHeader(c7, 80e9).compression, 7);
    assert.equal(c7.readUInt32LE(4), 2);
    assert.equal(c7[43 + 128 + 4], 7, 'the level follows the u32 flags');
    const v3 = Buffer.from(plain);
    v3.writeUInt32LE(3, 4);
    assert.throws(() => checkPlotHeader(v3, 1e9), notAPlot(/version 3/));
    // Compressed, but the file ends before the level.
    assert.throws(() => checkPlotHeader(c7.subarray(0, c7.length - 1), 1e9), notAPlot(/compression level/));
  });

  it('PoS2 single plot: "pos2", u8 version 1, id 5-36, k 37, strength 38, index u16 LE 39, meta-group 41', () => {
    const memo = Buffer.alloc(128, 0x6d);
    const h = sampleHeader('pos2-v1', { k: 28, id: id(0x11), strength: 3, plotIndex: 0x0102, metaGroup: 9, memo });
    // The group key, computed here from the bytes the header must carry (memo length at 42,
    // memo from 43), not by the code under test.
    const key = createHash('sha256')
      .update('plotferry-pos2-group')
      .update(Buffer.of(3))
      .update(memo)
      .digest('hex')
      .slice(0, 32);
    assert.equal(h[42], 128);
    assert.deepEqual(checkPlotHeader(h, 0.92 * 2 ** 30), {
      pos: 2,
      format: 'pos2-v1',
      k: 28,
      id: '11'.repeat(32),
      strength: 3,
      plotIndex: 0x0102,
      metaGroup: 9,
      groupKey: key,
    });
    assert.equal(h[39], 0x02, 'the index is little-endian');
    const v2 = Buffer.from(h);
    v2[4] = 2;
    assert.throws(() => checkPlotHeader(v2, 1e9), notAPlot(/"pos2" plot version 2/));
    const k60 = Buffer.from(h);
    k60[37] = 60;
    assert.throws(() => checkPlotHeader(k60, 1e9), notAPlot(/k 60/));
  });

  it('PoS2 single plots of one group share a key (same strength and memo); any other memo or strength is another group', () => {
    const memo = Buffer.alloc(128, 0x42);
    const key = (o: Parameters<typeof sampleHeader>[1]) => checkPlotHeader(sampleHeader('pos2-v1', o), 1e9).groupKey;
    const g = key({ memo, strength: 2, plotIndex: 0 });
    assert.match(g!, /^[0-9a-f]{32}$/);
    // Another index and plot id, the same group.
    assert.equal(key({ memo, strength: 2, plotIndex: 7, id: id(0x99) }), g);
    const other = Buffer.from(memo);
    other[127] = other[127]! ^ 1; // one bit of the master key
    assert.notEqual(key({ memo: other, strength: 2 }), g);
    assert.notEqual(key({ memo, strength: 3 }), g);
    // Chia makes a fresh master key per plot: random memos, each plot a group of its own.
    assert.notEqual(key({}), key({}));
    // A memo longer than the bytes there: the file ends inside it.
    const h = sampleHeader('pos2-v1', { memo });
    h[42] = 255;
    assert.throws(() => checkPlotHeader(h, 1e9), notAPlot(/ends inside the memo/));
    // No memo: no group to tell.
    const bare = sampleHeader('pos2-v1', { memo: Buffer.alloc(0) });
    assert.equal(checkPlotHeader(bare, 1e9).groupKey, undefined);
  });

  it('PoS2 group file: "PoS2", u8 version 2, group id, k, strength, group size u16 LE, meta-group', () => {
    const h = sampleHeader('pos2-group', { k: 28, id: id(0x22), strength: 2, groupSize: 128, metaGroup: 4 });
    assert.deepEqual(checkPlotHeader(h, 120e9), {
      pos: 2,
      format: 'pos2-group',
      k: 28,
      id: '22'.repeat(32),
      strength: 2,
      groupSize: 128,
      metaGroup: 4,
      groupKey: '22'.repeat(16),
    });
    const empty = Buffer.from(h);
    empty.writeUInt16LE(0, 39);
    assert.throws(() => checkPlotHeader(empty, 1e9), notAPlot(/0 plots/));
    const v1g = Buffer.from(h);
    v1g[4] = 1;
    assert.throws(() => checkPlotHeader(v1g, 1e9), notAPlot(/group file version 1/));
  });

  it('refuses other files, out-of-range fields and truncated headers', () => {
    assert.throws(
      () => checkPlotHeader(Buffer.from('PK\x03\x04 a zip file, not a plot........................'), 1e6),
      notAPlot(/does not start like any plot layout/),
    );
    assert.throws(() => checkPlotHeader(v1(5), 1e9), notAPlot(/k 5 is outside/));
    assert.throws(() => checkPlotHeader(v1(32, 'v\x001.0'), 1e9), notAPlot(/not text/));
    assert.throws(() => checkPlotHeader(v1().subarray(0, 40), 40), notAPlot(/shorter than any plot header/));
    assert.throws(() => checkPlotHeader(v1().subarray(0, 56), 56), notAPlot(/ends inside the format description/));
    const zeroFd = v1();
    zeroFd.writeUInt16BE(0, 52);
    assert.throws(() => checkPlotHeader(zeroFd, 1e9), notAPlot(/format description length 0/));
    assert.throws(
      () => checkPlotHeader(sampleHeader('pos2-v1').subarray(0, 30), 1e9),
      notAPlot(/ends inside the header/),
    );
  });

  it('no layout needs more than PLOT_HEADER_MAX_CHECK bytes, and none is shorter than PLOT_HEADER_MIN', () => {
    const longest = v1(32, 'x'.repeat(64));
    assert.equal(checkPlotHeader(longest.subarray(0, PLOT_HEADER_MAX_CHECK), 1e9).format, 'chiapos-v1');
    const bb = sampleHeader('bladebit-v2', { compression: 5 });
    assert.equal(checkPlotHeader(bb.subarray(0, PLOT_HEADER_MAX_CHECK), 1e9).compression, 5);
    for (const l of ['chiapos-v1', 'bladebit-v2', 'pos2-v1', 'pos2-group'] as const)
      assert.ok(sampleHeader(l).length >= PLOT_HEADER_MIN, l);
  });

  it('writeSamplePlot makes files the check takes, of each layout', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-ph-'));
    try {
      writeSamplePlot(path.join(d, 's.plot'), 4096, 25);
      assert.equal(checkPlotHeader(fs.readFileSync(path.join(d, 's.plot')), 4096).k, 25);
      writeSamplePlot(path.join(d, 's.plot2'), 4096, undefined, 'pos2-v1');
      assert.equal(checkPlotHeader(fs.readFileSync(path.join(d, 's.plot2')), 4096).pos, 2);
    } finally {
      fs.rmSync(d, { recursive: true });
    }
  });
});
