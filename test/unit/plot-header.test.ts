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
import {
  checkPlotHeader,
  groupOf,
  metaGroupRuleApplies,
  PLOT_HEADER_MAX_CHECK,
  PLOT_HEADER_MIN,
  pos2MaxStrength,
} from '../../src/wire/plot-header.js';
import { realPlots } from '../helpers/real-plots.js';

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
      chunkIndexAt: 4096,
      chunksAt: 51 + 128,
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

  it('PoS2 bounds from pos2-chip: k even in 18-32, strength 2 to k - section bits - 1 (below 64)', () => {
    assert.equal(pos2MaxStrength(18), 15);
    assert.equal(pos2MaxStrength(28), 25);
    assert.equal(pos2MaxStrength(32), 25);
    for (const layout of ['pos2-v1', 'pos2-group'] as const) {
      const ok = (o: { k?: number; strength?: number }) => checkPlotHeader(sampleHeader(layout, o), 1e9);
      assert.equal(ok({ k: 18, strength: 2 }).k, 18, layout);
      assert.equal(ok({ k: 32, strength: 25 }).strength, 25, layout);
      for (const k of [16, 19, 27, 34, 50])
        assert.throws(
          () => ok({ k }),
          notAPlot(new RegExp(`PoS2 k ${k} is not an even number in 18-32`)),
          `${layout} k ${k}`,
        );
      for (const [k, strength] of [
        [28, 0],
        [28, 1],
        [28, 26],
        [18, 16],
        [32, 63],
      ])
        assert.throws(
          () => ok({ k, strength }),
          notAPlot(new RegExp(`PoS2 strength ${strength} is outside 2-`)),
          `${layout} k ${k} strength ${strength}`,
        );
    }
  });

  it('a group file: its memo must be there; the chunk index offset is read as written (0: not yet)', () => {
    const h = sampleHeader('pos2-group', { k: 28, memo: Buffer.alloc(112) });
    assert.throws(() => checkPlotHeader(h.subarray(0, 51 + 100), 1e9), notAPlot(/ends inside the memo/));
    h.writeBigUInt64LE(0n, 42);
    assert.equal(checkPlotHeader(h, 1e9).chunkIndexAt, 0);
    h.writeBigUInt64LE(5n * 2n ** 32n, 42);
    assert.equal(checkPlotHeader(h, 1e9).chunkIndexAt, 5 * 2 ** 32, 'an offset past 4 GiB');
  });

  it("groupOf: chia's default plots (index 0, meta-group 0) are groups of one, and skip the meta-group rule", () => {
    const g = (layout: 'pos2-v1' | 'pos2-group', o: Parameters<typeof sampleHeader>[1]) =>
      groupOf(checkPlotHeader(sampleHeader(layout, o), 1e9))!;
    assert.equal(g('pos2-v1', { plotIndex: 0, metaGroup: 0 }).single, true);
    assert.equal(metaGroupRuleApplies(g('pos2-v1', { plotIndex: 0, metaGroup: 0 })), false);
    assert.equal(g('pos2-v1', { plotIndex: 3, metaGroup: 0 }).single, undefined, 'a member of a larger group');
    assert.equal(metaGroupRuleApplies(g('pos2-v1', { plotIndex: 3, metaGroup: 0 })), true);
    assert.equal(metaGroupRuleApplies(g('pos2-v1', { plotIndex: 0, metaGroup: 5 })), true, 'a meta-group chosen');
    assert.equal(metaGroupRuleApplies(g('pos2-group', { groupSize: 1, metaGroup: 0 })), false);
    assert.equal(metaGroupRuleApplies(g('pos2-group', { groupSize: 128, metaGroup: 0 })), true);
  });
});

/**
 * The README's table of the reference plots, row by row: file, kind, k, strength, index,
 * meta-group, bytes, sha256 (a prefix).
 */
function readmeTable(dir: string): Map<string, string[]> {
  const rows = fs
    .readFileSync(path.join(dir, 'README.md'), 'utf8')
    .split('\n')
    .filter((l) => /^\| plot-/.test(l))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  return new Map(rows.map((r) => [r[0]!, r]));
}

describe("plot header: the reference plots written by Chia's own plotters", () => {
  const real = realPlots();
  it('every fixture parses to the fields its README gives', { skip: real.skip }, () => {
    const table = readmeTable(path.dirname(real.plots[0]!.file));
    assert.equal(table.size, real.plots.length, 'one README row per fixture');
    const keys = new Set<string>();
    for (const p of real.plots) {
      const row = table.get(p.name);
      assert.ok(row, `${p.name} is in the README table`);
      const [, kind, k, strength, index, meta, bytes, sha] = row;
      const data = fs.readFileSync(p.file);
      const h = checkPlotHeader(data.subarray(0, PLOT_HEADER_MAX_CHECK), data.length);
      assert.equal(String(data.length), bytes, p.name);
      assert.ok(createHash('sha256').update(data).digest('hex').startsWith(sha!.replace('…', '')), p.name);
      assert.equal(String(h.k), k, p.name);
      assert.equal(h.pos, kind!.startsWith('PoS1') ? 1 : 2, p.name);
      assert.equal(h.format, kind!.startsWith('PoS1') ? 'chiapos-v1' : 'pos2-v1', p.name);
      if (h.pos === 2) {
        assert.equal(String(h.strength), strength, p.name);
        assert.equal(String(h.plotIndex), index, p.name);
        assert.equal(String(h.metaGroup), meta, p.name);
        // The plot id is in the name chia-blockchain gives a PoS2 plot.
        assert.ok(p.name.includes(h.id), p.name);
        keys.add(`${h.strength}:${h.groupKey}`);
      } else {
        assert.ok(p.name.endsWith(`-${h.id}.plot`), p.name);
      }
    }
    // pos2-chip's test plotter writes one zero memo for all: one group per strength.
    assert.equal(new Set([...keys].map((k) => k.split(':')[1])).size, 2, 'strength 2 and strength 3');
  });
});
