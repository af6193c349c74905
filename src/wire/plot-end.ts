/**
 * Whether a plot file is whole, from what its header says about where its data ends. Pure code:
 * the caller reads the bytes this asks for (storage/plot-file.ts does it for a file).
 *
 * A plot written in place (or cut short by a full disk, a crash, a copy that broke) has a valid
 * header long before it is finished; moving it then and deleting its source loses the plot.
 * Age and size stability only guess; the header knows:
 * - PoS1, chiapos v1 (chiapos `DiskPlotter`): ten table pointers (u64 big-endian) follow the memo.
 *   chiapos writes them as zeros first and fills them in when the tables are written, so the plot
 *   is whole only when every table starts inside the file, the last one (C3) included. (C3's own
 *   length is not in the header: a file cut inside C3 passes; chiapos then renames a finished
 *   plot into place, so a final name holds a cut C3 only after a broken copy.)
 * - PoS2, `pos2` v1 (pos2-chip `src/plot/PlotFile.hpp`, little-endian): a chunk count (u64) and
 *   absolute chunk offsets (u64 each) follow the memo, and each chunk is a length (u64) followed
 *   by that many bytes. The plot ends where its last chunk ends, and that is exactly its size.
 * - BladeBit v2 and PoS2 group files: their layouts past the fixed fields are not confirmed from
 *   source here, so their end is unknown; the caller judges them by size stability and age.
 *
 * Checked against the reference plots in ../shared/fixtures/real-plots (test/unit/plot-end.test.ts).
 */
import { checkPlotHeader, PlotHeaderInfo } from './plot-header.js';

/** A verdict on a file with a plot header. */
export type PlotVerdict =
  /** Whole, as far as its header can tell. */
  | { kind: 'complete'; header: PlotHeaderInfo }
  /** Not finished, or cut short: its header describes more than the file holds. */
  | { kind: 'incomplete'; header: PlotHeaderInfo; why: string }
  /** The header describes another file than this one (a plot with bytes appended, or a table out of order). */
  | { kind: 'mismatch'; header: PlotHeaderInfo; why: string }
  /** A layout whose end this code does not know. */
  | { kind: 'unknown'; header: PlotHeaderInfo; why: string };

/** What the first bytes say (`head`: the file's first bytes, `size`: its length): a verdict, or what to read next. */
export type PlotEnd =
  | PlotVerdict
  /** Read the file's first `length` bytes (a longer head) and call plotEnd again with them. */
  | { kind: 'read-head'; header: PlotHeaderInfo; length: number }
  /** PoS2: read the u64 at `at` (its last chunk's length) and pass it to lastChunkEnd(). */
  | { kind: 'read-last-chunk'; header: PlotHeaderInfo; at: number };

/** More chunks than a k 50 plot could have are not a chunk table (bounds the head read). */
const MAX_CHUNKS = 1 << 24;

/**
 * Where `head` (the first bytes of a file of `size` bytes) says the plot ends. Throws
 * PF_NOT_A_PLOT when `head` does not start like a plot (wire/plot-header.ts).
 */
export function plotEnd(head: Buffer, size: number): PlotEnd {
  const header = checkPlotHeader(head, size);
  switch (header.format) {
    case 'chiapos-v1':
      return chiaposEnd(head, size, header);
    case 'pos2-v1':
      return pos2End(head, size, header);
    case 'bladebit-v2':
      return { kind: 'unknown', header, why: "BladeBit v2's table layout is not checked here" };
    case 'pos2-group':
      return { kind: 'unknown', header, why: 'the layout of PoS2 group files is not confirmed yet' };
  }
}

function chiaposEnd(head: Buffer, size: number, header: PlotHeaderInfo): PlotEnd {
  const memoLenAt = 54 + head.readUInt16BE(52);
  const tables = memoLenAt + 2 + head.readUInt16BE(memoLenAt);
  const tablesEnd = tables + 10 * 8;
  if (size < tablesEnd) return { kind: 'incomplete', header, why: `it ends (${size} bytes) inside its table pointers` };
  if (head.length < tablesEnd) return { kind: 'read-head', header, length: tablesEnd };
  for (let i = 0; i < 10; i++) {
    const at = head.readBigUInt64BE(tables + 8 * i);
    if (at === 0n) return { kind: 'incomplete', header, why: `table ${i + 1}'s pointer is not written yet` };
    if (at < BigInt(tablesEnd))
      return { kind: 'mismatch', header, why: `table ${i + 1} would start at byte ${at}, inside the header` };
    if (at >= BigInt(size))
      return {
        kind: 'incomplete',
        header,
        why: `table ${i + 1} starts at byte ${at}, and the file has only ${size} bytes`,
      };
  }
  return { kind: 'complete', header };
}

function pos2End(head: Buffer, size: number, header: PlotHeaderInfo): PlotEnd {
  const countAt = 43 + head[42]!;
  if (size < countAt + 8) return { kind: 'incomplete', header, why: `it ends (${size} bytes) before its chunk table` };
  if (head.length < countAt + 8) return { kind: 'read-head', header, length: countAt + 8 };
  const count = head.readBigUInt64LE(countAt);
  if (count === 0n) return { kind: 'incomplete', header, why: 'its chunk table is empty (not written yet)' };
  if (count > BigInt(MAX_CHUNKS)) return { kind: 'mismatch', header, why: `a chunk count of ${count}` };
  const n = Number(count);
  const tableEnd = countAt + 8 + 8 * n;
  if (size < tableEnd)
    return { kind: 'incomplete', header, why: `it ends (${size} bytes) inside its table of ${n} chunks` };
  if (head.length < tableEnd) return { kind: 'read-head', header, length: tableEnd };
  let prev = BigInt(tableEnd) - 1n;
  for (let i = 0; i < n; i++) {
    const at = head.readBigUInt64LE(countAt + 8 + 8 * i);
    if (at === 0n) return { kind: 'incomplete', header, why: `chunk ${i + 1}'s offset is not written yet` };
    if (at <= prev)
      return { kind: 'mismatch', header, why: `chunk ${i + 1} starts at byte ${at}, not after the one before it` };
    prev = at;
  }
  // Offsets increase, so the last chunk ends the plot.
  if (prev + 8n > BigInt(size))
    return {
      kind: 'incomplete',
      header,
      why: `its last chunk starts at byte ${prev}, and the file has only ${size} bytes`,
    };
  return { kind: 'read-last-chunk', header, at: Number(prev) };
}

/** PoS2 v1: whether the last chunk, at `at` with the length `lengthField` (its u64), ends the file. */
export function lastChunkEnd(header: PlotHeaderInfo, at: number, lengthField: Buffer, size: number): PlotVerdict {
  if (lengthField.length < 8) return { kind: 'incomplete', header, why: `it ends inside its last chunk's length` };
  const end = BigInt(at) + 8n + lengthField.readBigUInt64LE(0);
  if (end > BigInt(size))
    return {
      kind: 'incomplete',
      header,
      why: `its last chunk ends at byte ${end}, and the file has only ${size} bytes`,
    };
  if (end < BigInt(size))
    return { kind: 'mismatch', header, why: `its chunks end at byte ${end}, and the file has ${size} bytes` };
  return { kind: 'complete', header };
}

/** The bytes a first look reads: every fixed header, and chunk tables of up to ~8,000 chunks. */
export const PLOT_END_FIRST_READ = 64 * 1024;
