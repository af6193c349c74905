/**
 * A receiver's claim on a receiving directory: `.plotferry-receiver.lock`, held by one live
 * plotferry process (storage/lockfile.ts). Two receivers on one directory would each think they
 * own its write slot and its free space, and each one's start-up housekeeping would remove the
 * other's live temporary files (a running transfer lost at its last step). So a directory is
 * used, and cleaned, only by the process that holds its lock.
 */
import path from 'node:path';
import { RECEIVER_LOCK } from '../wire/names.js';
import { acquireLock, LockAttempt } from './lockfile.js';

/** A held lock's `token` tells a directory this process holds under another path. */
export type DirClaim = LockAttempt | { ok: false; error: NodeJS.ErrnoException };

export async function claimDir(dir: string, role: string): Promise<DirClaim> {
  const lockPath = path.join(dir, RECEIVER_LOCK);
  try {
    return await acquireLock(lockPath, role);
  } catch (err) {
    return { ok: false, error: err as NodeJS.ErrnoException };
  }
}
