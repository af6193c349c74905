/**
 * The chunk index of a PoS2 plot-group file (`*.gplot`), which ends the file: pure code.
 *
 * Layout, from pos2-chip's plot-group revision (`src/plot/PlotFile.hpp` `PlotGroupFile::writeData`,
 * `src/plot/ChunkCompressor.hpp` `gsz_encode`, the code chia_rs #1517 builds on):
 * - the file has 2^(2k) / 2^(k + 6) = 2^(k - 6) chunks (`getChunkCountForK`), written after the
 *   51-byte header and the memo; then the index, from the header's chunk-index offset to the end;
 * - the index holds each chunk's size in bytes, in order, as a Rice code of its difference from
 *   an expected size E = (g x 60301) >> 8 (g: the group size), with the Rice parameter
 *   R = round(log2(isqrt(357 g))): per chunk a sign bit, R low bits of the magnitude, then the
 *   magnitude >> R in unary (that many 1 bits and a 0). Bits go least significant first, from
 *   byte 0 on (`BitWriter`, read back as little-endian u64 words by `BitReader`);
 * - the sizes add up to the chunk-index offset less the end of the memo: chunk 0 starts there.
 * So the file is whole when its index decodes to 2^(k - 6) sizes that add up to exactly that, in
 * about the bytes left (the writer pads its last bits to a whole 64-bit word at most).
 */

/** Chunks per plot-group file at `k` (pos2-chip `getChunkCountForK`, PROOFS_PER_CHUNK_BITS 6). */
export const groupChunkCount = (k: number) => 2 ** (k - 6);

/** The size a chunk is coded against (pos2-chip `gsz_expected_for_g`). */
export const groupExpectedChunk = (g: number) => Math.floor((g * 60301) / 256);

/** floor(sqrt(n)), exact for the n here (357 x 65,535 < 2^25). */
function isqrt(n: number): number {
  let r = Math.floor(Math.sqrt(n));
  while (r * r > n) r--;
  while ((r + 1) * (r + 1) <= n) r++;
  return r;
}

/** The Rice parameter for group size `g` (pos2-chip `gsz_rice_k_for_g`: round(log2(isqrt(357 g)))). */
export function groupRiceBits(g: number): number {
  const m = Math.max(1, isqrt(357 * g));
  if (m <= 1) return 0;
  const f = Math.floor(Math.log2(m));
  // round(log2 m): up when m^2 >= 2^(2f + 1).
  return m * m >= 2 ** (2 * f + 1) ? f + 1 : f;
}

/** The fewest bytes an index of `count` chunks can take: every difference 0. */
export const groupIndexMinBytes = (k: number, g: number) =>
  Math.ceil((groupChunkCount(k) * (groupRiceBits(g) + 2)) / 8);

/** The most: a code is at most 64 bits (pos2-chip refuses to write a longer one). */
export const groupIndexMaxBytes = (k: number) => groupChunkCount(k) * 8 + 8;

export type GroupIndexDecode =
  /** `count` sizes were read, adding up to `total`, in `bytes` bytes. */
  | { kind: 'sizes'; total: number; bytes: number }
  /** The bytes ran out before `count` sizes were read. */
  | { kind: 'short'; read: number }
  /** A size below 1 byte or a code longer than 64 bits: not an index. */
  | { kind: 'bad'; why: string };

/** Decodes `count` chunk sizes for group size `g` from `index`. */
export function decodeGroupIndex(index: Buffer, count: number, g: number): GroupIndexDecode {
  const rice = groupRiceBits(g);
  const expected = groupExpectedChunk(g);
  const bits = index.length * 8;
  let at = 0;
  const bit = () => (index[at >> 3]! >> (at++ & 7)) & 1;
  let total = 0;
  for (let n = 0; n < count; n++) {
    if (at + rice + 2 > bits) return { kind: 'short', read: n };
    const negative = bit() === 1;
    let low = 0;
    for (let i = 0; i < rice; i++) low += bit() * 2 ** i;
    let q = 0;
    for (;;) {
      if (at >= bits) return { kind: 'short', read: n };
      if (bit() === 0) break;
      if (++q + rice + 2 > 64) return { kind: 'bad', why: `chunk ${n + 1}'s size code is longer than 64 bits` };
    }
    const magnitude = q * 2 ** rice + low;
    const size = expected + (negative ? -magnitude : magnitude);
    if (size < 1) return { kind: 'bad', why: `chunk ${n + 1}'s size is ${size} bytes` };
    total += size;
  }
  return { kind: 'sizes', total, bytes: Math.ceil(at / 8) };
}

/** The index for chunks of these sizes (the inverse of decodeGroupIndex; sample files use it). */
export function encodeGroupIndex(sizes: readonly number[], g: number): Buffer {
  const rice = groupRiceBits(g);
  const expected = groupExpectedChunk(g);
  const out: number[] = [];
  let at = 0;
  const put = (b: number) => {
    if ((at & 7) === 0) out.push(0);
    if (b) out[out.length - 1]! |= 1 << (at & 7);
    at++;
  };
  for (const size of sizes) {
    const delta = size - expected;
    const magnitude = Math.abs(delta);
    if (Math.floor(magnitude / 2 ** rice) + rice + 2 > 64)
      throw new RangeError(`a chunk of ${size} bytes cannot be coded for a group of ${g}`);
    put(delta < 0 ? 1 : 0);
    for (let i = 0; i < rice; i++) put(Math.floor(magnitude / 2 ** i) & 1);
    for (let q = Math.floor(magnitude / 2 ** rice); q > 0; q--) put(1);
    put(0);
  }
  return Buffer.from(out);
}
