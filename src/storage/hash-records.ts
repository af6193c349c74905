/**
 * Hash records: the verified hash of a stored plot, kept beside it (names.ts) so that a plotter
 * that died between the transfer and the delete can check later that the copy is its plot.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { HASH_RECORD_SUFFIX, hashRecordPath, TEMP_PREFIX } from './names.js';

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
