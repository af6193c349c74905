/**
 * Partial copies: what a broken transfer left, kept for a later one to continue (resume), and
 * their expiry.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { PARTIAL_SUFFIX, partialPathFor, TEMP_PREFIX } from './hidden-names.js';

export interface Partial {
  dir: string;
  path: string;
  /** Good bytes held (the file's length). */
  bytes: number;
}

/** A live partial copy of `name` (`size` bytes) in one of `dirs`, if any. */
export async function findPartial(
  dirs: readonly string[],
  name: string,
  size: number,
  ttlMs: number,
  now = Date.now(),
): Promise<Partial | undefined> {
  if (ttlMs <= 0) return undefined;
  // Every directory at once, the first in order wins.
  const found = await Promise.all(
    dirs.map(async (dir): Promise<Partial | undefined> => {
      const p = partialPathFor(dir, name, size);
      const st = await fsp.stat(p).catch(() => undefined); // none here
      if (st?.isFile() && now - st.mtimeMs < ttlMs && st.size > 0 && st.size <= size)
        return { dir, path: p, bytes: st.size };
      return undefined;
    }),
  );
  return found.find((p) => p !== undefined);
}

/** Default `--partial-ttl`: how long a broken transfer's good bytes wait for a resume. */
export const DEFAULT_PARTIAL_TTL_MS = 3_600_000;

/**
 * Removes expired partial copies now and then every min(ttl, 1 min) until the returned stop()
 * (the timer does not keep the process alive), in the directories `dirs()` names each time.
 */
export function startPartialExpiry(dirs: () => readonly string[], ttlMs: number, log: Logger): () => void {
  const sweep = () =>
    void removeExpiredPartials(dirs(), ttlMs).then((gone) => {
      for (const p of gone) log.info({ path: p }, 'removed a partial copy nobody resumed (--partial-ttl)');
    });
  sweep();
  const timer = setInterval(sweep, Math.max(1_000, Math.min(ttlMs, 60_000)));
  timer.unref();
  return () => clearInterval(timer);
}

/** Removes partial copies older than `ttlMs` (all of them when `ttlMs` <= 0). Returns what went. */
export async function removeExpiredPartials(
  dirs: readonly string[],
  ttlMs: number,
  now = Date.now(),
): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = await fsp.readdir(dir);
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!(e.startsWith(TEMP_PREFIX) && e.endsWith(PARTIAL_SUFFIX))) continue;
      const p = path.join(dir, e);
      try {
        if (ttlMs > 0 && now - (await fsp.stat(p)).mtimeMs < ttlMs) continue;
        await fsp.unlink(p);
        removed.push(p);
      } catch {
        // gone already
      }
    }
  }
  return removed;
}
