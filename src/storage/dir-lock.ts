/**
 * A receiver's claim on a receiving directory: `.plotferry-receiver.lock`, held by one live
 * plotferry process (storage/lockfile.ts). Two receivers on one directory would each think they
 * own its write slot and its free space, and each one's start-up housekeeping would remove the
 * other's live temporary files (a running transfer lost at its last step). So a directory is
 * used, and cleaned, only by the process that holds its lock.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { RECEIVER_LOCK } from '../wire/names.js';
import { acquireLock, HeldLock, liveHolder } from './lockfile.js';
import { decodeOwner } from './owner.js';

export type DirClaim =
  | { ok: true; lock: HeldLock }
  /** `token`: the holder's, to recognise a directory this process holds under another path. */
  | { ok: false; holder: string; token?: string }
  | { ok: false; error: NodeJS.ErrnoException };

export async function claimDir(dir: string, role: string): Promise<DirClaim> {
  const lockPath = path.join(dir, RECEIVER_LOCK);
  try {
    const r = await acquireLock(lockPath, role);
    if (r.ok) return r;
    const token = decodeOwner(await fsp.readFile(lockPath, 'utf8').catch(() => ''))?.token;
    return { ok: false, holder: r.holder, ...(token ? { token } : {}) };
  } catch (err) {
    return { ok: false, error: err as NodeJS.ErrnoException };
  }
}

/** Who serves `dir` as a receiving directory now, if anyone provably does (for `sweep`). */
export async function dirServedBy(dir: string): Promise<string | undefined> {
  const content = await fsp.readFile(path.join(dir, RECEIVER_LOCK), 'utf8').catch(() => undefined);
  return content === undefined ? undefined : liveHolder(content);
}
