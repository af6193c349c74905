/**
 * wire/plot-end.ts and storage/plot-file.ts: whether a plot is whole, against the plots Chia's own
 * plotters wrote (../shared/fixtures/real-plots), whole and cut at many offsets, and against
 * sample plots (demo/sample.ts) whose tables are changed one field at a time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sampleHeader, sampleTables, writeSamplePlot } from '../../src/demo/sample.js';
import { checkPlotFd, checkPlotFile, readiness } from '../../src/storage/plot-file.js';
import {
  decodeGroupIndex,
  encodeGroupIndex,
  groupChunkCount,
  groupExpectedChunk,
  groupIndexMinBytes,
  groupRiceBits,
} from '../../src/wire/group-index.js';
import { GROUP_INDEX_MAX_READ, lastChunkEnd, plotEnd } from '../../src/wire/plot-end.js';
import { realPlots } from '../helpers/real-plots.js';

const real = realPlots();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-plot-end-'));

/** The first `n` bytes of `file` written to a file of their own (a plot cut short at `n`). */
function cut(file: string, n: number): string {
  const out = path.join(tmp, `${path.basename(file)}.cut${n}`);
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(n);
  fs.readSync(fd, buf, 0, n, 0);
  fs.closeSync(fd);
  fs.writeFileSync(out, buf);
  return out;
}

describe('plot end: reference plots', { skip: real.skip }, () => {
  it('every reference plot is whole', async () => {
    for (const p of real.plots) {
      const c = await checkPlotFile(p.file);
      assert.equal(c.kind, 'complete', `${p.name}: ${'why' in c ? c.why : ''}`);
      assert.equal(c.kind === 'complete' && c.header.pos, p.pos);
    }
  });

  it('every reference plot cut short is not whole, wherever it is cut past its header', async () => {
    for (const p of real.plots) {
      // Inside the tables, just before the last table or chunk, and one byte short.
      const cuts = [300, 4096, Math.floor(p.size / 3), Math.floor((p.size * 9) / 10), p.size - 8, p.size - 1];
      for (const n of cuts) {
        const c = await checkPlotFile(cut(p.file, n));
        // chiapos too inside its last table (C3), whose end follows from C1 (wire/plot-end.ts).
        assert.equal(c.kind, 'incomplete', `${p.name} cut at ${n}: ${c.kind}`);
      }
    }
  });

  it('a reference plot with bytes appended does not fit its header (PoS2)', async () => {
    const p = real.plots.find((x) => x.pos === 2)!;
    const longer = path.join(tmp, 'longer.plot2');
    fs.writeFileSync(longer, Buffer.concat([fs.readFileSync(p.file), Buffer.alloc(10)]));
    assert.equal((await checkPlotFile(longer)).kind, 'mismatch');
  });

  it('a PoS1 plot whose table pointers are not written yet (zeros, as chiapos writes them first) is not whole', async () => {
    const p = real.plots.find((x) => x.pos === 1)!;
    const b = fs.readFileSync(p.file);
    const fdLen = b.readUInt16BE(52);
    const tables = 54 + fdLen + 2 + b.readUInt16BE(54 + fdLen);
    b.fill(0, tables, tables + 80);
    const f = path.join(tmp, 'zeros.plot');
    fs.writeFileSync(f, b);
    const c = await checkPlotFile(f);
    assert.equal(c.kind, 'incomplete');
    assert.match('why' in c ? c.why : '', /not written yet/);
  });
});

describe('plot end: rules', () => {
  it('sample plots are whole (the tests and the demo send them)', async () => {
    for (const [layout, size] of [
      ['chiapos-v1', 4096],
      ['pos2-v1', 500],
      ['pos2-v1', 3 * 1024 * 1024],
    ] as const) {
      const f = path.join(tmp, `s-${layout}-${size}`);
      writeSamplePlot(f, size, undefined, layout);
      assert.equal((await checkPlotFile(f)).kind, 'complete', `${layout} ${size}`);
    }
  });

  it('a chunk table longer than the first read is read whole (a k32-sized table)', async () => {
    const head = sampleHeader('pos2-v1');
    const n = 20_000; // 160,000 bytes of offsets: more than the 64 KiB first read
    const table = Buffer.alloc(8 + 8 * n);
    table.writeBigUInt64LE(BigInt(n), 0);
    const first = head.length + table.length;
    for (let i = 0; i < n; i++) table.writeBigUInt64LE(BigInt(first + 16 * i), 8 + 8 * i);
    const size = first + 16 * n;
    const body = Buffer.alloc(16 * n);
    for (let i = 0; i < n; i++) body.writeBigUInt64LE(8n, 16 * i); // each chunk: 8 bytes after its length
    const f = path.join(tmp, 'big-table.plot2');
    fs.writeFileSync(f, Buffer.concat([head, table, body]));
    assert.equal((await checkPlotFile(f)).kind, 'complete');
    fs.truncateSync(f, size - 1);
    assert.equal((await checkPlotFile(f)).kind, 'incomplete');
  });

  it('PoS2: each field of the chunk table decides', () => {
    const head = sampleHeader('pos2-v1');
    const size = 1000;
    const whole = Buffer.concat([head, sampleTables('pos2-v1', head.length, size)]);
    const at = head.length + 16;
    const r = plotEnd(whole, size);
    assert.deepEqual(r.kind === 'read-last-chunk' && r.at, at);
    const len = whole.subarray(at, at + 8);
    assert.equal(lastChunkEnd(r.kind === 'read-last-chunk' ? r.header : ({} as never), at, len, size).kind, 'complete');
    const edit = (off: number, v: bigint) => {
      const b = Buffer.from(whole);
      b.writeBigUInt64LE(v, off);
      return plotEnd(b, size);
    };
    assert.equal(edit(head.length, 0n).kind, 'incomplete', 'no chunks yet');
    assert.equal(edit(head.length, 1n << 30n).kind, 'mismatch', 'an absurd count');
    assert.equal(edit(head.length + 8, 0n).kind, 'incomplete', 'an offset not written yet');
    assert.equal(edit(head.length + 8, BigInt(size)).kind, 'incomplete', 'a chunk past the end');
    assert.equal(edit(head.length + 8, 10n).kind, 'mismatch', 'a chunk inside the table');
    const hdr = r.kind === 'read-last-chunk' ? r.header : ({} as never);
    const field = (v: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(v);
      return b;
    };
    assert.equal(lastChunkEnd(hdr, at, field(BigInt(size - at - 8 + 1)), size).kind, 'incomplete');
    assert.equal(lastChunkEnd(hdr, at, field(BigInt(size - at - 8 - 1)), size).kind, 'mismatch');
    assert.equal(lastChunkEnd(hdr, at, Buffer.alloc(3), size).kind, 'incomplete', 'cut inside the length');
  });

  it('chiapos: every table must start inside the file', () => {
    const head = sampleHeader('chiapos-v1');
    const size = 4096;
    const whole = Buffer.concat([head, sampleTables('chiapos-v1', head.length, size)]);
    assert.equal(plotEnd(whole, size).kind, 'complete');
    assert.equal(plotEnd(whole.subarray(0, head.length + 40), size).kind, 'read-head');
    for (let i = 0; i < 10; i++) {
      const b = Buffer.from(whole);
      b.writeBigUInt64BE(BigInt(size), head.length + 8 * i);
      assert.equal(plotEnd(b, size).kind, 'incomplete', `table ${i + 1} at the end`);
      b.writeBigUInt64BE(0n, head.length + 8 * i);
      assert.equal(plotEnd(b, size).kind, 'incomplete', `table ${i + 1} not written`);
    }
    assert.equal(plotEnd(whole, head.length + 79).kind, 'incomplete', 'cut inside the pointers');
  });

  it('a layout whose end is not known goes by age; no header at all is not a plot', async () => {
    const bb = path.join(tmp, 'bb.plot');
    writeSamplePlot(bb, 4096, 32, 'bladebit-v2');
    assert.equal((await checkPlotFile(bb)).kind, 'unknown');
    for (const [n, data] of [
      ['empty', Buffer.alloc(0)],
      ['ten', Buffer.alloc(10, 1)],
      ['random', Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) & 0xff))],
    ] as const) {
      const f = path.join(tmp, `${n}.plot`);
      fs.writeFileSync(f, data);
      const fd = fs.openSync(f, 'r');
      try {
        assert.equal((await checkPlotFd(fd, data.length)).kind, 'not-a-plot', n);
      } finally {
        fs.closeSync(fd);
      }
    }
  });

  it("the plotter's rule: never an unwhole plot; a file that is not a plot only with --any-file", () => {
    const header = { pos: 2, format: 'pos2-v1', k: 28, id: '' } as const;
    assert.equal(readiness('f', { kind: 'complete', header }, false).send, true);
    for (const any of [false, true]) {
      const r = readiness('f', { kind: 'incomplete', header, why: 'w' }, any);
      assert.equal(!r.send && r.error.code, 'PF_INCOMPLETE', `any-file ${any}`);
    }
    const np = readiness('f', { kind: 'not-a-plot', why: 'w' }, false);
    assert.equal(!np.send && np.error.code, 'PF_NOT_A_PLOT');
    assert.equal(readiness('f', { kind: 'not-a-plot', why: 'w' }, true).send, true);
    for (const any of [false, true]) {
      const mm = readiness('f', { kind: 'mismatch', header, why: 'w' }, any);
      assert.equal(!mm.send && mm.error.code, 'PF_NOT_A_PLOT', `a known layout gone wrong, any-file ${any}`);
    }
    const unknown = readiness('f', { kind: 'unknown', header, why: 'w' }, false);
    assert.ok(unknown.send && /min-age/.test(unknown.note ?? ''));
  });

  it('a file that starts like a plot but ends inside its header is not whole; a newer version goes by age', () => {
    for (const magic of ['pos2', 'Proof of Space', 'PoS2', 'PL']) {
      const b = Buffer.from(magic, 'latin1');
      assert.equal(plotEnd(b, b.length).kind, 'incomplete', magic);
    }
    const head = sampleHeader('pos2-v1');
    assert.equal(plotEnd(head.subarray(0, 60), 60).kind, 'incomplete', 'cut inside the memo');
    const newer = Buffer.from(head);
    newer[4] = 2;
    assert.equal(plotEnd(newer, 10_000).kind, 'unknown', 'a pos2 version this code does not know');
    const badK = Buffer.from(head);
    badK[37] = 5;
    assert.equal(plotEnd(badK, 10_000).kind, 'mismatch', 'k 5: a known layout gone wrong');
    assert.throws(() => plotEnd(Buffer.from('notaplot at all, just text here'), 31), /not a Chia plot/);
  });

  it("PoS2: a file made at full size and filled in order (its last chunk's length still zero) is not whole", async () => {
    const head = sampleHeader('pos2-v1');
    const size = 4096;
    const whole = Buffer.concat([head, sampleTables('pos2-v1', head.length, size)]);
    const f = path.join(tmp, 'prealloc.plot2');
    fs.writeFileSync(f, whole.subarray(0, head.length + 16)); // header and chunk table, no chunk yet
    fs.truncateSync(f, size);
    const c = await checkPlotFile(f);
    assert.equal(c.kind, 'incomplete');
    assert.match('why' in c ? c.why : '', /not written yet/);
  });
});

describe('plot end: PoS2 group files (*.gplot)', () => {
  it("the index code: pos2-chip's Rice parameter and expected size, and sizes round-trip", () => {
    // gsz_rice_k_for_g: round(log2(isqrt(357 g))); gsz_expected_for_g: (g x 60301) >> 8.
    assert.deepEqual(
      [1, 32, 64, 128].map((g) => [groupRiceBits(g), groupExpectedChunk(g)]),
      [
        [4, 235],
        [7, 7537],
        [7, 15075],
        [8, 30150],
      ],
    );
    assert.equal(groupChunkCount(28), 2 ** 22);
    // Sign first, then 4 low bits, then the unary: 235 + 3 is "0 1100 0" = 0b000110 in byte 0.
    assert.deepEqual([...encodeGroupIndex([238], 1)], [0b000110]);
    const sizes = [1, 235, 236, 234, 1000, 17, 700];
    const index = encodeGroupIndex(sizes, 1);
    const d = decodeGroupIndex(index, sizes.length, 1);
    assert.deepEqual(d, { kind: 'sizes', total: sizes.reduce((a, b) => a + b), bytes: index.length });
    assert.deepEqual(decodeGroupIndex(index.subarray(0, 2), sizes.length, 1).kind, 'short');
    // pos2-chip writes no code longer than 64 bits, and a reader takes none.
    assert.throws(() => encodeGroupIndex([5000], 1), RangeError);
    assert.equal(decodeGroupIndex(Buffer.alloc(16, 0xff), 1, 1).kind, 'bad');
  });

  it('a whole group file is whole; cut anywhere, or made at full size and not filled, it is not', async () => {
    const f = path.join(tmp, 'plot-k18-group.gplot');
    const size = 96 * 1024;
    writeSamplePlot(f, size, 18, 'pos2-group', { groupSize: 1 });
    const whole = await checkPlotFile(f);
    assert.equal(whole.kind, 'complete', 'why' in whole ? whole.why : '');
    const at = Number(fs.readFileSync(f).readBigUInt64LE(42));
    assert.ok(size - at >= groupIndexMinBytes(18, 1));
    for (const n of [60, 51 + 128 + 10, at - 1, at, at + 5, Math.floor((at + size) / 2), size - 1]) {
      const c = await checkPlotFile(cut(f, n));
      assert.equal(c.kind, 'incomplete', `cut at ${n}: ${'why' in c ? c.why : ''}`);
    }
    // The writer leaves the offset 0 until every chunk is written.
    const unfinished = Buffer.from(fs.readFileSync(f));
    unfinished.writeBigUInt64LE(0n, 42);
    const u = path.join(tmp, 'unfinished.gplot');
    fs.writeFileSync(u, unfinished);
    const c = await checkPlotFile(u);
    assert.equal(c.kind, 'incomplete');
    assert.match('why' in c ? c.why : '', /offset is not written yet/);
  });

  it('an index that does not fit the file is a mismatch, never sent', async () => {
    const f = path.join(tmp, 'g2.gplot');
    writeSamplePlot(f, 80 * 1024, 18, 'pos2-group', { groupSize: 2 });
    assert.equal((await checkPlotFile(f)).kind, 'complete');
    const data = fs.readFileSync(f);
    const at = Number(data.readBigUInt64LE(42));
    const appended = path.join(tmp, 'g2-appended.gplot');
    fs.writeFileSync(appended, Buffer.concat([data, Buffer.alloc(64, 0xff)]));
    assert.equal((await checkPlotFile(appended)).kind, 'mismatch', 'bytes appended');
    const moved = Buffer.from(data);
    moved.writeBigUInt64LE(BigInt(at - 8), 42);
    const m = path.join(tmp, 'g2-moved.gplot');
    fs.writeFileSync(m, moved);
    assert.equal((await checkPlotFile(m)).kind, 'mismatch', 'the sizes do not add up to the offset');
    const inside = Buffer.from(data);
    inside.writeBigUInt64LE(100n, 42);
    assert.equal(plotEnd(inside.subarray(0, 400), data.length).kind, 'mismatch', 'no room for the chunks');
  });

  it('a 120 GB group file at k 28 (offsets past 4 GiB): judged by its header, its index read at its offset', () => {
    const h = sampleHeader('pos2-group', { k: 28, groupSize: 128, chunkIndexAt: 120e9 - 6e6 });
    const end = plotEnd(h, 120e9);
    assert.equal(end.kind, 'read-index');
    assert.ok(
      end.kind === 'read-index' && end.at === 120e9 - 6e6 && end.length === 6e6 && end.length < GROUP_INDEX_MAX_READ,
    );
    assert.equal(plotEnd(h, 120e9 - 6e6).kind, 'incomplete', 'the chunks not all there yet');
    assert.equal(plotEnd(h, 120e9 - 6e6 + 1000).kind, 'incomplete', 'the index cut short');
  });
});
