/**
 * What a Chia plot file is, from its first bytes. Pure code, unit-tested byte by byte.
 *
 * Four layouts (integers little-endian unless said):
 * - PoS1, chiapos v1 (chiapos, madMAx, BladeBit uncompressed): "Proof of Space Plot" (19 bytes),
 *   plot id (32), k (u8), format description length (u16 big-endian) and text ("v1.0"), memo
 *   length (u16 big-endian), memo.
 * - PoS1, BladeBit v2 (compressed plots): "PLOT" (4), version (u32, 2), plot id (32), k (u8),
 *   memo length (u16 big-endian), memo, flags (u32; bit 0: compressed), then the compression
 *   level (u8) when compressed.
 * - PoS2, single plot (pos2-chip src/plot/PlotFile.hpp, FORMAT_VERSION 1): "pos2" (4), version
 *   (u8, 1), plot id (32), k (u8), strength (u8, match key bits), plot index (u16), meta-group
 *   (u8), memo length (u8), memo.
 * - PoS2, plot-group file `*.gplot` (pos2-chip `src/plot/PlotFile.hpp` `PlotGroupFile`, FORMAT_VERSION
 *   2, the revision chia_rs #1517 and chia-blockchain #21396 build on; a packed struct, 51 bytes,
 *   little-endian): "PoS2" (4), version (u8, 2), group id (32), k (u8), strength (u8), group size
 *   (u16), meta-group (u8), chunk-index offset (u64, at 42), memo length (u8, at 50), memo.
 * PoS2 bounds (pos2-chip `ProofParams`): k even, 18 (the smallest test plots) to 32; strength at
 * least 2, below 64, and at most k - section bits - 1 (section bits: 2 below k 28, else k - 26).
 * A header outside them is not a plot pos2-chip could have written.
 * A PoS2 plot's group (CHIP-48): chia-blockchain's plot group id is sha256(strength ‖ plot public
 * key ‖ pool info), and a single plot's header does not carry it. Its memo does carry what makes
 * it: the pool key or contract puzzle hash, the farmer key, and the plot's master secret key, from
 * which the plot public key is derived. So the plots of one group are exactly the plots with the
 * same strength and memo, and `groupKey` is a hash of those two (the memo holds a secret key:
 * only the hash ever leaves the file). A group file carries its group id, which is its key.
 * Only the fixed fields are checked, not the tables: this tells the wrong file (a log, an
 * archive, a half-copied plot) and an old plot from a new one, not a forged one. A layout this
 * code does not know (another version) is "not a plot" here, which is the safe side: such a
 * file is refused by --verify-plot-header, and never deleted by --replot.
 */
import { createHash } from 'node:crypto';
import { PlotferryError } from '../core/errors.js';

export const V1_MAGIC = Buffer.from('Proof of Space Plot', 'latin1');
export const BLADEBIT_MAGIC = Buffer.from('PLOT', 'latin1');
export const POS2_MAGIC = Buffer.from('pos2', 'latin1');
export const POS2_GROUP_MAGIC = Buffer.from('PoS2', 'latin1');
/** Test plots go down to k 18; the protocol has room up to 50. */
const K_MIN = 18;
const K_MAX = 50;
/** PoS2 (pos2-chip `ProofParams`, `plotter_main`): k even, 18-32. */
const POS2_K_MIN = 18;
const POS2_K_MAX = 32;
/** pos2-chip `ProofParams::get_num_section_bits`. */
const pos2SectionBits = (k: number) => (k < 28 ? 2 : k - 26);
/** The largest strength pos2-chip's `ProofParams` takes at `k`. */
export const pos2MaxStrength = (k: number) => Math.min(63, k - pos2SectionBits(k) - 1);
/** The fixed part of a group file's header (pos2-chip `PlotGroupFile::Header`, static_assert 51). */
export const POS2_GROUP_HEADER = 51;
/**
 * The longest prefix a check reads: a PoS2 header with the longest memo a u8 length allows
 * (v1 with a 64-byte format description and BladeBit with a 128-byte memo are shorter).
 */
export const PLOT_HEADER_MAX_CHECK = 4 + 1 + 32 + 1 + 1 + 2 + 1 + 8 + 1 + 255;
/** The shortest prefix a plot can have (a PoS2 single plot up to its memo length). */
export const PLOT_HEADER_MIN = 4 + 1 + 32 + 1 + 1 + 2 + 1 + 1;

export type PlotFormat = 'chiapos-v1' | 'bladebit-v2' | 'pos2-v1' | 'pos2-group';

export interface PlotHeaderInfo {
  /** Which proof of space: PoS1 plots are the ones a replot replaces. */
  pos: 1 | 2;
  format: PlotFormat;
  k: number;
  /** The plot id (a group file: the group id), hex. */
  id: string;
  /** BladeBit's compression level (0: none); PoS1 only. */
  compression?: number;
  /** PoS2: strength (match key bits), meta-group; a single plot's index; a group's size. */
  strength?: number;
  metaGroup?: number;
  plotIndex?: number;
  groupSize?: number;
  /**
   * A group file: where its chunk index starts (0 until its writer has written every chunk), and
   * where its chunks start (the end of its header and memo).
   */
  chunkIndexAt?: number;
  chunksAt?: number;
  /**
   * PoS2: what tells this plot's group from any other (32 hex digits): a group file's group id,
   * else a hash of the strength and memo (see above). Absent when the memo is empty.
   */
  groupKey?: string;
}

/**
 * A PoS2 plot's group, from its header (wire/plot-header.ts): the harvester keeps a group on the
 * disk that holds it (CHIP-48), and puts a new group where no other of its meta-group is (CHIP-49).
 */
export interface PlotGroup {
  /** The group key (32 hex digits). */
  key: string;
  /** The meta-group (0-255). */
  meta: number;
  /**
   * The plotter waited long enough for the group's disk: any disk will do now (the group's own
   * still first when it is idle).
   */
  anyDisk?: boolean;
  /**
   * The header allows a group of one plot: a group file of size 1, or a single plot at index 0
   * (what chia's create_v2_plots writes, with a fresh key each time). See metaGroupRuleApplies.
   */
  single?: boolean;
}
/** The plot group a header names (PoS2 with a group key), for placement; undefined otherwise. */
export function groupOf(h: PlotHeaderInfo): PlotGroup | undefined {
  if (!h.groupKey) return undefined;
  const single = h.format === 'pos2-group' ? h.groupSize === 1 : (h.plotIndex ?? 0) === 0;
  return { key: h.groupKey, meta: h.metaGroup ?? 0, ...(single ? { single: true } : {}) };
}

/**
 * Whether a new group is kept off disks holding other groups of its meta-group (CHIP-49).
 * Not for a group of one in meta-group 0: that is every plot chia 3.0 makes (plot index 0,
 * meta-group 0, a fresh key per plot), so "no other group of meta-group 0" means "a disk with no
 * PoS2 plot yet". With --replot that would start the replot of every disk at once, each
 * half-done, where a farmer wants one disk replotted after the other (its PoS1 plots keep
 * farming meanwhile, and a finished disk is one less to watch). Meta-groups also only pay when a
 * farmer sets them: groups of one in meta-group 0 pass the plot filter on their own keys anyway.
 */
export function metaGroupRuleApplies(g: PlotGroup): boolean {
  return !(g.meta === 0 && g.single);
}

/** The group key of a single PoS2 plot: its strength and memo, hashed (the memo holds a secret). */
export function singlePlotGroupKey(strength: number, memo: Buffer): string {
  return createHash('sha256')
    .update('plotferry-pos2-group')
    .update(Buffer.of(strength))
    .update(memo)
    .digest('hex')
    .slice(0, 32);
}

function notAPlot(why: string): PlotferryError {
  return new PlotferryError('PF_NOT_A_PLOT', `not a Chia plot: ${why}`);
}

/** A file too short to hold a plot header is refused from its declared size alone. */
export function assertPlotSize(size: number): void {
  if (size < PLOT_HEADER_MIN) throw notAPlot(`${size} bytes is shorter than any plot header`);
}

/**
 * Reads `head`, the first bytes of a file of `size` bytes (at least PLOT_HEADER_MAX_CHECK of
 * them, or the whole file when it is shorter). Throws PF_NOT_A_PLOT.
 */
export function checkPlotHeader(head: Buffer, size: number): PlotHeaderInfo {
  assertPlotSize(size);
  const need = (n: number, what: string) => {
    if (head.length < n) throw notAPlot(`the file ends inside the ${what}`);
  };
  const kAt = (off: number) => {
    const k = head[off]!;
    if (k < K_MIN || k > K_MAX) throw notAPlot(`k ${k} is outside ${K_MIN}-${K_MAX}`);
    return k;
  };
  const starts = (magic: Buffer) => head.subarray(0, magic.length).equals(magic);
  const idAt = (off: number) => head.subarray(off, off + 32).toString('hex');

  if (starts(V1_MAGIC)) {
    need(19 + 32 + 1 + 2, 'header');
    const k = kAt(51);
    const fdLen = head.readUInt16BE(52);
    if (fdLen < 1 || fdLen > 64) throw notAPlot(`format description length ${fdLen}`);
    need(54 + fdLen + 2, 'format description');
    const fd = head.subarray(54, 54 + fdLen);
    if (!fd.every((b) => b >= 0x20 && b < 0x7f)) throw notAPlot('the format description is not text');
    const memoLen = head.readUInt16BE(54 + fdLen);
    if (memoLen > 1024) throw notAPlot(`memo length ${memoLen}`);
    return { pos: 1, format: 'chiapos-v1', k, id: idAt(19), compression: 0 };
  }
  if (starts(BLADEBIT_MAGIC)) {
    need(4 + 4 + 32 + 1 + 2, 'header');
    const version = head.readUInt32LE(4);
    if (version !== 2) throw notAPlot(`"PLOT" file version ${version} (known: 2)`);
    const k = kAt(40);
    const memoLen = head.readUInt16BE(41);
    if (memoLen > 128) throw notAPlot(`memo length ${memoLen}`);
    const flagsAt = 43 + memoLen;
    need(flagsAt + 4, 'flags');
    const compressed = (head.readUInt32LE(flagsAt) & 1) === 1;
    if (compressed) need(flagsAt + 5, 'compression level');
    const compression = compressed ? head[flagsAt + 4]! : 0;
    if (compression > 20) throw notAPlot(`compression level ${compression}`);
    return { pos: 1, format: 'bladebit-v2', k, id: idAt(8), compression };
  }
  if (starts(POS2_MAGIC)) return pos2Single(head, need);
  if (starts(POS2_GROUP_MAGIC)) return pos2Group(head, need);
  throw notAPlot('it does not start like any plot layout known here ("Proof of Space Plot", "PLOT", "pos2", "PoS2")');
}

type Need = (n: number, what: string) => void;

/** PoS2 k and strength at `kAt` and the byte after it, within pos2-chip's bounds. */
function pos2Params(head: Buffer, kAt: number): { k: number; strength: number } {
  const k = head[kAt]!;
  if (k < POS2_K_MIN || k > POS2_K_MAX || k % 2 !== 0)
    throw notAPlot(`PoS2 k ${k} is not an even number in ${POS2_K_MIN}-${POS2_K_MAX}`);
  const strength = head[kAt + 1]!;
  if (strength < 2 || strength > pos2MaxStrength(k))
    throw notAPlot(`PoS2 strength ${strength} is outside 2-${pos2MaxStrength(k)} (k ${k})`);
  return { k, strength };
}

function pos2Single(head: Buffer, need: Need): PlotHeaderInfo {
  need(PLOT_HEADER_MIN, 'header');
  const version = head[4]!;
  if (version !== 1) throw notAPlot(`"pos2" plot version ${version} (known: 1)`);
  const { k, strength } = pos2Params(head, 37);
  const memoLen = head[42]!;
  need(43 + memoLen, 'memo');
  return {
    pos: 2,
    format: 'pos2-v1',
    k,
    id: head.subarray(5, 37).toString('hex'),
    strength,
    plotIndex: head.readUInt16LE(39),
    metaGroup: head[41]!,
    ...(memoLen > 0 ? { groupKey: singlePlotGroupKey(strength, head.subarray(43, 43 + memoLen)) } : {}),
  };
}

function pos2Group(head: Buffer, need: Need): PlotHeaderInfo {
  need(POS2_GROUP_HEADER, 'group header');
  const version = head[4]!;
  if (version !== 2) throw notAPlot(`"PoS2" group file version ${version} (known: 2)`);
  const { k, strength } = pos2Params(head, 37);
  const groupSize = head.readUInt16LE(39);
  if (groupSize < 1) throw notAPlot('a plot group of 0 plots');
  const memoLen = head[50]!;
  need(POS2_GROUP_HEADER + memoLen, 'memo');
  const id = head.subarray(5, 37).toString('hex');
  return {
    pos: 2,
    format: 'pos2-group',
    k,
    id,
    strength,
    groupSize,
    metaGroup: head[41]!,
    groupKey: id.slice(0, 32),
    chunkIndexAt: Number(head.readBigUInt64LE(42)),
    chunksAt: POS2_GROUP_HEADER + memoLen,
  };
}
