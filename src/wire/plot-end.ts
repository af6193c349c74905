/**
 * Whether a plot file is whole, from what its header says about where its data ends. Pure code:
 * the caller reads the bytes this asks for (storage/plot-file.ts does it for a file).
 *
 * A plot written in place (or cut short by a full disk, a crash, a copy that broke) has a valid
 * header long before it is finished; moving it then and deleting its source loses the plot.
 * Age and size stability only guess; the header knows:
 * - PoS1, chiapos v1 (chiapos `DiskPlotter`): ten table pointers (u64 big-endian) follow the memo.
 *   chiapos writes them as zeros first and fills them in when the tables are written, so the plot
 *   is whole only when every table starts inside the file, and the last one (C3) ends inside it.
 *   C3's end is not in the header; chiapos's phase 4 (and madMAx's, the same code) makes it
 *   C3's start + (C1 entries - 1) x the C3 park size, with C1 entries of ByteAlign(k)/8 bytes
 *   between the C1 and C2 pointers (one more than the parks: a zero entry ends C1), and a park
 *   of ByteAlign(8 x 10,000)/8 bytes for k < 20, ByteAlign(2.4 x 10,000)/8 from k 20 on
 *   (`EntrySizes::CalculateC3Size`, kCheckpoint1Interval 10,000, kC3BitsPerEntry 2.4). The
 *   reference k18 plots end exactly there. A file longer than that is taken (a plotter that pads).
 * - PoS2, `pos2` v1 (pos2-chip `src/plot/PlotFile.hpp`, little-endian): a chunk count (u64) and
 *   absolute chunk offsets (u64 each) follow the memo, and each chunk is a length (u64) followed
 *   by that many bytes. The plot ends where its last chunk ends, and that is exactly its size.
 * - PoS2 group files, `PoS2` v2 (pos2-chip `PlotGroupFile`; wire/group-index.ts gives the index's
 *   layout): the writer puts 0 where the header's chunk-index offset goes, writes the chunks,
 *   then that offset, then the index, which runs to the end of the file. So the file is whole
 *   when the offset is written, lies inside the file, and the index there decodes to a size for
 *   every chunk, the sizes adding up to the offset less the end of the memo, in the bytes left.
 *   An index longer than GROUP_INDEX_MAX_READ (k above 30) is not read: such a file goes by age.
 * - BladeBit v2: its layout past the fixed fields is not confirmed from source here, so its end
 *   is unknown; the caller judges it by size stability and age. So is a known magic with a
 *   version this code does not know (a newer format).
 * A file that starts like a plot but ends inside its header is not whole (a plot cut short), and
 * one whose header does not parse or does not fit it is a `mismatch`: a known layout gone wrong,
 * never sent (wire/plot-header.ts says what it checks). Only a file with no known magic at all
 * is "not a plot".
 *
 * Checked against the reference plots in ../shared/fixtures/real-plots (test/unit/plot-end.test.ts).
 */
import { decodeGroupIndex, groupChunkCount, groupIndexMaxBytes, groupIndexMinBytes } from './group-index.js';
import {
  BLADEBIT_MAGIC,
  checkPlotHeader,
  PLOT_HEADER_MAX_CHECK,
  PlotHeaderInfo,
  POS2_GROUP_MAGIC,
  POS2_MAGIC,
  V1_MAGIC,
} from './plot-header.js';

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
  | { kind: 'read-last-chunk'; header: PlotHeaderInfo; at: number }
  /** A PoS2 group file: read `length` bytes at `at` (its chunk index) and pass them to groupIndexEnd(). */
  | { kind: 'read-index'; header: PlotHeaderInfo; at: number; length: number };

/** The longest group chunk index read to judge a file: k 28's is at most 32 MiB (~5 MiB as written). */
export const GROUP_INDEX_MAX_READ = 64 * 1024 * 1024;

/** More chunks than a k 50 plot could have are not a chunk table (bounds the head read). */
const MAX_CHUNKS = 1 << 24;

/**
 * Where `head` (the first bytes of a file of `size` bytes) says the plot ends. Throws
 * PF_NOT_A_PLOT when `head` does not start like a plot (wire/plot-header.ts).
 */
export function plotEnd(head: Buffer, size: number): PlotEnd {
  let header: PlotHeaderInfo;
  try {
    header = checkPlotHeader(head, size);
  } catch (err) {
    const known = knownLayout(head, size);
    if (!known) throw err; // no plot magic: not a plot
    const fake: PlotHeaderInfo = { pos: known.pos, format: known.format, k: 0, id: '' };
    if (known.newerVersion) return { kind: 'unknown', header: fake, why: `${known.format}: ${(err as Error).message}` };
    if (head.length >= size && size < PLOT_HEADER_MAX_CHECK)
      return { kind: 'incomplete', header: fake, why: `it ends (${size} bytes) inside its header` };
    return { kind: 'mismatch', header: fake, why: (err as Error).message };
  }
  switch (header.format) {
    case 'chiapos-v1':
      return chiaposEnd(head, size, header);
    case 'pos2-v1':
      return pos2End(head, size, header);
    case 'bladebit-v2':
      return { kind: 'unknown', header, why: "BladeBit v2's table layout is not checked here" };
    case 'pos2-group':
      return groupEnd(size, header);
  }
}

/**
 * The layout a file's first bytes claim, though its header may not parse: its magic, or the whole
 * file being a start of one (a plot cut inside its magic). `newerVersion`: a version byte this
 * code does not know.
 */
function knownLayout(
  head: Buffer,
  size: number,
): { pos: 1 | 2; format: PlotHeaderInfo['format']; newerVersion: boolean } | undefined {
  for (const [magic, pos, format, version] of MAGICS) {
    const n = Math.min(head.length, magic.length);
    const whole = head.length >= size;
    if (n === 0 || !head.subarray(0, n).equals(magic.subarray(0, n))) continue;
    if (n < magic.length && !whole) continue;
    return { pos, format, newerVersion: head.length > magic.length + 4 && !version(head) };
  }
  return undefined;
}

const MAGICS: readonly [Buffer, 1 | 2, PlotHeaderInfo['format'], (h: Buffer) => boolean][] = [
  [V1_MAGIC, 1, 'chiapos-v1', () => true],
  [BLADEBIT_MAGIC, 1, 'bladebit-v2', (h) => h.readUInt32LE(4) === 2],
  [POS2_MAGIC, 2, 'pos2-v1', (h) => h[4] === 1],
  [POS2_GROUP_MAGIC, 2, 'pos2-group', (h) => h[4] === 2],
];

/** ByteAlign(bits) / 8: bits rounded up to whole bytes. */
const bytesOf = (bits: number) => Math.ceil(bits / 8);
/** chiapos `EntrySizes::CalculateC3Size`: kCheckpoint1Interval 10,000, kC3BitsPerEntry 2.4. */
const c3ParkBytes = (k: number) => (k < 20 ? bytesOf(8 * 10_000) : bytesOf(2.4 * 10_000));

function chiaposEnd(head: Buffer, size: number, header: PlotHeaderInfo): PlotEnd {
  const memoLenAt = 54 + head.readUInt16BE(52);
  const tables = memoLenAt + 2 + head.readUInt16BE(memoLenAt);
  const tablesEnd = tables + 10 * 8;
  if (size < tablesEnd) return { kind: 'incomplete', header, why: `it ends (${size} bytes) inside its table pointers` };
  if (head.length < tablesEnd) return { kind: 'read-head', header, length: tablesEnd };
  const ptr: bigint[] = [];
  for (let i = 0; i < 10; i++) {
    const at = head.readBigUInt64BE(tables + 8 * i);
    ptr.push(at);
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
  const [c1, c2, c3] = [ptr[7]!, ptr[8]!, ptr[9]!];
  if (c2 < c1 || c3 < c2)
    return { kind: 'mismatch', header, why: 'its checkpoint tables (C1, C2, C3) are out of order' };
  const c1Entries = (c2 - c1) / BigInt(bytesOf(header.k));
  const end = c3 + (c1Entries > 0n ? c1Entries - 1n : 0n) * BigInt(c3ParkBytes(header.k));
  if (end > BigInt(size))
    return {
      kind: 'incomplete',
      header,
      why: `its last table (C3) ends at byte ${end}, and the file has only ${size} bytes`,
    };
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
  const length = lengthField.readBigUInt64LE(0);
  // A file made at its full size first (preallocated) and filled in order: zeros where the last
  // chunk's length will be.
  if (length === 0n) return { kind: 'incomplete', header, why: "its last chunk's length is not written yet" };
  const end = BigInt(at) + 8n + length;
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

/** A PoS2 group file: what its header says of its end, and which bytes to read for the rest. */
function groupEnd(size: number, header: PlotHeaderInfo): PlotEnd {
  const at = header.chunkIndexAt!;
  const chunksAt = header.chunksAt!;
  const count = groupChunkCount(header.k);
  const g = header.groupSize!;
  if (at === 0) return { kind: 'incomplete', header, why: 'its chunk index offset is not written yet' };
  // Every chunk holds at least one byte.
  if (at < chunksAt + count)
    return { kind: 'mismatch', header, why: `its chunk index at byte ${at} leaves no room for ${count} chunks` };
  if (at >= size)
    return {
      kind: 'incomplete',
      header,
      why: `its chunk index starts at byte ${at}, and the file has only ${size} bytes`,
    };
  const length = size - at;
  if (length < groupIndexMinBytes(header.k, g))
    return { kind: 'incomplete', header, why: `its chunk index is cut short (${length} bytes)` };
  if (length > groupIndexMaxBytes(header.k))
    return { kind: 'mismatch', header, why: `${length} bytes follow its chunk index offset, more than an index holds` };
  if (length > GROUP_INDEX_MAX_READ)
    return { kind: 'unknown', header, why: `its chunk index (${length} bytes) is too long to read here` };
  return { kind: 'read-index', header, at, length };
}

/** A PoS2 group file: whether `index`, the bytes from its chunk-index offset to the end, ends it. */
export function groupIndexEnd(header: PlotHeaderInfo, index: Buffer, size: number): PlotVerdict {
  const at = header.chunkIndexAt!;
  if (at + index.length < size) return { kind: 'incomplete', header, why: 'it shrank while it was read' };
  const d = decodeGroupIndex(index, groupChunkCount(header.k), header.groupSize!);
  if (d.kind === 'short')
    return {
      kind: 'incomplete',
      header,
      why: `its chunk index ends after ${d.read} of ${groupChunkCount(header.k)} chunks`,
    };
  if (d.kind === 'bad') return { kind: 'mismatch', header, why: d.why };
  if (d.total !== at - header.chunksAt!)
    return {
      kind: 'mismatch',
      header,
      why: `its chunks add up to ${d.total} bytes, and its index starts ${at - header.chunksAt!} bytes after the memo`,
    };
  // The writer's last bits fill a 64-bit word at most.
  if (index.length - d.bytes > 7)
    return { kind: 'mismatch', header, why: `${index.length - d.bytes} bytes follow its chunk index` };
  return { kind: 'complete', header };
}
