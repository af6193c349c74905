/**
 * Resume on the receiving side: taking a partial copy over for a new connection, re-hashing its
 * bytes (the sender's TRAILER covers the whole file), and keeping a broken transfer's good
 * bytes as a partial copy for the next one.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type net from 'node:net';
import { fromSystemError, PlotferryError } from '../../core/errors.js';
import { alignedBuffers } from '../../storage/buffers.js';
import { closeFd, openFd, readAt, truncateFd } from '../../storage/fsio.js';
import { partialPathFor } from '../../storage/hidden-names.js';
import type { Partial } from '../../storage/partials.js';
import { encodeMessage } from '../../wire/wire-messages.js';
import type { Hasher } from '../hash.js';

/** Re-hashing a partial copy: read size, and how often the sender hears PROGRESS. */
const REHASH_CHUNK = 4 * 1024 * 1024;
const PROGRESS_MS = 2_000;

/** Failures that leave good bytes worth keeping: the connection broke, not the data or disk. */
export const KEEPS_PARTIAL: ReadonlySet<string> = new Set([
  'PF_SHORT_STREAM',
  'PF_CONNECTION',
  'PF_TIMEOUT',
  'PF_SHUTTING_DOWN',
]);

/**
 * Renames `partial` to `temp` (so no other connection and no expiry sweep can take it from here
 * on) and opens it for writing; undefined (and `temp` gone) when that fails: start afresh.
 */
export async function takePartial(partial: Partial, temp: string): Promise<number | undefined> {
  try {
    await fsp.rename(partial.path, temp);
    return await openFd(temp, 'r+');
  } catch {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    return undefined;
  }
}

/**
 * Hashes the first `n` bytes of the copy at `fd` into `hasher`, sending PROGRESS every
 * PROGRESS_MS so the sender knows we are alive; `checkFirst` sees its first buffer (a plot
 * header check). Stops early once `going()` turns false.
 */
export async function rehashPrefix(
  fd: number,
  n: number,
  what: string,
  hasher: Hasher,
  socket: net.Socket,
  going: () => boolean,
  checkFirst?: (first: Buffer) => void,
): Promise<void> {
  const buf = alignedBuffers(1, REHASH_CHUNK)[0]!;
  let pos = 0;
  let lastProgress = Date.now();
  while (pos < n && going()) {
    const want = Math.min(buf.length, n - pos);
    let got: number;
    try {
      got = await readAt(fd, buf, want, pos);
    } catch (err) {
      throw fromSystemError(err, `reading the partial copy ${what}`);
    }
    if (got !== want) throw new PlotferryError('PF_IO', `the partial copy ${what} is shorter than it was`);
    const view = buf.subarray(0, got);
    if (pos === 0) checkFirst?.(view);
    hasher.update(view);
    pos += got;
    if (Date.now() - lastProgress >= PROGRESS_MS && !socket.destroyed) {
      lastProgress = Date.now();
      socket.write(encodeMessage({ type: 'progress', bytes: pos }));
    }
  }
}

/**
 * Closes `fd` and keeps the temporary file's first `durable` bytes (only bytes whose writes
 * completed: anything after them may be a hole) as the partial copy of `name`; true when kept.
 * The caller removes the temporary file when it was not.
 */
export async function keepPartial(
  fd: number,
  temp: string,
  name: string,
  size: number,
  durable: number,
): Promise<boolean> {
  const truncated = await truncateFd(fd, durable).then(
    () => true,
    () => false,
  );
  await closeFd(fd).catch(() => undefined);
  if (!truncated) return false;
  return fsp.rename(temp, partialPathFor(path.dirname(temp), name, size)).then(
    () => true,
    () => false,
  );
}
