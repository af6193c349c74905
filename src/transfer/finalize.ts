/**
 * The file-system side of receiving: the temporary name, and the steps that make a received
 * file durable and visible under its final name without ever overwriting one.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { fromSystemError, PlotferryError } from '../errors.js';
import type { DiskSet } from '../farm/disks.js';
import { besideHeld } from '../storage/probe.js';
import { ExistsError, HeldInfo } from '../wire/messages.js';

/**
 * `.plotferry-<name>.<8 hex>.partial`: the leading dot hides it from harvesters and from
 * `*.plot` globs, the suffix from anything that looks at extensions, and the random part keeps
 * two attempts apart.
 */
export const TEMP_PREFIX = '.plotferry-';
export const TEMP_SUFFIX = '.partial';

export function tempPathFor(dir: string, name: string): string {
  return path.join(dir, `${TEMP_PREFIX}${name}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
}

export function isTempName(file: string): boolean {
  return file.startsWith(TEMP_PREFIX) && file.endsWith(TEMP_SUFFIX);
}

/**
 * `.plotferry-<name>.<size>.resume`: what a broken transfer left, kept for a later one to
 * continue (resume). Its length is the count of good bytes: only bytes whose writes completed,
 * in file order, are kept. Hidden like a temporary file, but not removed at start: a restart
 * does not cost the partial. Expired ones (older than the partial TTL) are removed.
 */
export const PARTIAL_SUFFIX = '.resume';

export function partialPathFor(dir: string, name: string, size: number): string {
  return path.join(dir, `${TEMP_PREFIX}${name}.${size}${PARTIAL_SUFFIX}`);
}

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
  for (const dir of dirs) {
    const p = partialPathFor(dir, name, size);
    try {
      const st = await fsp.stat(p);
      if (st.isFile() && now - st.mtimeMs < ttlMs && st.size > 0 && st.size <= size)
        return { dir, path: p, bytes: st.size };
    } catch {
      // none here
    }
  }
  return undefined;
}

/**
 * `.plotferry-<name>.xxh64`: the verified hash of a stored plot, written when it is published,
 * so a plotter that died after the transfer but before deleting its source can check later that
 * the harvester's copy is its plot (`has` answers with it) and delete the source then.
 */
export const HASH_RECORD_SUFFIX = '.xxh64';

function hashRecordPath(finalPath: string): string {
  return path.join(path.dirname(finalPath), `${TEMP_PREFIX}${path.basename(finalPath)}${HASH_RECORD_SUFFIX}`);
}

/** Best effort: a failure only means a later duplicate cannot be verified. */
export async function writeHashRecord(finalPath: string, hash: string, size: number): Promise<boolean> {
  try {
    await fsp.writeFile(hashRecordPath(finalPath), `${JSON.stringify({ hash, size })}\n`);
    return true;
  } catch {
    return false;
  }
}

/** The recorded hash of `finalPath`, if the record is for a file of its current size. */
export async function readHashRecord(finalPath: string): Promise<string | undefined> {
  try {
    const [rec, st] = await Promise.all([fsp.readFile(hashRecordPath(finalPath), 'utf8'), fsp.stat(finalPath)]);
    const r = JSON.parse(rec) as { hash?: unknown; size?: unknown };
    if (typeof r.hash === 'string' && /^[0-9a-f]{16}$/.test(r.hash) && r.size === st.size) return r.hash;
  } catch {
    // no record, or not one for this file
  }
  return undefined;
}

/** Removes hash records whose plot is gone (deleted or moved by the farmer). */
export async function removeOrphanHashRecords(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const entries = await fsp.readdir(dir).catch(() => [] as string[]);
  const names = new Set(entries);
  for (const e of entries) {
    if (!(e.startsWith(TEMP_PREFIX) && e.endsWith(HASH_RECORD_SUFFIX))) continue;
    if (names.has(e.slice(TEMP_PREFIX.length, -HASH_RECORD_SUFFIX.length))) continue;
    await fsp.unlink(path.join(dir, e)).then(
      () => removed.push(path.join(dir, e)),
      () => undefined,
    );
  }
  return removed;
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

/** Which of `dirs` already holds `name`, if any. */
export async function findExisting(dirs: readonly string[], name: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      await fsp.lstat(p);
      return p;
    } catch {
      // absent (or unreadable dir: the disk set reports that one)
    }
  }
  return undefined;
}

/**
 * Throws PF_EXISTS when any of `dirs` holds `name`: a file is never received over another. The
 * error describes the copy (size, recorded hash, what lies beside it for `probe`), so a sender
 * whose RESULT was lost can tell that the copy is its plot (plotter/held.ts).
 */
export async function assertNameFree(dirs: readonly string[], name: string, probe?: string): Promise<void> {
  const existing = await findExisting(dirs, name);
  if (!existing) return;
  const message = `${existing} exists already; it was not overwritten`;
  const held = await describeHeld(existing, probe);
  throw held ? new ExistsError(message, held) : new PlotferryError('PF_EXISTS', message);
}

/** A stored plot as `has` and PF_EXISTS describe it; undefined when it is not a regular file. */
export async function describeHeld(p: string, probe: string | undefined): Promise<HeldInfo | undefined> {
  const st = await fsp.stat(p).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const [hash, beside] = await Promise.all([readHashRecord(p), besideHeld(p, probe)]);
  return { path: p, size: st.size, beside, ...(hash ? { hash } : {}) };
}

/**
 * A receiver's start: claims its directories (refusing to start where another live plotferry
 * serves one), and says which cannot take files now (they are looked at again for every file).
 * Housekeeping runs in each directory as it is claimed (see housekeep()).
 */
export async function prepareDirs(disks: DiskSet, log: Logger): Promise<void> {
  for (const info of await disks.open())
    if (info.unusable) log.warn({ dir: info.dir }, `directory ${info.unusable}; it is skipped until that changes`);
}

/**
 * Removes what a crash left in `dir`: temporary files, and hash records whose plot is gone. Only
 * for a directory this process holds (storage/dir-lock.ts): another receiver's temporary files
 * are its running transfers.
 */
export async function housekeep(dir: string, log: Logger): Promise<void> {
  for (const p of await removeStaleTemps(dir)) log.info({ path: p }, 'removed a temporary file left by an earlier run');
  for (const p of await removeOrphanHashRecords(dir))
    log.debug({ path: p }, 'removed the hash record of a plot that is gone');
}

/** Errors from link(2) that mean "this file system has no hard links", not "it failed". */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV']);

/**
 * Moves the synced temporary file to its final name, never overwriting: link(2) fails with
 * EEXIST where rename(2) would silently replace. On file systems without hard links (exFAT,
 * some FUSE mounts) it falls back to check-then-rename, which only a concurrent writer of the
 * same name outside plotferry could race. Then fsyncs the directory so the name survives a
 * power cut.
 */
export async function publish(tempPath: string, finalPath: string): Promise<void> {
  try {
    await fsp.link(tempPath, finalPath);
    await fsp.unlink(tempPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new PlotferryError(
        'PF_EXISTS',
        `${finalPath} appeared while the file was received; it was not overwritten`,
      );
    }
    if (!code || !NO_LINK.has(code)) throw fromSystemError(err, `publishing ${finalPath}`);
    try {
      await fsp.lstat(finalPath);
      throw new PlotferryError(
        'PF_EXISTS',
        `${finalPath} appeared while the file was received; it was not overwritten`,
      );
    } catch (e) {
      if (e instanceof PlotferryError) throw e;
    }
    try {
      await fsp.rename(tempPath, finalPath);
    } catch (e) {
      throw fromSystemError(e, `renaming to ${finalPath}`);
    }
  }
  await syncDir(path.dirname(finalPath));
}

export async function syncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } catch (err) {
    // Some file systems refuse fsync on a directory (EINVAL); the data itself is synced.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw fromSystemError(err, `syncing directory ${dir}`);
  } finally {
    await h.close();
  }
}

/** Removes plotferry's temporary files left in `dir` by a crash. Returns what it removed. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const e of entries) {
    if (!isTempName(e)) continue;
    const p = path.join(dir, e);
    try {
      await fsp.unlink(p);
      removed.push(p);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}
