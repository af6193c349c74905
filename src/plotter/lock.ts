/**
 * A per-plot lock, so that sweeps started by cron while an earlier one still runs never send
 * the same plot twice. The lock is `.plotferry-lock-NAME` beside the plot, created with O_EXCL
 * and holding the owner's pid. A lock whose pid no longer runs (a sweep that was killed) is
 * stale and is taken over.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export const LOCK_PREFIX = '.plotferry-lock-';

export function lockPathFor(file: string): string {
  return path.join(path.dirname(file), `${LOCK_PREFIX}${path.basename(file)}`);
}

/** The release function, or undefined when another live process holds the plot. */
export async function tryLock(file: string): Promise<(() => Promise<void>) | undefined> {
  const lock = lockPathFor(file);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      return () => fsp.rm(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await fsp.readFile(lock, 'utf8').catch(() => '')).trim());
    if (pid > 0 && (pid === process.pid || alive(pid))) return undefined;
    // Stale (its owner is gone, or the file is empty): take it over once.
    await fsp.rm(lock, { force: true });
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
