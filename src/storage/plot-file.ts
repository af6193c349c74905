/**
 * Whether a plot file on disk is whole: the I/O around wire/plot-end.ts, which says what to read.
 * A first read of up to 64 KiB, a second for a longer chunk table, and 8 bytes at a PoS2 plot's
 * last chunk, or a group file's chunk index (a few MiB of a 30-120 GB file): at most three
 * positional reads, whatever the plot's size.
 */
import fs from 'node:fs';
import { fromSystemError, PlotferryError } from '../core/errors.js';
import { readAt } from './fsio.js';
import { openSource, SourceId } from './source.js';
import { groupIndexEnd, lastChunkEnd, PLOT_END_FIRST_READ, plotEnd, PlotEnd, PlotVerdict } from '../wire/plot-end.js';

export type PlotCheck =
  | PlotVerdict
  /** No plot header this code knows (0 bytes, a log, random bytes, a layout not known yet). */
  | { kind: 'not-a-plot'; why: string };

/** Judges the open file `fd` of `size` bytes. `first`: its first bytes when the caller has them. */
export async function checkPlotFd(fd: number, size: number, first?: Buffer): Promise<PlotCheck> {
  let head = first ?? (await bytesAt(fd, Math.min(size, PLOT_END_FIRST_READ), 0));
  for (let step = 0; ; step++) {
    let end: PlotEnd;
    try {
      end = plotEnd(head, size);
    } catch (err) {
      if (err instanceof PlotferryError && err.code === 'PF_NOT_A_PLOT')
        return { kind: 'not-a-plot', why: err.message };
      throw err;
    }
    switch (end.kind) {
      case 'read-head': {
        // A head that holds what plotEnd asked for cannot ask again; a loop here is a bug.
        if (step > 1 || end.length <= head.length) throw new PlotferryError('PF_INTERNAL', 'plotEnd asked twice');
        head = await bytesAt(fd, end.length, 0);
        if (head.length < end.length)
          return { kind: 'incomplete', header: end.header, why: 'it shrank while it was read' };
        continue;
      }
      case 'read-last-chunk': {
        return lastChunkEnd(end.header, end.at, await bytesAt(fd, 8, end.at), size);
      }
      case 'read-index': {
        return groupIndexEnd(end.header, await bytesAt(fd, end.length, end.at), size);
      }
      default:
        return end;
    }
  }
}

/** Judges the file at `file` (a symbolic link is not followed: ELOOP). */
export async function checkPlotFile(file: string): Promise<PlotCheck & { size: number }> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const { size } = await fh.stat();
    return { ...(await checkPlotFd(fh.fd, size)), size };
  } finally {
    await fh.close();
  }
}

/** `length` bytes of `fd` from `position` (fewer at its end), read until they are all there. */
async function bytesAt(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return buf.subarray(0, await readAt(fd, buf, length, position));
}

/** Whether a plotter sends a file, from its check: `note` says when only its age vouches for it. */
export type Readiness =
  | { send: true; note?: string }
  /** PF_INCOMPLETE: not finished (`--watch` waits for it); PF_NOT_A_PLOT: not a plot it knows. */
  | { send: false; error: PlotferryError };

/**
 * The plotter's rule. A known layout that is not whole, or whose header does not fit it, is never
 * sent; a file with no plot magic only with `anyFile` (a format plotferry does not know yet); a
 * layout whose end is unknown (BladeBit v2, a newer version, a group file of k above 30) goes on
 * its age alone.
 */
export function readiness(file: string, check: PlotCheck, anyFile: boolean): Readiness {
  switch (check.kind) {
    case 'complete':
      return { send: true };
    case 'incomplete':
      return {
        send: false,
        error: new PlotferryError('PF_INCOMPLETE', `${file} is not a whole plot yet: ${check.why}`),
      };
    case 'unknown':
      return { send: true, note: `${check.why}: judged by --min-age and its size alone` };
    case 'mismatch':
      // A known layout gone wrong (a header that does not parse or does not fit the file) is
      // never sent, --any-file or not: it is most likely a plot damaged or still being made.
      return {
        send: false,
        error: new PlotferryError('PF_NOT_A_PLOT', `${file}: its header does not fit it: ${check.why}; not sent`),
      };
    case 'not-a-plot':
      if (anyFile) return { send: true, note: `${check.why}; sent as it is (--any-file)` };
      return {
        send: false,
        error: new PlotferryError('PF_NOT_A_PLOT', `${file}: ${check.why}; not sent (--any-file sends such files)`),
      };
  }
}

/**
 * Opens `file` as a source (never through a symbolic link), checks it, and closes it: its
 * identity (storage/source.ts) when the plotter's rule sends it, for the transfer to hold it to.
 * Throws PF_INCOMPLETE, PF_NOT_A_PLOT, PF_SOURCE.
 */
export async function sendableSource(file: string, anyFile: boolean): Promise<{ id: SourceId; note?: string }> {
  const { fd, id } = await openSource(file);
  try {
    let check: PlotCheck;
    try {
      check = await checkPlotFd(fd, Number(id.size));
    } catch (err) {
      throw fromSystemError(err, `reading ${file}`, 'PF_SOURCE');
    }
    const r = readiness(file, check, anyFile);
    if (!r.send) throw r.error;
    return { id, ...(r.note ? { note: r.note } : {}) };
  } finally {
    fs.close(fd, () => undefined);
  }
}
