/**
 * Prometheus metrics for `--metrics HOST:PORT` on `harvester`, `listen` and `sweep --watch`: what
 * the code counts. The counting code calls `metrics.*` whether or not anyone scrapes; the series
 * behind them (prom-client, core/prom-series.ts) are loaded only by a process that serves
 * metrics, which starts serving before it handles a plot. Until then a count is a no-op.
 *
 * Names follow Prometheus conventions: `plotferry_` prefix, base units (bytes, seconds),
 * `_total` for counters. Every label set is bounded. `outcome` is ok|failed, `code` is a
 * PF_* code, `dir` is a configured receiving directory, and `state` one of DISK_STATES. A plot name is never a label.
 */

import { DISK_FAULTS } from './errors.js';

/** Who serves the metrics: each exports only the series it can have (none as idle zeros). */
export type MetricsRole = 'harvester' | 'listen' | 'sweep';

type Labels = Record<string, string>;

/** One of prom-client's update methods: with labels, or a value alone. */
type Update = { (labels: Labels, value?: number): void; (value?: number): void };

/** What the counting code needs of a series: prom-client's Counter, Gauge and Histogram have it. */
interface Series {
  inc?: Update;
  dec?: Update;
  observe?: Update;
  set?: Update;
}

const call = (f: Update | undefined, labels: Labels | number, value?: number) => {
  if (!f) return;
  if (typeof labels === 'number') f(labels);
  else f(labels, value);
};

/** A series as the counting code sees it: forwards to prom-client's once bound, else nothing. */
class Recorder {
  series: Series | undefined;
  inc(labels: Labels | number = {}, value?: number): void {
    call(this.series?.inc?.bind(this.series), labels, value);
  }
  dec(labels: Labels | number = {}, value?: number): void {
    call(this.series?.dec?.bind(this.series), labels, value);
  }
  observe(labels: Labels | number, value?: number): void {
    call(this.series?.observe?.bind(this.series), labels, value);
  }
  set(labels: Labels | number, value?: number): void {
    call(this.series?.set?.bind(this.series), labels, value);
  }
}

const KEYS = [
  'receivedBytes',
  'receivedPlots',
  'sentBytes',
  'sentPlots',
  'failures',
  'diskFailures',
  'authRefusals',
  'headerReads',
  'bids',
  'bidsWon',
  'replotDeletedPlots',
  'replotDeletedBytes',
  'activeTransfers',
  'transferSeconds',
  'finalSyncSeconds',
  'bidSeconds',
  'natsConnected',
] as const;
export type MetricKey = (typeof KEYS)[number];

export const metrics = Object.fromEntries(KEYS.map((k) => [k, new Recorder()])) as Record<MetricKey, Recorder>;

/** core/prom-series.ts, as it loads: the counts go to its series from now on. */
export function bindMetrics(series: Record<MetricKey, object>): void {
  // prom-client's Counter, Gauge and Histogram: each has the methods its recorder is called with.
  for (const k of KEYS) metrics[k].series = series[k];
}

/** A receiving directory's state in the gauge: in rotation, or why not (storage/disks.ts OutOfRotation). */
export const DISK_STATES = ['in-rotation', 'failed', 'disabled', 'not-mounted', 'unusable'] as const;
export type DiskState = (typeof DISK_STATES)[number];

/** Per-directory figures, read at each scrape from whoever holds the disks (a harvester, a listener). */
export interface DiskFigures {
  dir: string;
  freeBytes: number;
  totalBytes: number;
  pos1Bytes?: number;
  pos2Bytes?: number;
  /** Its disk is gone (PF_DISK_GONE). */
  gone?: boolean;
  state: DiskState;
}

let disks: (() => Promise<DiskFigures[]>) | undefined;

/** Who answers the disk gauges at a scrape (the last one set wins: one receiver per process). */
export function setDiskSource(source: (() => Promise<DiskFigures[]>) | undefined): void {
  disks = source;
}

/** The disk gauges' source now (core/prom-series.ts reads it at each scrape). */
export const diskSource = () => disks;

/** The gauge's samples for `figures`: each directory's state 1, its other states 0. */
export function diskStateSamples(figures: readonly DiskFigures[]): { dir: string; state: DiskState; value: 0 | 1 }[] {
  return figures.flatMap((d) => DISK_STATES.map((state) => ({ dir: d.dir, state, value: d.state === state ? 1 : 0 })));
}

/**
 * Each receiving directory's disk-fault counters at 0, before any failure: a series born at its
 * first failure, already at 1, is one `increase()` never sees rise (core/prom-series.ts).
 */
export function countDirs(dirs: readonly string[]): void {
  for (const dir of dirs) for (const code of DISK_FAULTS) metrics.diskFailures.inc({ dir, code }, 0);
}

/** A transfer's outcome as the counters take it. */
export function countReceived(ok: boolean, bytes: number, seconds: number | undefined, code?: string): void {
  // A busy refusal (every disk writing; the plotter waits and asks again) is how bidding paces
  // itself, not a failure: counted, it fired the failure alert after a healthy sweep.
  if (!ok && code === 'PF_BUSY') return;
  const outcome = ok ? 'ok' : 'failed';
  metrics.receivedPlots.inc({ outcome });
  metrics.receivedBytes.inc({ outcome }, bytes);
  if (ok && seconds !== undefined) metrics.transferSeconds.observe({ direction: 'receive' }, seconds);
  if (!ok && code) {
    metrics.failures.inc({ code });
    if (code === 'PF_AUTH') metrics.authRefusals.inc();
  }
}
