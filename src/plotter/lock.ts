/**
 * A per-plot lock, so that sweeps started by cron while an earlier one still runs never send
 * the same plot twice. The lock is `.plotferry-lock-NAME` beside the plot (storage/lockfile.ts):
 * held only while the very process that took it lives, so a lock left by a killed sweep, by an
 * earlier boot (PIDs are reused after a power loss) or holding a bare PID that is not a
 * plotferry sweep's is stale, and is taken over.
 *
 * Its token doubles as a probe: a harvester that finds this lock beside the copy it holds is
 * looking at the plotter's own source (wire/same-file-probe.ts), so that source is never removed as
 * "already held".
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromSystemError, PlotferryError } from '../core/errors.js';
import { acquireLock, LockAttempt } from '../storage/lockfile.js';
import { lockNameFor } from '../wire/names.js';

export function lockPathFor(file: string): string {
  return path.join(path.dirname(file), lockNameFor(path.basename(file)));
}

/**
 * Locks `file` for this process. A directory this user cannot write throws PF_PERMISSION naming
 * it: a sweep writes its lock there and removes the plot from there once moved, so it cannot
 * move anything out of it.
 */
export async function tryLock(file: string, role = 'sweep'): Promise<LockAttempt> {
  try {
    return await acquireLock(lockPathFor(file), role, oldSweepHolder);
  } catch (err) {
    throw cannotWriteDir(err, path.dirname(file), `lock ${path.basename(file)}`);
  }
}

/**
 * An OS error met writing in a plot directory, as a named error: PF_PERMISSION, naming the
 * directory, the user and what to do, when the directory refuses this user (or is read-only);
 * otherwise the error as fromSystemError() names it.
 */
export function cannotWriteDir(err: unknown, dir: string, doing: string): PlotferryError {
  const sys = (err as NodeJS.ErrnoException)?.code;
  if (sys !== 'EACCES' && sys !== 'EPERM' && sys !== 'EROFS')
    return fromSystemError(err, `cannot ${doing} in ${dir}`, 'PF_SOURCE');
  const why = sys === 'EROFS' ? `${dir} is on a read-only filesystem` : `user ${whoAmI()} cannot write ${dir}`;
  return new PlotferryError(
    'PF_PERMISSION',
    `cannot ${doing}: ${why} (${sys}); a sweep writes a lock beside each plot and removes the plot once it is stored, so it needs write access to the plot directory: run it as the user who owns the plots, or give that user write access (chown, chmod); nothing was sent, the source is kept`,
    { cause: err },
  );
}

function whoAmI(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
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
