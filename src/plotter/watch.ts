/**
 * `plotferry sweep --watch`: the plotter as a long-running service (systemd, not cron). It moves
 * each plot as soon as it is finished and keeps `concurrency` plots moving:
 * - It looks again when a directory changes (fs.watch: a plot renamed into it, or written to
 *   its end), when the youngest plot passes --min-age, and every `scanIntervalMs` whatever
 *   fs.watch says (it misses events on NFS and some FUSE mounts).
 * - A plot that failed waits before it is tried again: `retryMs`, doubling per failure up to
 *   an hour, so a plot that cannot go (a name held elsewhere, a harvester's disk that fails) is
 *   retried and logged, but does not spin. Nothing is ever given up on, and no timer is kept
 *   per plot (the scans do the waiting).
 * - While NATS is down no plot is started (each would fail after its tries): it waits for the
 *   reconnect, which the connection does by itself.
 * - `stop` (the first SIGTERM): nothing new starts, and the call resolves once the plots in
 *   flight are done. Aborting `signal` (a second SIGTERM, or the grace ran out) aborts those
 *   too; a receiver keeps their good bytes for a resume, and every source stays until stored.
 * - Each directory is claimed (.plotferry-watch.lock), so a second watcher on it refuses to
 *   start (PF_DIR_IN_USE). Cron sweeps beside a watcher are safe: every plot is locked while
 *   it moves, by whichever process moves it.
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { linkDown } from '../bus/link.js';
import { PlotferryError } from '../core/errors.js';
import { metrics } from '../core/metrics.js';
import { wakeableSleep } from '../core/sleep.js';
import { acquireLock, HeldLock } from '../storage/lockfile.js';
import { cannotWriteDir } from './lock.js';
import {
  Candidate,
  findPlots,
  LeftOut,
  movePlot,
  plotsUnderWay,
  reportLeftOut,
  sweepContext,
  SweepOptions,
  UnreadableDir,
} from './sweep-plots.js';
import type { ResultLine } from './result-line.js';

export const WATCH_LOCK = '.plotferry-watch.lock';
export const DEFAULT_SCAN_INTERVAL_MS = 10_000;
export const DEFAULT_RETRY_MS = 60_000;
const MAX_RETRY_MS = 3_600_000;
/** fs.watch fires several events for one rename or write: they are taken together. */
const SETTLE_MS = 100;

export interface WatchOptions extends Omit<SweepOptions, 'dryRun' | 'onPlan'> {
  /** Nothing new starts once this aborts; the call then resolves when the plots in flight end. */
  stop: AbortSignal;
  scanIntervalMs?: number;
  /** First wait before a failed plot is tried again (doubles per failure, up to 1 h). */
  retryMs?: number;
  /** The directories' claims, taken already by claimDirs() (released when the watch ends). */
  claimed?: WatchClaims;
}

export interface WatchSummary {
  sent: number;
  duplicates: number;
  /** Failed attempts (each plot is tried again later; its source is kept meanwhile). */
  failures: number;
}

interface Backoff {
  at: number;
  delayMs: number;
}

export async function watchSweep(opts: WatchOptions): Promise<WatchSummary> {
  const claims = opts.claimed ?? (await claimDirs(opts.dirs));
  const ctx = sweepContext(opts);
  const concurrency = ctx.slots.size;
  const scanEvery = opts.scanIntervalMs ?? DEFAULT_SCAN_INTERVAL_MS;
  const firstRetry = opts.retryMs ?? DEFAULT_RETRY_MS;
  const summary: WatchSummary = { sent: 0, duplicates: 0, failures: 0 };
  const inFlight = new Map<string, Promise<void>>();
  const backoff = new Map<string, Backoff>();
  const unreadableSaid = new Set<string>();
  const leftOut = new LeftOutNotes(opts);
  let queue: Candidate[] = [];

  let wake: (() => void) | undefined;
  const poke = () => wake?.();
  const watchers = watchDirs(opts.dirs, poke);

  /** Plots that finished while a scan ran: its listing may still show them. */
  const settled = new Set<string>();
  const finished = (c: Candidate, item: ResultLine) => {
    inFlight.delete(c.file);
    settled.add(c.file);
    recordItem(item, opts, { summary, backoff, leftOut, firstRetry });
    // The next from the last scan's queue, and a new scan only once it is empty: a rescan per
    // plot would stat the whole backlog again and again.
    if (queue.length > 0) dispatch();
    else poke();
  };

  const dispatch = () => {
    // Plots waiting for their verdicts leave their slots to the next ones (slots.ts).
    const most = plotsUnderWay(ctx);
    while (inFlight.size < most && queue.length > 0 && !opts.stop.aborted && !linkDown(opts.nc)) {
      const c = queue.shift()!;
      inFlight.set(
        c.file,
        movePlot(opts, ctx, c).then((item) => finished(c, item)),
      );
    }
  };

  sayWatching(opts, concurrency);
  try {
    while (!opts.stop.aborted) {
      settled.clear();
      await claims.retry(opts.log);
      const dirs = claims.scanned(opts.dirs);
      const scan = await findPlots(dirs, opts.pattern, opts.minAgeMs, opts.anyFile);
      const { found, unreadable, nextReadyAt } = scan;
      leftOut.sayAll(scan.leftOut);
      sayUnreadable(unreadable, unreadableSaid, opts);
      const now = Date.now();
      const present = new Set(found.map((c) => c.file));
      for (const f of backoff.keys()) if (!present.has(f)) backoff.delete(f); // gone: moved by another, or by hand
      queue = found.filter(
        (c) => !inFlight.has(c.file) && !settled.has(c.file) && !((backoff.get(c.file)?.at ?? 0) > now),
      );
      dispatch();
      const sleep = wakeableSleep(
        nextWait(scanEvery, nextReadyAt, backoff, Boolean(linkDown(opts.nc)) && queue.length > 0),
        opts.stop,
      );
      wake = sleep.wake;
      await sleep.done;
      wake = undefined;
    }
    await Promise.all(inFlight.values());
    return summary;
  } finally {
    watchers.close();
    ctx.freed.close();
    await claims.release();
  }
}

/** Files left out (not whole yet, not a plot), with what was said: said again only when it changes. */
class LeftOutNotes {
  private readonly said = new Map<string, string>();
  constructor(private readonly opts: WatchOptions) {}

  /** A scan's files left out: each said when new or changed; the rest are forgotten. */
  sayAll(leftOut: LeftOut[]): void {
    for (const l of leftOut) {
      const said = `${l.error.code} ${l.error.message}`;
      if (this.said.get(l.file) === said) continue;
      this.said.set(l.file, said);
      this.opts.onDone?.(reportLeftOut(l, this.opts.log));
    }
    for (const f of this.said.keys()) if (!leftOut.some((l) => l.file === f)) this.said.delete(f);
  }

  /** Said already by movePlot() (found not whole when its turn came). */
  note(file: string, error: { code: string; message: string }): void {
    this.said.set(file, `${error.code} ${error.message}`);
  }
}

interface WatchBook {
  summary: WatchSummary;
  backoff: Map<string, Backoff>;
  leftOut: LeftOutNotes;
  firstRetry: number;
}

/** A moved plot's outcome: counted, backed off when it failed, and reported. */
function recordItem(item: ResultLine, opts: WatchOptions, book: WatchBook): void {
  // Gone before its turn (moved by a cron sweep beside us, or by hand), or locked by another
  // sweep that moves it now: nothing happened here, nothing to report.
  if (item.status === 'locked') {
    opts.log.debug({ file: item.file }, 'handled elsewhere');
    return;
  }
  // Found not whole (or not a plot) when its turn came: the scans look at it again.
  if (item.status === 'skipped') {
    if (item.error) book.leftOut.note(item.file, item.error);
    opts.onDone?.(item);
    return;
  }
  countOutcome(item, book.summary);
  if (item.status === 'failed') backOff(book.backoff, item, book.firstRetry, opts.log);
  else book.backoff.delete(item.file);
  opts.onDone?.(item);
}

/** fs.watch on each directory; a burst of events is taken together, then `onChange` runs once. */
function watchDirs(dirs: readonly string[], onChange: () => void): { close(): void } {
  let settle: NodeJS.Timeout | undefined;
  const watchers = dirs.map((dir) =>
    watchDir(dir, () => {
      clearTimeout(settle);
      settle = setTimeout(onChange, SETTLE_MS);
    }),
  );
  return {
    close() {
      clearTimeout(settle);
      for (const w of watchers) w?.close();
    },
  };
}

function sayWatching(opts: WatchOptions, concurrency: number): void {
  opts.log.info(
    { dirs: opts.dirs, concurrency, minAgeS: (opts.minAgeMs ?? 60_000) / 1000 },
    `watching ${opts.dirs.length} director${opts.dirs.length === 1 ? 'y' : 'ies'} for finished plots`,
  );
}

/** A plot's outcome in the summary and the metrics. */
function countOutcome(item: ResultLine, summary: WatchSummary): void {
  if (item.status === 'sent') summary.sent++;
  else if (item.status === 'duplicate') summary.duplicates++;
  else if (item.status === 'failed') summary.failures++;
  const outcome = item.status === 'failed' ? 'failed' : 'ok';
  metrics.sentPlots.inc({ outcome });
  metrics.sentBytes.inc({ outcome }, item.bytesSent ?? 0);
  if (item.status === 'sent' && item.seconds !== undefined)
    metrics.transferSeconds.observe({ direction: 'send' }, item.seconds);
  if (item.error) metrics.failures.inc({ code: item.error.code });
}

/** A failed plot waits before it is tried again: `firstRetry`, doubling per failure up to an hour. */
function backOff(backoff: Map<string, Backoff>, item: ResultLine, firstRetry: number, log: Logger): void {
  const prev = backoff.get(item.file);
  const delayMs = prev ? Math.min(MAX_RETRY_MS, prev.delayMs * 2) : firstRetry;
  backoff.set(item.file, { at: Date.now() + delayMs, delayMs });
  log.warn(
    { file: item.file, code: item.error?.code, retryInS: Math.round(delayMs / 1000) },
    `not moved; tried again in ${Math.round(delayMs / 1000)} s (source kept)`,
  );
}

/** Unreadable directories: said once per outage, not every scan; said again once it is back. */
function sayUnreadable(unreadable: UnreadableDir[], said: Set<string>, opts: WatchOptions): void {
  for (const u of unreadable) {
    if (!said.has(u.dir))
      opts.log.error(
        { dir: u.dir, code: u.error.code },
        `${u.error.message}; ${unreadable.length < opts.dirs.length ? 'watching the others, and' : ''} looking again every scan`,
      );
    said.add(u.dir);
  }
  for (const d of said)
    if (!unreadable.some((u) => u.dir === d)) {
      said.delete(d);
      opts.log.info({ dir: d }, 'readable again');
    }
}

/**
 * How long to sleep: until the youngest plot is old enough or a backed-off plot is due, at most
 * a scan interval (a change in a directory wakes it sooner). NATS down with plots waiting: look
 * again each second for the reconnect.
 */
function nextWait(
  scanEvery: number,
  nextReadyAt: number | undefined,
  backoff: Map<string, Backoff>,
  waitingForLink: boolean,
): number {
  const due = [nextReadyAt, ...[...backoff.values()].map((b) => b.at)].filter((t): t is number => t !== undefined);
  const wait = Math.min(scanEvery, ...due.map((t) => Math.max(0, t - Date.now() + 5)));
  return waitingForLink ? Math.min(wait, 1_000) : wait;
}

/** fs.watch on `dir`, or undefined where it is not available (the scans still run). */
function watchDir(dir: string, onChange: () => void): fs.FSWatcher | undefined {
  try {
    const w = fs.watch(dir, { persistent: false }, onChange);
    w.on('error', () => w.close()); // the directory went away: the scans say so
    return w;
  } catch {
    return undefined;
  }
}

/**
 * This watcher's claims on its directories. One that could not be claimed at start (missing,
 * not mounted yet) is claimed at a later scan, once it is there; one that another watcher
 * claimed meanwhile is left to it (said once) and no longer scanned here.
 */
export class WatchClaims {
  private readonly held = new Map<string, HeldLock>();
  private readonly pending = new Set<string>();
  private readonly others = new Set<string>();

  /** Claims `dir`: true, held or left pending; false when another watcher holds it. */
  async claim(dir: string, log?: Logger): Promise<boolean> {
    let got;
    try {
      got = await acquireLock(path.join(dir, WATCH_LOCK), 'sweep --watch');
    } catch (err) {
      const e = cannotWriteDir(err, dir, `claim ${dir} for this watcher`);
      // At start, a directory this user may not write is refused (see claimDirs); later, its
      // plots fail with PF_PERMISSION, one by one, and say so.
      if (e.code === 'PF_PERMISSION' && !log) throw e;
      this.pending.add(dir); // unreadable now (not mounted yet?): watched, said so by the scans
      return true;
    }
    this.pending.delete(dir);
    if (got.ok) {
      this.held.set(dir, got.lock);
      log?.info({ dir }, 'directory claimed for this watcher');
      return true;
    }
    if (!log)
      throw new PlotferryError(
        'PF_DIR_IN_USE',
        `${dir} is watched already by ${got.holder}: run one \`sweep --watch\` per directory`,
      );
    this.others.add(dir);
    log.error(
      { dir, code: 'PF_DIR_IN_USE', holder: got.holder },
      `${dir} appeared claimed by ${got.holder}; it is left to that watcher`,
    );
    return false;
  }

  /** Claims the directories still pending (each scan). */
  async retry(log: Logger): Promise<void> {
    for (const dir of [...this.pending]) {
      // Only once it is there: a missing directory's lock would be written into nothing.
      const there = await fsp.stat(dir).then(
        (st) => st.isDirectory(),
        () => false,
      );
      if (!there) continue;
      await this.claim(dir, log);
    }
  }

  /** The directories this watcher scans (all but those another watcher holds). */
  scanned(dirs: readonly string[]): string[] {
    return dirs.filter((d) => !this.others.has(d));
  }

  async release(): Promise<void> {
    const locks = [...this.held.values()];
    this.held.clear();
    for (const l of locks) await l.release();
  }
}

/**
 * Claims every directory for this watcher: PF_DIR_IN_USE when another live one holds one,
 * PF_PERMISSION when this user cannot write one (no plot could be locked or removed there).
 */
export async function claimDirs(dirs: readonly string[]): Promise<WatchClaims> {
  const claims = new WatchClaims();
  try {
    for (const dir of dirs) await claims.claim(dir);
    return claims;
  } catch (err) {
    await claims.release();
    throw err;
  }
}
