/**
 * What each receiving directory holds, for heartbeats and `status`, without touching every plot
 * every few seconds. Counting and sizing a directory (readdir, then `du` through
 * fast-folder-size) costs O(plots): with 18,000 PoS2 plots on each of 20 disks that is 360,000
 * files every 5 s, CPU all the time, and HDDs that never sleep. So the counts are kept here:
 * a plot this harvester stores is added as it lands, and a slow reconciliation scan (at start,
 * then every `rescanMs`, default 10 min) catches what changed outside plotferry (a farmer's
 * `rm`, a copy by hand). Free and total space come from statfs on every heartbeat, which is O(1).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as fastFolderSizeModule from 'fast-folder-size';
import type { Logger } from 'pino';
import { isPlotFileName } from '../wire/names.js';

// A CommonJS module whose typings say `export default`: under NodeNext the function is the
// namespace's default, as Node itself provides it.
const fastFolderSize = (
  fastFolderSizeModule as unknown as { default: (dir: string, cb: (err: Error | null, bytes?: number) => void) => void }
).default;
/** Bytes under `dir` (it runs `du`). */
const folderSize = promisify(fastFolderSize) as (dir: string) => Promise<number | undefined>;

export const DEFAULT_RESCAN_MS = 10 * 60_000;

export interface DirCounts {
  plots: number;
  /** Bytes of the plot files alone (hidden records, locks and other files are not plots). */
  plotBytes: number;
  /** Bytes of everything else under the directory (`du` less the plots), at the last scan. */
  otherBytes: number;
}

/** Stats issued at once during a scan: enough to keep a disk's queue busy, few enough to share it. */
const STAT_BATCH = 64;

export class Inventory {
  /** Per directory: every plot's name and size, and their sum. */
  private readonly plots = new Map<string, PlotIndex>();
  private readonly other = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;

  constructor(
    private readonly dirs: () => readonly string[],
    private readonly log: Logger,
    private readonly rescanMs = DEFAULT_RESCAN_MS,
  ) {}

  /** Scans now, then every rescanMs (the timer does not keep the process alive). */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.rescan(), this.rescanMs);
    this.timer.unref();
    return this.rescan();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The counts of `dir` (zero before its first scan), from the index: O(1), no disk touched. */
  of(dir: string): DirCounts {
    const m = this.plots.get(dir);
    return { plots: m?.size ?? 0, plotBytes: m?.bytes ?? 0, otherBytes: this.other.get(dir) ?? 0 };
  }

  /** The plots `dir` holds, by name with their sizes (a read-only view of the index). */
  plotsIn(dir: string): ReadonlyMap<string, number> {
    return this.plots.get(dir) ?? new PlotIndex();
  }

  /** A plot this process stored in `dir`: counted at once, not at the next scan. */
  added(finalPath: string, bytes: number): void {
    if (!isPlotFileName(path.basename(finalPath))) return;
    this.plots.get(path.dirname(finalPath))?.set(path.basename(finalPath), bytes);
  }

  /** A plot this process removed. */
  removed(finalPath: string): void {
    this.plots.get(path.dirname(finalPath))?.delete(path.basename(finalPath));
  }

  /**
   * One reconciliation scan of every directory (never two at once): the names and sizes of its
   * plots (readdir, then a stat of each plot, O(plots) every rescanMs), and `du` through
   * fast-folder-size for what else the directory holds.
   */
  rescan(): Promise<void> {
    this.scanning ??= (async () => {
      const t0 = Date.now();
      let files = 0;
      for (const dir of this.dirs()) {
        const names = await fsp.readdir(dir).catch(() => undefined);
        if (!names) continue;
        const found = new PlotIndex();
        const plotNames = names.filter(isPlotFileName);
        for (let i = 0; i < plotNames.length; i += STAT_BATCH) {
          await Promise.all(
            plotNames.slice(i, i + STAT_BATCH).map(async (n) => {
              const st = await fsp.lstat(path.join(dir, n)).catch(() => undefined);
              if (st?.isFile()) found.set(n, st.size);
            }),
          );
        }
        files += found.size;
        const before = this.plots.get(dir);
        if (before) logDrift(this.log, dir, before, found);
        this.plots.set(dir, found);
        const total = (await folderSize(dir).catch(() => 0)) ?? 0;
        const dirSelf = (await fsp.stat(dir).catch(() => undefined))?.size ?? 0;
        this.other.set(dir, Math.max(0, total - found.bytes - dirSelf));
      }
      this.log.debug({ ms: Date.now() - t0, plots: files }, 'inventory scanned');
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }
}

/** Plot names and sizes, keeping their sum up to date, so counts cost O(1). */
class PlotIndex extends Map<string, number> {
  bytes = 0;

  override set(name: string, size: number): this {
    this.bytes += size - (super.get(name) ?? 0);
    return super.set(name, size);
  }

  override delete(name: string): boolean {
    this.bytes -= super.get(name) ?? 0;
    return super.delete(name);
  }
}

/** Plots that came or went outside plotferry since the last scan, said once in the log. */
function logDrift(log: Logger, dir: string, before: ReadonlyMap<string, number>, now: ReadonlyMap<string, number>) {
  let gone = 0;
  let came = 0;
  for (const n of before.keys()) if (!now.has(n)) gone++;
  for (const n of now.keys()) if (!before.has(n)) came++;
  if (gone || came)
    log.info(
      { dir, gone, came },
      `inventory: ${gone} plot(s) removed and ${came} added outside plotferry since the last scan`,
    );
}
