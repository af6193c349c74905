/**
 * A per-plot lock, so that sweeps started by cron while an earlier one still runs never send
 * the same plot twice. The lock is `.plotferry-lock-NAME` beside the plot, created with O_EXCL
 * and holding an owner record (storage/owner.ts: PID, process start time, boot id, host, a
 * random token). It is held only while that very process lives: a lock left by a killed sweep,
 * by an earlier boot (PIDs are reused after a power loss) or holding a bare PID that is not a
 * plotferry sweep's is stale, and is taken over.
 *
 * The token doubles as a probe: a harvester that finds this lock beside the copy it holds is
 * looking at the plotter's own source (an NFS mount, a host that plots and harvests, a wrong
 * cron line), and says so, so that the source is never removed as "already held".
 */
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeOwner, describeOwner, encodeOwner, liveness, selfOwner } from '../storage/owner.js';
import { lockNameFor } from '../wire/names.js';

export function lockPathFor(file: string): string {
  return path.join(path.dirname(file), lockNameFor(path.basename(file)));
}

export interface PlotLock {
  /** Seen by a harvester holding a copy beside this lock: the copy is this source. */
  readonly token: string;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

export type LockAttempt = { ok: true; lock: PlotLock } | { ok: false; holder: string };

export async function tryLock(file: string, role = 'sweep'): Promise<LockAttempt> {
  const lock = lockPathFor(file);
  const me = selfOwner(role);
  const body = encodeOwner(me);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fsp.writeFile(lock, body, { flag: 'wx' });
      return { ok: true, lock: { token: me.token, release: () => releaseIfOurs(lock, me.token) } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = await fsp.readFile(lock, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // released meanwhile
    const holder = liveHolder(seen);
    if (holder) return { ok: false, holder };
    // Stale. Rename it aside first: of several sweeps taking over the same stale lock, only one
    // rename succeeds, so two can never both remove it and each create "their" lock.
    const aside = `${lock}.stale-${me.token}`;
    try {
      await fsp.rename(lock, aside);
    } catch {
      continue; // another sweep took it over first
    }
    const moved = await fsp.readFile(aside, 'utf8').catch(() => '');
    if (moved !== seen) {
      // A fresh lock was created between our read and the rename: put it back.
      await fsp.link(aside, lock).catch(() => undefined);
      await fsp.rm(aside, { force: true });
      const now = decodeOwner(moved);
      return { ok: false, holder: now ? describeOwner(now) : 'another sweep' };
    }
    await fsp.rm(aside, { force: true });
  }
  return { ok: false, holder: 'another sweep (the lock kept changing)' };
}

/** Who holds a lock with this content, when that owner provably still runs. */
function liveHolder(content: string): string | undefined {
  const owner = decodeOwner(content);
  if (owner) {
    const l = liveness(owner);
    if (l === 'alive') return describeOwner(owner);
    // A sweep on another host over a shared directory: its lock cannot be checked, so it holds.
    if (l === 'other-host') return `${describeOwner(owner)}, which this host cannot check`;
    return undefined;
  }
  // An old plotferry's lock holds a bare PID: held only by a live process that is a plotferry sweep.
  const pid = Number(content.trim());
  if (Number.isSafeInteger(pid) && pid > 0 && isPlotferrySweep(pid)) return `sweep (pid ${pid})`;
  return undefined;
}

function isPlotferrySweep(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return false;
  }
  return /plotferry|main\.js/.test(cmdline) && /\bsweep\b/.test(cmdline);
}

async function releaseIfOurs(lock: string, token: string): Promise<void> {
  const content = await fsp.readFile(lock, 'utf8').catch(() => undefined);
  if (content !== undefined && decodeOwner(content)?.token === token) await fsp.rm(lock, { force: true });
}
