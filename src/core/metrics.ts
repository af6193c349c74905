/**
 * Prometheus metrics (prom-client, the standard Node client), for `--metrics HOST:PORT` on
 * `harvester`, `listen` and `sweep --watch`. One registry per process. The code counts into it
 * whether or not anyone scrapes; the counting is a few additions per plot.
 *
 * Names follow Prometheus conventions: `plotferry_` prefix, base units (bytes, seconds),
 * `_total` for counters. Every label set is bounded. `outcome` is ok|failed, `code` is a
 * PF_* code, and `dir` is a configured receiving directory. A plot name is never a label.
 */
import client from 'prom-client';

export const registry = new client.Registry();

let defaults = false;
/**
 * The process metrics (CPU, memory, event-loop lag), from when metrics are served on: their
 * event-loop monitor wakes the loop every `eventLoopMonitoringPrecision` ms, which at prom-client's
 * 10 ms default was most of an idle harvester's CPU (1.4% of a core measured over 20 s, with or
 * without --metrics). At 100 ms it stays a fraction of that.
 */
export function collectProcessMetrics(): void {
  if (defaults) return;
  defaults = true;
  client.collectDefaultMetrics({ register: registry, prefix: 'plotferry_', eventLoopMonitoringPrecision: 100 });
}

const counter = (name: string, help: string, labelNames: string[] = []) =>
  new client.Counter({ name, help, labelNames, registers: [registry] });

export const metrics = {
  receivedBytes: counter('plotferry_received_bytes_total', 'Bytes received, by outcome of their transfer', ['outcome']),
  receivedPlots: counter('plotferry_received_plots_total', 'Plots received, by outcome', ['outcome']),
  sentBytes: counter('plotferry_sent_bytes_total', 'Bytes sent (sweep --watch), by outcome of their plot', ['outcome']),
  sentPlots: counter('plotferry_sent_plots_total', 'Plots handled by sweep --watch, by outcome', ['outcome']),
  failures: counter('plotferry_failures_total', 'Transfers that failed, by error code', ['code']),
  authRefusals: counter('plotferry_auth_refusals_total', 'Connections refused for a wrong or missing token'),
  bids: counter('plotferry_bids_total', 'Bids this harvester sent (busy ones included)'),
  bidsWon: counter('plotferry_bids_won_total', 'Claims this harvester took (bids it won)'),
  replotDeletedPlots: counter('plotferry_replot_deleted_plots_total', 'PoS1 plots deleted by --replot'),
  replotDeletedBytes: counter('plotferry_replot_deleted_bytes_total', 'Bytes of PoS1 plots deleted by --replot'),
  headerReads: counter(
    'plotferry_header_reads_total',
    'Plot headers read from disk for the plot index (a restart of an unchanged disk reads none)',
  ),
  activeTransfers: new client.Gauge({
    name: 'plotferry_active_transfers',
    help: 'Transfers running now, by direction',
    labelNames: ['direction'],
    registers: [registry],
  }),
  transferSeconds: new client.Histogram({
    name: 'plotferry_transfer_duration_seconds',
    help: 'Duration of transfers that stored a plot, by direction',
    labelNames: ['direction'],
    // A 1 GiB plot at 10GbE is ~1 s; a 101 GiB one at an HDD's 250 MB/s ~7 min.
    buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  }),
  finalSyncSeconds: new client.Histogram({
    name: 'plotferry_final_sync_seconds',
    help: "A received file's last fsync before it is published (what write-behind, --flush-every, left to write back), by receiving directory",
    labelNames: ['dir'],
    // tmpfs: microseconds; a disk with write-behind: tens of ms; without, or a slow disk: seconds.
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  }),
  bidSeconds: new client.Histogram({
    name: 'plotferry_bid_latency_seconds',
    help: 'From announcing a plot to taking a bid (sweep --watch)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers: [registry],
  }),
};

/** Per-directory figures, read at each scrape from whoever holds the disks (a harvester, a listener). */
export interface DiskFigures {
  dir: string;
  freeBytes: number;
  totalBytes: number;
  pos1Bytes?: number;
  pos2Bytes?: number;
  /** Its disk is gone (PF_DISK_GONE). */
  gone?: boolean;
}

let diskSource: (() => Promise<DiskFigures[]>) | undefined;

/** Who answers the disk gauges at a scrape (the last one set wins: one receiver per process). */
export function setDiskSource(source: (() => Promise<DiskFigures[]>) | undefined): void {
  diskSource = source;
}

const diskGauge = (name: string, help: string, pick: (d: DiskFigures) => number | undefined) =>
  new client.Gauge({
    name,
    help,
    labelNames: ['dir'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of (await diskSource?.().catch(() => [])) ?? []) {
        const v = pick(d);
        if (v !== undefined) this.set({ dir: d.dir }, v);
      }
    },
  });
diskGauge('plotferry_disk_free_bytes', 'Free bytes of each receiving directory', (d) => d.freeBytes);
diskGauge('plotferry_disk_total_bytes', 'Size of the filesystem of each receiving directory', (d) => d.totalBytes);
diskGauge('plotferry_disk_pos1_bytes', 'Bytes of PoS1 plots in each receiving directory', (d) => d.pos1Bytes);
diskGauge('plotferry_disk_pos2_bytes', 'Bytes of PoS2 plots in each receiving directory', (d) => d.pos2Bytes);
diskGauge(
  'plotferry_disk_gone',
  "1 while a receiving directory's disk is gone (unmounted: PF_DISK_GONE), else 0",
  (d) => (d.gone === undefined ? undefined : d.gone ? 1 : 0),
);

/** A transfer's outcome as the counters take it. */
export function countReceived(ok: boolean, bytes: number, seconds: number | undefined, code?: string): void {
  const outcome = ok ? 'ok' : 'failed';
  metrics.receivedPlots.inc({ outcome });
  metrics.receivedBytes.inc({ outcome }, bytes);
  if (ok && seconds !== undefined) metrics.transferSeconds.observe({ direction: 'receive' }, seconds);
  if (!ok && code) {
    metrics.failures.inc({ code });
    if (code === 'PF_AUTH') metrics.authRefusals.inc();
  }
}
