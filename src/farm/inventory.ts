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
  plotBytes: number;
}

export class Inventory {
  private readonly counts = new Map<string, DirCounts>();
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

  /** The last counts of `dir` (zero before its first scan). */
  of(dir: string): DirCounts {
    return this.counts.get(dir) ?? { plots: 0, plotBytes: 0 };
  }

  /** A plot this process stored in `dir`: counted at once, not at the next scan. */
  added(finalPath: string, bytes: number): void {
    if (!isPlotFileName(path.basename(finalPath))) return;
    const c = this.counts.get(path.dirname(finalPath));
    if (c) this.counts.set(path.dirname(finalPath), { plots: c.plots + 1, plotBytes: c.plotBytes + bytes });
  }

  /** One reconciliation scan of every directory (never two at once). */
  rescan(): Promise<void> {
    this.scanning ??= (async () => {
      const t0 = Date.now();
      for (const dir of this.dirs()) {
        const names = await fsp.readdir(dir).catch(() => undefined);
        if (!names) continue;
        const plots = names.filter(isPlotFileName).length;
        const plotBytes = (await folderSize(dir).catch(() => 0)) ?? 0;
        this.counts.set(dir, { plots, plotBytes });
      }
      this.log.debug({ ms: Date.now() - t0 }, 'inventory scanned');
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }
}
