/** Sample "plots" of random bytes, for the demo, the tests and the bench. */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import { encodeGroupIndex, groupChunkCount, groupIndexMinBytes } from '../wire/group-index.js';

/** Writes `size` random bytes to `file` (random, so nothing along the way can shortcut them). */
export function writeRandomFile(file: string, size: number): void {
  const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 4 * 1024 * 1024));
  const fd = fs.openSync(file, 'w');
  try {
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = Math.min(buf.length, size - pos);
      randomFillSync(buf, 0, n);
      fs.writeSync(fd, buf, 0, n, pos);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The header layouts sample plots can have (wire/plot-header.ts reads them). */
export type SampleLayout = 'chiapos-v1' | 'bladebit-v2' | 'pos2-v1' | 'pos2-group';

export interface SampleHeader {
  k?: number;
  /** 32 bytes of id; random when absent. */
  id?: Buffer;
  /** BladeBit: compression level (0: uncompressed, flags 0). */
  compression?: number;
  strength?: number;
  metaGroup?: number;
  plotIndex?: number;
  groupSize?: number;
  /** A group file's chunk-index offset (writeSamplePlot sets it to fit the file). */
  chunkIndexAt?: number;
  /**
   * The memo (pool key, farmer key, master secret key: 128 bytes). Random when absent, as chia
   * makes a fresh master key for every plot: every sample plot is then a group of its own.
   * The plots of one group share it.
   */
  memo?: Buffer;
}

/** The first bytes of a plot of `layout`, written field by field (with a 128-byte memo). */
export function sampleHeader(layout: SampleLayout, o: SampleHeader = {}): Buffer {
  const id = o.id ?? randomFillSync(Buffer.alloc(32));
  const k = o.k ?? (layout.startsWith('pos2') ? 28 : 32);
  const memo = o.memo ?? randomFillSync(Buffer.alloc(128));
  switch (layout) {
    case 'chiapos-v1': {
      const b = Buffer.alloc(19 + 32 + 1 + 2 + 4 + 2 + memo.length);
      b.write('Proof of Space Plot', 0, 'latin1');
      id.copy(b, 19);
      b[51] = k;
      b.writeUInt16BE(4, 52);
      b.write('v1.0', 54, 'latin1');
      b.writeUInt16BE(memo.length, 58);
      memo.copy(b, 60);
      return b;
    }
    case 'bladebit-v2': {
      const level = o.compression ?? 0;
      const b = Buffer.alloc(4 + 4 + 32 + 1 + 2 + memo.length + 4 + (level > 0 ? 1 : 0));
      b.write('PLOT', 0, 'latin1');
      b.writeUInt32LE(2, 4);
      id.copy(b, 8);
      b[40] = k;
      b.writeUInt16BE(memo.length, 41);
      memo.copy(b, 43);
      b.writeUInt32LE(level > 0 ? 1 : 0, 43 + memo.length);
      if (level > 0) b[43 + memo.length + 4] = level;
      return b;
    }
    case 'pos2-v1': {
      const b = Buffer.alloc(4 + 1 + 32 + 1 + 1 + 2 + 1 + 1 + memo.length);
      b.write('pos2', 0, 'latin1');
      b[4] = 1;
      id.copy(b, 5);
      b[37] = k;
      b[38] = o.strength ?? 2;
      b.writeUInt16LE(o.plotIndex ?? 0, 39);
      b[41] = o.metaGroup ?? 0;
      b[42] = memo.length;
      memo.copy(b, 43);
      return b;
    }
    case 'pos2-group': {
      const b = Buffer.alloc(4 + 1 + 32 + 1 + 1 + 2 + 1 + 8 + 1 + memo.length);
      b.write('PoS2', 0, 'latin1');
      b[4] = 2;
      id.copy(b, 5);
      b[37] = k;
      b[38] = o.strength ?? 2;
      b.writeUInt16LE(o.groupSize ?? 128, 39);
      b[41] = o.metaGroup ?? 0;
      b.writeBigUInt64LE(BigInt(o.chunkIndexAt ?? 4096), 42);
      b[50] = memo.length;
      memo.copy(b, 51);
      return b;
    }
  }
}

/**
 * What follows a header so that the plot is whole as its header tells (wire/plot-end.ts), for a
 * file of `size` bytes whose header is `headLen` bytes; empty when `size` is too small for it.
 * - chiapos v1: ten table pointers (u64 big-endian), the tables spread over the rest, with a
 *   checkpoint table C1 of one entry, so C3 (no parks then) ends anywhere in the file;
 * - pos2 v1: one chunk (a count of 1, its offset, and its u64 length) that runs to the end.
 */
export function sampleTables(layout: SampleLayout, headLen: number, size: number, k = 32): Buffer {
  switch (layout) {
    case 'chiapos-v1': {
      const start = headLen + 80;
      const entry = Math.ceil(k / 8);
      if (size <= start + 10 * entry) return Buffer.alloc(0);
      const b = Buffer.alloc(80);
      const at = (i: number) => start + Math.floor((i * (size - start - 2 * entry)) / 8);
      for (let i = 0; i < 8; i++) b.writeBigUInt64BE(BigInt(at(i)), 8 * i);
      b.writeBigUInt64BE(BigInt(at(7) + entry), 64); // C2: after C1's one entry
      b.writeBigUInt64BE(BigInt(at(7) + 2 * entry), 72); // C3
      return b;
    }
    case 'pos2-v1': {
      const chunk = headLen + 16;
      if (size < chunk + 8) return Buffer.alloc(0);
      const b = Buffer.alloc(24);
      b.writeBigUInt64LE(1n, 0);
      b.writeBigUInt64LE(BigInt(chunk), 8);
      b.writeBigUInt64LE(BigInt(size - chunk - 8), 16);
      return b;
    }
    default:
      return Buffer.alloc(0); // layouts whose end is not checked (wire/plot-end.ts)
  }
}

/**
 * Random bytes behind a Chia plot header (by default chiapos v1: "Proof of Space Plot", a random
 * id, k, "v1.0", a 128-byte memo) and its table pointers or chunk table, so that it is a whole
 * plot as far as its header tells: a sweep sends it, a receiver with --verify-plot-header takes
 * it, and a replotting harvester can tell a PoS1 sample from a PoS2 one. Not a farmable plot.
 */
export function writeSamplePlot(
  file: string,
  size: number,
  k?: number,
  layout: SampleLayout = 'chiapos-v1',
  o: SampleHeader = {},
): void {
  writeRandomFile(file, size);
  const header = sampleHeader(layout, { ...o, ...(k !== undefined ? { k } : {}) });
  const index = layout === 'pos2-group' ? sampleGroupIndex(header, size) : undefined;
  const head = Buffer.concat([
    header,
    sampleTables(layout, header.length, size, header[layout === 'chiapos-v1' ? 51 : 37]),
  ]);
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, head, 0, Math.min(head.length, size), 0);
    if (index) fs.writeSync(fd, index, 0, index.length, size - index.length);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A group file's chunk index (wire/group-index.ts) for a file of `size` bytes, with the offset
 * written into `header`: chunks of about equal size fill what the header and index leave. When
 * `size` cannot hold 2^(k - 6) chunks and their index, the offset stays 0 (a file not finished).
 */
export function sampleGroupIndex(header: Buffer, size: number): Buffer | undefined {
  const count = groupChunkCount(header[37]!);
  const g = header.readUInt16LE(39);
  let indexLen = groupIndexMinBytes(header[37]!, g);
  for (let round = 0; round < 8; round++) {
    const chunkBytes = size - header.length - indexLen;
    if (chunkBytes < count) break;
    const each = Math.floor(chunkBytes / count);
    const extra = chunkBytes - each * count;
    const sizes = Array.from({ length: count }, (_, i) => each + (i < extra ? 1 : 0));
    const index = encodeGroupIndex(sizes, g);
    if (index.length === indexLen) {
      header.writeBigUInt64LE(BigInt(size - indexLen), 42);
      return index;
    }
    indexLen = index.length;
  }
  header.writeBigUInt64LE(0n, 42);
  return undefined;
}

/**
 * A PoS2 sample with no memo has no plot group: placed by free space alone. The bench's plots
 * use it, so that their placement is what it was with plain random files.
 */
export const NO_GROUP: SampleHeader = { memo: Buffer.alloc(0) };
