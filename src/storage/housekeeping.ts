/** A receiver's start, and the cleaning of what a crash left in a directory it holds. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { countDirs } from '../core/metrics.js';
import { DiskSet, type DiskSetOptions } from './disks.js';
import { forgetHashRecord, ledgerFor } from './hash-records.js';
import { Replotter, ReplotSettings } from './replot.js';
import { isTempName } from './hidden-names.js';

/**
 * A receiver's start: claims its directories (refusing to start where another live plotferry
 * serves one), and says which cannot take files now (they are looked at again for every file).
 * Housekeeping runs in each directory as it is claimed (see housekeep()).
 */
export async function prepareDirs(disks: DiskSet, log: Logger): Promise<void> {
  countDirs(disks.dirs);
  for (const info of await disks.open())
    if (info.unusable) log.warn({ dir: info.dir }, `directory ${info.unusable}; it is skipped until that changes`);
}

/**
 * Removes what a crash left in `dir` (temporary files) and opens its hash ledger. Only
 * for a directory this process holds (storage/dir-lock.ts): another receiver's temporary files
 * are its running transfers.
 */
export async function housekeep(dir: string, log: Logger): Promise<void> {
  for (const p of await removeStaleTemps(dir)) log.info({ path: p }, 'removed a temporary file left by an earlier run');
  // The hash ledger: read, repaired if a crash cut it, old per-plot records taken in (ledger.ts).
  await ledgerFor(dir, log).catch((err: unknown) =>
    log.warn({ dir, err }, 'the hash ledger could not be opened; hashes of plots stored here are unknown'),
  );
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

/**
 * A receiver's disks (`listen`, `harvester`): each directory claimed for `role` before it is
 * used, and cleaned of a crash's leftovers when it is claimed.
 */
export function receiverDisks(
  role: string,
  dirs: readonly string[],
  o: {
    reserveBytes?: number;
    requireMount?: boolean;
    /** Use directories on the root filesystem (storage/disks.ts). */
    allowRootFs?: boolean;
    /** What happens to the directories (storage/disk-events.ts): the receiver notifies. */
    onEvent?: DiskSetOptions['onEvent'];
    /** A directory became this process's (at start, or later: a disk mounted, remounted writable). */
    onClaimed?: (dir: string) => void;
    log: Logger;
    /** --replot: PoS1 plots give way to incoming plots (replot.ts). */
    replot?: ReplotSettings;
    /** A plot --replot deleted (the receiver's plot counts). */
    onPlotDeleted?: (file: string, bytes: number) => void;
    /** What a directory holds of a plot group (the harvester's inventory), for placement. */
    groups?: DiskSetOptions['groups'];
  },
): DiskSet {
  const replot = o.replot
    ? new Replotter({
        ...o.replot,
        log: o.log,
        onDeleted: async (file, bytes) => {
          await forgetHashRecord(file);
          o.onPlotDeleted?.(file, bytes);
        },
      })
    : undefined;
  return new DiskSet(dirs, {
    reserveBytes: o.reserveBytes,
    requireMount: o.requireMount,
    ...(o.allowRootFs ? { allowRootFs: true } : {}),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    owner: role,
    onClaimed: async (dir) => {
      await housekeep(dir, o.log);
      o.onClaimed?.(dir);
    },
    log: o.log,
    ...(replot ? { replot } : {}),
    ...(o.groups ? { groups: o.groups } : {}),
  });
}
