/**
 * An exclusive lock file whose owner is proven alive (owner.ts), taken over when its owner is
 * gone. Used for a plotter's per-plot lock (plotter/lock.ts) and a receiver's per-directory lock
 * (dir-lock.ts).
 */
import { promises as fsp } from 'node:fs';
import { decodeOwner, describeOwner, encodeOwner, liveness, selfOwner } from './owner.js';

/** A takeover guard older than this was left by a process that died inside it. */
const TAKEOVER_STALE_MS = 30_000;

export interface HeldLock {
  /** The owner record's random token (see wire/same-file-probe.ts for one use). */
  readonly token: string;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** `token`: the holder's, when its lock is an owner record (to recognise one's own lock). */
export type LockAttempt = { ok: true; lock: HeldLock } | { ok: false; holder: string; token?: string };

/**
 * Takes `lock` for this process. `legacyHolder` judges content that is not an owner record (an
 * older plotferry's lock): the holder's description while it provably still runs, else undefined.
 * Errors other than "it exists" (EROFS, EACCES, ENOENT) are thrown as they are.
 */
export async function acquireLock(
  lock: string,
  role: string,
  legacyHolder: (content: string) => string | undefined = () => undefined,
): Promise<LockAttempt> {
  const me = selfOwner(role);
  const body = encodeOwner(me);
  const taken: LockAttempt = { ok: true, lock: { token: me.token, release: () => releaseIfOurs(lock, me.token) } };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fsp.writeFile(lock, body, { flag: 'wx' });
      return taken;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = await fsp.readFile(lock, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // released meanwhile
    const holder = liveHolder(seen, legacyHolder);
    if (holder) {
      const token = decodeOwner(seen)?.token;
      return { ok: false, holder, ...(token ? { token } : {}) };
    }
    // Stale. Replacing it must be one process's act: a guard file (O_EXCL) admits one taker,
    // which checks again under the guard that the lock still holds what was judged stale, and
    // swaps its own record in with one rename(2), so the lock never stops existing meanwhile.
    const guard = `${lock}.takeover`;
    try {
      await fsp.writeFile(guard, me.token, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A taker that died inside the guard leaves it behind: it is stale after a while.
      const age = await fsp.stat(guard).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      );
      if (age > TAKEOVER_STALE_MS) await fsp.rm(guard, { force: true });
      else return { ok: false, holder: 'another process, taking over a stale lock now' };
      continue;
    }
    try {
      const now = await fsp.readFile(lock, 'utf8').catch(() => undefined);
      if (now === seen) {
        const temp = `${lock}.${me.token}`;
        await fsp.writeFile(temp, body, { flag: 'wx' });
        await fsp.rename(temp, lock);
        return taken;
      }
      // Released or replaced meanwhile: look again.
    } finally {
      await fsp.rm(guard, { force: true });
    }
  }
  return { ok: false, holder: 'another process (the lock kept changing)' };
}

/** Who holds a lock with this content, when that owner provably still runs. */
export function liveHolder(
  content: string,
  legacyHolder: (content: string) => string | undefined = () => undefined,
): string | undefined {
  const owner = decodeOwner(content);
  if (!owner) return legacyHolder(content);
  const l = liveness(owner);
  if (l === 'alive') return describeOwner(owner);
  // Held from another host over a shared directory: it cannot be checked from here, so it holds.
  if (l === 'other-host') return `${describeOwner(owner)}, which this host cannot check`;
  return undefined;
}

async function releaseIfOurs(lock: string, token: string): Promise<void> {
  const content = await fsp.readFile(lock, 'utf8').catch(() => undefined);
  // unlink, not rm: one call (rm looks first). A lock already gone is fine, and so is one that
  // cannot be removed (its disk went read-only, or away): it names this process, which is about
  // to be gone, and the next taker proves that and takes it over. Throwing here left a harvester
  // that never exited on SIGTERM.
  if (content !== undefined && decodeOwner(content)?.token === token)
    await fsp.unlink(lock).catch(() => undefined);
}
