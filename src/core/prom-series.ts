/**
 * The Prometheus series behind core/metrics.ts, with prom-client (the standard Node client).
 * Loaded only by a process that serves `--metrics` (core/metrics-server.ts), at its start: a
 * cron `sweep` or a `send` does not pay for prom-client (~55 ms of start-up, ~90 files with
 * @opentelemetry/api), and its counts would have gone nowhere.
 */
import client from 'prom-client';
import { ErrorCodes } from './errors.js';
import { bindMetrics, diskSource, diskStateSamples, type DiskFigures, type MetricsRole } from './metrics.js';

/** Who serves the metrics: each exports only the series it can have (none as idle zeros). */
const RECEIVERS: readonly MetricsRole[] = ['harvester', 'listen'];
const ALL: readonly MetricsRole[] = ['harvester', 'listen', 'sweep'];

/** The process's registry: empty until a role is served (useRole). */
export const registry = new client.Registry();

/** Every series with the roles that have it (the counting code counts whether served or not). */
const owners = new Map<client.Metric, readonly MetricsRole[]>();
function of<M extends client.Metric>(roles: readonly MetricsRole[], m: M): M {
  owners.set(m, roles);
  return m;
}

let defaults = false;
/**
 * The process metrics (`process_*`, `nodejs_*`: CPU, memory, open fds, event-loop lag) under
 * their usual names, so the dashboards made for any Node.js service read them. Their event-loop
 * monitor wakes the loop every `eventLoopMonitoringPrecision` ms, which at prom-client's
 * 10 ms default was most of an idle harvester's CPU (1.4% of a core measured over 20 s, with or
 * without --metrics). At 100 ms it stays a fraction of that.
 */
export function collectProcessMetrics(): void {
  if (defaults) return;
  defaults = true;
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
}

/** Registers `role`'s series in the process registry (a second role adds its own). */
export function useRole(role: MetricsRole): void {
  for (const m of metricsOf(role)) {
    const name = (m as unknown as { name: string }).name;
    if (registry.getSingleMetric(name)) continue;
    registry.registerMetric(m);
    startAtZero(m, role);
  }
}

type Labels = Record<string, string>;
const OUTCOMES: Labels[] = [{ outcome: 'ok' }, { outcome: 'failed' }];

/**
 * The label sets a series is exported with at 0 from the start. prom-client creates a labelled
 * series at its first inc(), already at 1, so `increase()` never saw the first failure of a
 * kind rise (an alert on `increase(plotferry_failures_total[1h]) > 0` missed it). Bounded: the
 * PF_* codes, the outcomes, the role's direction. Per-directory series start at 0 where the
 * directories are known (metrics.ts countDirs).
 */
function zeroLabels(m: client.Metric, role: MetricsRole): Labels[] {
  const direction = [{ direction: role === 'sweep' ? 'send' : 'receive' }];
  switch (m) {
    case series.failures:
      return Object.keys(ErrorCodes).map((code) => ({ code }));
    case series.receivedBytes:
    case series.receivedPlots:
    case series.sentBytes:
    case series.sentPlots:
      return OUTCOMES;
    case series.transferSeconds:
      return direction;
    case series.activeTransfers:
      return role === 'sweep' ? [] : direction;
    default:
      return [];
  }
}

function startAtZero(m: client.Metric, role: MetricsRole): void {
  for (const labels of zeroLabels(m, role)) {
    // At its first registration only: zero() would reset a histogram that already counts.
    if (m instanceof client.Histogram) m.zero(labels);
    else if (m instanceof client.Counter || m instanceof client.Gauge) m.inc(labels, 0);
  }
}

/** The series `role` exports (besides the process metrics). */
export function metricsOf(role: MetricsRole): client.Metric[] {
  return [...owners].filter(([, roles]) => roles.includes(role)).map(([m]) => m);
}

/** Every plotferry series, of any role. */
export function allMetrics(): client.Metric[] {
  return [...owners.keys()];
}

const counter = (roles: readonly MetricsRole[], name: string, help: string, labelNames: string[] = []) =>
  of(roles, new client.Counter({ name, help, labelNames, registers: [] }));

/** The series, by the name the counting code knows them by (metrics.ts `metrics`). */
export const series = {
  receivedBytes: counter(RECEIVERS, 'plotferry_received_bytes_total', 'Bytes received, by outcome of their transfer', [
    'outcome',
  ]),
  receivedPlots: counter(RECEIVERS, 'plotferry_received_plots_total', 'Plots received, by outcome', ['outcome']),
  sentBytes: counter(['sweep'], 'plotferry_sent_bytes_total', 'Bytes sent (sweep --watch), by outcome of their plot', [
    'outcome',
  ]),
  sentPlots: counter(['sweep'], 'plotferry_sent_plots_total', 'Plots handled by sweep --watch, by outcome', [
    'outcome',
  ]),
  failures: counter(
    ALL,
    'plotferry_failures_total',
    'Transfers that failed (received, or sent by sweep --watch), by error code',
    ['code'],
  ),
  diskFailures: counter(
    RECEIVERS,
    'plotferry_disk_failures_total',
    'Writes that failed on a receiving directory and took its disk out of rotation, by directory and error code',
    ['dir', 'code'],
  ),
  authRefusals: counter(RECEIVERS, 'plotferry_auth_refusals_total', 'Connections refused for a wrong or missing token'),
  headerReads: counter(
    RECEIVERS,
    'plotferry_header_reads_total',
    'Plot headers read from disk for the plot index (a restart of an unchanged disk reads none)',
  ),
  bids: counter(['harvester'], 'plotferry_bids_total', 'Bids this harvester sent (busy ones included)'),
  bidsWon: counter(['harvester'], 'plotferry_bids_won_total', 'Claims this harvester took (bids it won)'),
  replotDeletedPlots: counter(['harvester'], 'plotferry_replot_deleted_plots_total', 'PoS1 plots deleted by --replot'),
  replotDeletedBytes: counter(
    ['harvester'],
    'plotferry_replot_deleted_bytes_total',
    'Bytes of PoS1 plots deleted by --replot',
  ),
  activeTransfers: of(
    RECEIVERS,
    new client.Gauge({
      name: 'plotferry_active_transfers',
      help: 'Transfers running now, by direction',
      labelNames: ['direction'],
      registers: [],
    }),
  ),
  transferSeconds: of(
    ALL,
    new client.Histogram({
      name: 'plotferry_transfer_duration_seconds',
      help: 'Duration of transfers that stored a plot, by direction',
      labelNames: ['direction'],
      // A 1 GiB plot at 10GbE is ~1 s; a 101 GiB one at an HDD's 250 MB/s ~7 min.
      buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1800],
      registers: [],
    }),
  ),
  finalSyncSeconds: of(
    RECEIVERS,
    new client.Histogram({
      name: 'plotferry_final_sync_seconds',
      help: "A received file's last fsync before it is published (what write-behind, --flush-every, left to write back), by receiving directory",
      labelNames: ['dir'],
      // tmpfs: microseconds; a disk with write-behind: tens of ms; without, or a slow disk: seconds.
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [],
    }),
  ),
  natsConnected: of(
    ['harvester', 'sweep'],
    new client.Gauge({
      name: 'plotferry_nats_connected',
      help: '1 while NATS is reached, 0 while it is not (at start, or after a disconnect: no plot moves)',
      registers: [],
    }),
  ),
  bidSeconds: of(
    ['sweep'],
    new client.Histogram({
      name: 'plotferry_bid_latency_seconds',
      help: 'From announcing a plot to taking a bid (sweep --watch)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [],
    }),
  ),
};

const diskGauge = (name: string, help: string, pick: (d: DiskFigures) => number | undefined) =>
  of(
    RECEIVERS,
    new client.Gauge({
      name,
      help,
      labelNames: ['dir'],
      registers: [],
      async collect() {
        this.reset();
        for (const d of (await diskSource()?.().catch(() => [])) ?? []) {
          const v = pick(d);
          if (v !== undefined) this.set({ dir: d.dir }, v);
        }
      },
    }),
  );
diskGauge('plotferry_disk_free_bytes', 'Free bytes of each receiving directory', (d) => d.freeBytes);
diskGauge('plotferry_disk_total_bytes', 'Size of the filesystem of each receiving directory', (d) => d.totalBytes);
diskGauge('plotferry_disk_pos1_bytes', 'Bytes of PoS1 plots in each receiving directory', (d) => d.pos1Bytes);
diskGauge('plotferry_disk_pos2_bytes', 'Bytes of PoS2 plots in each receiving directory', (d) => d.pos2Bytes);
diskGauge(
  'plotferry_disk_gone',
  "1 while a receiving directory's disk is gone (unmounted: PF_DISK_GONE), else 0",
  (d) => (d.gone === undefined ? undefined : d.gone ? 1 : 0),
);
of(
  RECEIVERS,
  new client.Gauge({
    name: 'plotferry_disk_state',
    help: 'Each receiving directory: 1 for its state (in-rotation; out: failed after a failed write, disabled by plotferry.disable, not-mounted, unusable otherwise), 0 for the others',
    labelNames: ['dir', 'state'],
    registers: [],
    async collect() {
      this.reset();
      for (const s of diskStateSamples((await diskSource()?.().catch(() => [])) ?? []))
        this.set({ dir: s.dir, state: s.state }, s.value);
    },
  }),
);

bindMetrics(series);
