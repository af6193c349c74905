/**
 * Who answers, from one sweep to the next. A sweep's first plot waits 500 ms on `has`
 * to learn which harvesters there are (plotter/holder-roster.ts): with cron running a sweep every few
 * minutes, that wait is paid by every run, and on a short run it is most of its fixed cost. So
 * `plotferry sweep` keeps what it learned in the user's cache (rosterCacheFile(): one file per
 * NATS URL and prefix, never beside the plots), and the next run starts from it. Nothing depends on it being
 * right: a harvester in it that is gone costs one announce's wait and is dropped, one that is new
 * joins when it answers, and a file that is missing, unreadable, from another prefix or older
 * than a day is ignored (the sweep learns with `has`, as before).
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ID_RE } from '../wire/names.js';

/** Where `plotferry sweep` keeps the roster of a farm: $XDG_CACHE_HOME (or ~/.cache)/plotferry/. */
export function rosterCacheFile(nats: string, prefix: string): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const key = createHash('sha256').update(`${nats}\n${prefix}`).digest('hex').slice(0, 16);
  return path.join(base, 'plotferry', `harvesters-${key}.json`);
}
/** A roster older than this is not used. */
export const ROSTER_MAX_AGE_MS = 24 * 3_600_000;

interface RosterRecord {
  v: 1;
  prefix: string;
  at: number;
  harvesters: string[];
}

/** The harvesters the last sweep heard on `prefix`, kept in `file`; undefined when there is no usable record. */
export async function loadRoster(file: string, prefix: string, now = Date.now()): Promise<string[] | undefined> {
  let r: Partial<RosterRecord>;
  try {
    r = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<RosterRecord>;
  } catch {
    return undefined;
  }
  if (r?.v !== 1 || r.prefix !== prefix || typeof r.at !== 'number' || !Array.isArray(r.harvesters)) return undefined;
  if (now - r.at > ROSTER_MAX_AGE_MS || r.at > now + 60_000) return undefined;
  const ids = r.harvesters.filter((h): h is string => typeof h === 'string' && ID_RE.test(h));
  return ids.length > 0 && ids.length <= 1024 ? ids : undefined;
}

/** Keeps `harvesters` in `file` for the next sweep (a temporary file renamed; failures ignored). */
export async function saveRoster(file: string, prefix: string, harvesters: readonly string[]): Promise<void> {
  const body: RosterRecord = { v: 1, prefix, at: Date.now(), harvesters: [...harvesters].sort() };
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(tmp, `${JSON.stringify(body)}\n`);
    await fsp.rename(tmp, file);
  } catch {
    // No writable cache (a read-only home): the next sweep learns with `has`, as before.
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
  }
}
