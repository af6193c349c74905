/**
 * `--verify-plot-header`: do the first bytes of a stream look like a Chia plot? Pure code.
 *
 * Two layouts are in use (chiapos, madMAx and BladeBit write the first; BladeBit's compressed
 * plots the second):
 * - v1: "Proof of Space Plot" (19 bytes), plot id (32), k (1), format description length
 *   (u16 big-endian) and text (e.g. "v1.0"), memo length (u16 big-endian), memo.
 * - v2: "PLOT" (the u32 0x544F4C50 little-endian), version (u32 little-endian, 2), plot id (32),
 *   k (1), memo length (u16 big-endian), memo, then flags and compression level.
 * Only the fixed fields are checked, not the tables: this catches the wrong file sent to a
 * harvester (a log, an archive, a half-copied plot), not a forged one.
 */
import { PlotferryError } from '../core/errors.js';

const V1_MAGIC = Buffer.from('Proof of Space Plot', 'latin1');
const V2_MAGIC = Buffer.from('PLOT', 'latin1');
/** Test plots go down to k 18; the protocol has room up to 50. */
const K_MIN = 18;
const K_MAX = 50;
/** The longest prefix the check reads (v1 with a 64-byte format description). */
export const PLOT_HEADER_MAX_CHECK = 19 + 32 + 1 + 2 + 64 + 2;
/** The shortest prefix a plot can have (v2 up to its memo length). */
export const PLOT_HEADER_MIN = 4 + 4 + 32 + 1 + 2;

export interface PlotHeaderInfo {
  format: 'v1' | 'v2';
  k: number;
  /** The plot id, hex. */
  id: string;
}

function notAPlot(why: string): PlotferryError {
  return new PlotferryError('PF_NOT_A_PLOT', `not a Chia plot: ${why}`);
}

/** A file too short to hold a plot header is refused from its declared size alone. */
export function assertPlotSize(size: number): void {
  if (size < PLOT_HEADER_MIN) throw notAPlot(`${size} bytes is shorter than any plot header`);
}

/**
 * Checks `head`, the first bytes of a file of `size` bytes (at least PLOT_HEADER_MAX_CHECK of
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
  if (head.subarray(0, V1_MAGIC.length).equals(V1_MAGIC)) {
    need(19 + 32 + 1 + 2, 'header');
    const k = kAt(51);
    const fdLen = head.readUInt16BE(52);
    if (fdLen < 1 || fdLen > 64) throw notAPlot(`format description length ${fdLen}`);
    need(54 + fdLen + 2, 'format description');
    const fd = head.subarray(54, 54 + fdLen);
    if (!fd.every((b) => b >= 0x20 && b < 0x7f)) throw notAPlot('the format description is not text');
    const memoLen = head.readUInt16BE(54 + fdLen);
    if (memoLen > 1024) throw notAPlot(`memo length ${memoLen}`);
    return { format: 'v1', k, id: head.subarray(19, 51).toString('hex') };
  }
  if (head.subarray(0, 4).equals(V2_MAGIC)) {
    need(PLOT_HEADER_MIN, 'header');
    const version = head.readUInt32LE(4);
    if (version !== 2) throw notAPlot(`"PLOT" file version ${version} (known: 2)`);
    const k = kAt(40);
    const memoLen = head.readUInt16BE(41);
    if (memoLen > 128) throw notAPlot(`memo length ${memoLen}`);
    return { format: 'v2', k, id: head.subarray(8, 40).toString('hex') };
  }
  throw notAPlot('it does not start with "Proof of Space Plot" or "PLOT"');
}
