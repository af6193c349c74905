/**
 * A per-plot lock, so that sweeps started by cron while an earlier one still runs never send
 * the same plot twice. The lock is `.plotferry-lock-NAME` beside the plot (storage/lockfile.ts):
 * held only while the very process that took it lives, so a lock left by a killed sweep, by an
 * earlier boot (PIDs are reused after a power loss) or holding a bare PID that is not a
 * plotferry sweep's is stale, and is taken over.
 *
 * Its token doubles as a probe: a harvester that finds this lock beside the copy it holds is
 * looking at the plotter's own source (wire/probe.ts), so that source is never removed as
 * "already held".
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { acquireLock, LockAttempt } from '../storage/lockfile.js';
import { lockNameFor } from '../wire/names.js';

export function lockPathFor(file: string): string {
  return path.join(path.dirname(file), lockNameFor(path.basename(file)));
}

export function tryLock(file: string, role = 'sweep'): Promise<LockAttempt> {
  return acquireLock(lockPathFor(file), role, oldSweepHolder);
}

/** An older plotferry's lock holds a bare PID: held only while that PID is a plotferry sweep. */
function oldSweepHolder(content: string): string | undefined {
  const pid = Number(content.trim());
  if (!(Number.isSafeInteger(pid) && pid > 0)) return undefined;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
  return /plotferry|main\.js/.test(cmdline) && /\bsweep\b/.test(cmdline) ? `sweep (pid ${pid})` : undefined;
}
