/**
 * `plotferry sweep`: the cron entry point on plotters. Finds finished plots, and moves each to
 * whichever harvester wins its bid, several at once. A plot's source is removed only after the
 * harvester verified, synced and renamed it. Each plot is locked while it is handled, so
 * overlapping sweeps never send one plot twice.
 *
 * A plot a harvester already holds (same name and size) is not sent. Its source is removed only
 * when the holder's recorded hash equals the source's and the copy is provably another file
 * (held-verdict.ts, wire/same-file-probe.ts): a plotter that died between the transfer and the delete. A copy that
 * is the source itself fails PF_SAME_FILE, another file under the name PF_EXISTS; a copy
 * without a hash record is a duplicate whose source is kept.
 */
import type { Pacer } from '../transfer/pace.js';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { NatsConnection } from 'nats';
import picomatch from 'picomatch';
import type { Logger } from 'pino';
import { linkDown, LinkDown, linkDownMessage } from '../bus/link.js';
import type { Held } from '../bus/bus-messages.js';
import { asPlotferryError, errorJson, PlotferryError } from '../core/errors.js';
import type { ResultLine } from './result-line.js';
import { notify } from '../core/notify.js';
import { BiddingResult, sendByBidding } from './bidding.js';
import { sendableSource } from '../storage/plot-file.js';
import { removeSource, SourceId, symlinkError } from '../storage/source.js';
import { DEFAULT_PLOT_PATTERN } from '../wire/names.js';
import { FreeSignal } from './free-signal.js';
import { HeldError, judgeHeld } from './held-verdict.js';
import { HolderRoster } from './holder-roster.js';
import { tryLock } from './lock.js';
import { loadRoster, saveRoster } from './roster-file.js';
import { GroupGate, Slots } from './slots.js';

export interface Candidate {
  file: string;
  name: string;
  size: number;
}

export interface SweepOptions {
  nc: NatsConnection;
  dirs: readonly string[];
  plotter: string;
  pattern?: string;
  minAgeMs?: number;
  /** --any-file: files with no plot header of a known layout go too (storage/plot-file.ts). */
  anyFile?: boolean;
  concurrency?: number;
  dryRun?: boolean;
  prefix?: string;
  bidTimeoutMs?: number;
  /** Longest wait for the farm's answers to `has` (see HolderRoster). */
  hasTimeoutMs?: number;
  tries?: number;
  backoffMs?: number;
  /** How long a plot may wait while every harvester with room is busy. */
  busyWaitMs?: number;
  /** How long a PoS2 plot waits for its group's busy disk (plotter/bidding.ts). */
  groupWaitMs?: number;
  /**
   * Where the harvesters this sweep hears are kept for the next one, which then needs no `has`
   * wait to learn them (roster-file.ts); none: every sweep learns afresh.
   */
  rosterFile?: string;
  /** `--bwlimit`: one rate cap for all the plots moving at once. */
  pacer?: Pacer;
  signal?: AbortSignal;
  log: Logger;
  /** A directory that cannot be read (the others are swept all the same). */
  onUnreadable?: (u: UnreadableDir) => void;
  /** Called once with the plots found (before any is sent). */
  onPlan?: (candidates: readonly Candidate[]) => void;
  /** What the listing left for a later run (young plots) and did not take (other names). */
  onListed?: (l: { young: number; unmatched: number; nextReadyAt?: number }) => void;
  /** Called as each plot starts; returns the progress callback for it. */
  onStart?: (c: Candidate) => (bytes: number) => void;
  onDone?: (item: ResultLine) => void;
}

/** A directory a sweep was given but cannot read (missing, unmounted, no permission). */
export interface UnreadableDir {
  dir: string;
  error: PlotferryError;
}

/** A file under a plot's name that a sweep leaves where it is, and why. */
export interface LeftOut extends Candidate {
  /** PF_INCOMPLETE (not whole yet: `--watch` waits for it), PF_NOT_A_PLOT, PF_SOURCE (a link, unreadable). */
  error: PlotferryError;
}

/**
 * Finished plots in `dirs`: regular files matching `pattern`, untouched for `minAgeMs`, and whole
 * as far as their headers tell (storage/plot-file.ts); the others that match are `leftOut`, with
 * why. A directory that cannot be read is reported in `unreadable` and the others are still
 * searched: one unmounted NVMe must not stop the plots on the others from moving.
 */
export async function findPlots(
  dirs: readonly string[],
  pattern = DEFAULT_PLOT_PATTERN,
  minAgeMs = 60_000,
  anyFile = false,
): Promise<{
  found: Candidate[];
  leftOut: LeftOut[];
  unreadable: UnreadableDir[];
  /** Plots left for a later run: written to within --min-age. */
  young: number;
  nextReadyAt?: number;
  /** Visible names the pattern does not take (plotferry's own files are hidden). */
  unmatched: number;
}> {
  // dot: false keeps plotferry's own hidden temporary and lock files out.
  const match = picomatch(pattern, { dot: false });
  const now = Date.now();
  const found: Candidate[] = [];
  const leftOut: LeftOut[] = [];
  const unreadable: UnreadableDir[] = [];
  let nextReadyAt: number | undefined;
  let young = 0;
  let unmatched = 0;
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = await fsp.readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? 'it does not exist (not mounted?)'
          : code === 'ENOTDIR'
            ? `it is not a directory (sweep takes the directories plots are in; \`plotferry send --nats URL ${dir}\` moves one file)`
            : (err as Error).message;
      unreadable.push({ dir, error: new PlotferryError('PF_SOURCE', `cannot read ${dir}: ${why}`, { cause: err }) });
      continue;
    }
    for (const name of entries.sort()) {
      if (!match(name)) {
        if (!name.startsWith('.')) unmatched++;
        continue;
      }
      const file = path.join(dir, name);
      const st = await fsp.lstat(file).catch(() => undefined);
      if (st?.isSymbolicLink()) {
        leftOut.push({ file, name, size: 0, error: symlinkError(file) });
        continue;
      }
      if (!st?.isFile()) continue;
      if (now - st.mtimeMs < minAgeMs) {
        // Still being written, or just finished: when it will be old enough (for a watcher).
        nextReadyAt = Math.min(nextReadyAt ?? Infinity, st.mtimeMs + minAgeMs);
        young++;
        continue;
      }
      try {
        await sendableSource(file, anyFile);
      } catch (err) {
        const error = asPlotferryError(err);
        if (goneMeanwhile(error)) continue;
        leftOut.push({ file, name, size: st.size, error });
        continue;
      }
      found.push({ file, name, size: st.size });
    }
  }
  return { found, leftOut, unreadable, young, unmatched, ...(nextReadyAt !== undefined ? { nextReadyAt } : {}) };
}

/** A source that is no longer there (moved by another sweep since it was listed): nothing to say. */
function goneMeanwhile(e: PlotferryError): boolean {
  return e.code === 'PF_SOURCE' && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** A file left out, as a sweep reports it; the log line says why and what to do. */
export function reportLeftOut(l: LeftOut, log: Logger): ResultLine {
  const e = l.error;
  if (e.code === 'PF_INCOMPLETE') log.info({ file: l.file, code: e.code }, `${e.message}; left where it is`);
  else {
    // Not a plot, or a link: it stays until a human looks, so a human is told.
    log.warn({ file: l.file, code: e.code }, `${e.message}; left where it is (${e.hint})`);
    notifyFailure(l, e);
  }
  return { file: l.file, name: l.name, size: l.size, status: 'skipped', sourceRemoved: false, error: errorOf(e) };
}

export async function sweep(opts: SweepOptions): Promise<ResultLine[]> {
  const {
    found: candidates,
    leftOut,
    unreadable,
    young,
    nextReadyAt,
    unmatched,
  } = await findPlots(opts.dirs, opts.pattern, opts.minAgeMs, opts.anyFile);
  opts.onListed?.({ young, unmatched, ...(nextReadyAt !== undefined ? { nextReadyAt } : {}) });
  for (const u of unreadable) {
    opts.log.error(
      { dir: u.dir, code: u.error.code },
      opts.dirs.length > 1 ? `${u.error.message}; the other directories are swept` : u.error.message,
    );
    opts.onUnreadable?.(u);
  }
  // Not one directory readable: nothing to do is not "done".
  if (unreadable.length > 0 && unreadable.length === opts.dirs.length) throw unreadable[0]!.error;
  const results: ResultLine[] = leftOut.map((l) => reportLeftOut(l, opts.log));
  for (const item of results) opts.onDone?.(item);
  if (opts.dryRun) return [...results, ...candidates.map((c) => ({ ...c, status: 'would-send' as const }))];
  opts.onPlan?.(candidates);
  let next = 0;
  const ctx = sweepContext(opts);
  const prefix = opts.prefix ?? 'plotferry';
  const cache = opts.rosterFile;
  if (cache && candidates.length > 0) ctx.roster.seed((await loadRoster(cache, prefix)) ?? []);
  const worker = async () => {
    while (next < candidates.length && !opts.signal?.aborted) {
      const c = candidates[next++]!;
      const item = await movePlot(opts, ctx, c);
      if (item.error?.code === 'PF_NATS') ctx.natsLost = true;
      results.push(item);
      opts.onDone?.(item);
    }
  };
  try {
    await Promise.all(Array.from({ length: plotsUnderWay(ctx) }, worker));
  } finally {
    ctx.freed.close();
    const heard = ctx.roster.harvesters();
    if (cache && heard) await saveRoster(cache, prefix, [...heard]);
  }
  return results;
}

function notOffered(opts: SweepOptions, c: Candidate, down: LinkDown): ResultLine {
  const e = new PlotferryError('PF_NATS', `not offered: ${linkDownMessage(down)}`);
  opts.log.error({ file: c.file, code: e.code }, `${e.message}; source kept`);
  return { ...c, status: 'failed', error: errorOf(e) };
}

/** What the plots of one sweep share: who answers `has`, and the harvesters' `free` news. */
export interface SweepContext {
  roster: HolderRoster;
  freed: FreeSignal;
  /** A PoS2 group's plots go one at a time (plotter/slots.ts). */
  groups: GroupGate;
  /** --concurrency: plots being announced or sent at once (slots.ts). */
  slots: Slots;
  /** A plot failed through all its tries because NATS is down (sweep: the rest are not offered). */
  natsLost?: boolean;
}

/** A fresh context; close its `freed` when done. */
export function sweepContext(opts: Pick<SweepOptions, 'nc' | 'prefix' | 'hasTimeoutMs' | 'concurrency'>): SweepContext {
  return {
    roster: new HolderRoster(opts.nc, opts.prefix, opts.hasTimeoutMs),
    freed: new FreeSignal(opts.nc, opts.prefix),
    slots: new Slots(Math.max(1, opts.concurrency ?? 2)),
    groups: new GroupGate(),
  };
}

/**
 * How many plots may be under way at once: each slot's plot, and as many more waiting for their
 * verdicts (or being deleted) while the next ones use the slots.
 */
export const plotsUnderWay = (ctx: SweepContext) => 2 * ctx.slots.size;

/**
 * One plot, start to end: lock it, ask who holds it, send it by bidding, remove the source once
 * stored; the outcome, never a throw. Shared by a sweep and by `sweep --watch` (watch.ts).
 */
export async function movePlot(opts: SweepOptions, ctx: SweepContext, c: Candidate): Promise<ResultLine> {
  let release = await ctx.slots.acquire();
  // A wait for the plot's group (bidding.ts) gives the slot up and takes one again after.
  const whileWaiting = async <T>(wait: Promise<T>): Promise<T> => {
    release();
    try {
      return await wait;
    } finally {
      release = await ctx.slots.acquire();
    }
  };
  try {
    return await moveInSlot(opts, ctx, c, () => release(), whileWaiting);
  } catch (err) {
    // An outcome, never a throw: a watcher has no one to catch it (it would end the process).
    const e = asPlotferryError(err);
    opts.log.error({ file: c.file, code: e.code }, `${e.message}; source kept`);
    return { ...c, status: 'failed', error: errorOf(e) };
  } finally {
    release();
  }
}

/** movePlot() once a slot is held; `release` gives it up once the plot's bytes are all sent. */
async function moveInSlot(
  opts: SweepOptions,
  ctx: SweepContext,
  c: Candidate,
  release: () => void,
  whileWaiting: <T>(wait: Promise<T>) => Promise<T>,
): Promise<ResultLine> {
  // A plot already failed through all its tries because NATS is down, and it still is: the
  // rest are not offered into the void one by one (minutes each), they are reported at once.
  const down = ctx.natsLost ? linkDown(opts.nc) : undefined;
  if (down) return notOffered(opts, c, down);
  const log = opts.log.child({ file: c.file });
  if (opts.signal?.aborted)
    return { ...c, status: 'failed', error: errorOf(new PlotferryError('PF_ABORTED', 'stopped before its turn')) };
  let locked;
  try {
    locked = await tryLock(c.file);
  } catch (err) {
    // This user cannot lock it (a directory it cannot write): said per plot, source kept.
    const e = asPlotferryError(err);
    log.error({ code: e.code }, `${e.message} (${e.hint})`);
    notifyFailure(c, e);
    return { ...c, status: 'failed', error: errorOf(e) };
  }
  if (!locked.ok) {
    log.info({ holder: locked.holder }, `${locked.holder} is handling this plot; skipped`);
    return { ...c, status: 'locked' };
  }
  try {
    return await sendLocked(opts, ctx, c, locked.lock.token, log, release, whileWaiting);
  } catch (err) {
    if (err instanceof HeldError) return await settleHeld(c, err.holder, log);
    const e = asPlotferryError(err);
    log.error({ code: e.code }, `${e.message} (${e.hint}); source kept`);
    if (e.code !== 'PF_ABORTED') notifyFailure(c, e);
    return { ...c, status: 'failed', error: errorOf(e) };
  } finally {
    await locked.lock.release();
  }
}

/** moveInSlot() once the plot is locked: checked again, then sent by bidding and its source removed. */
async function sendLocked(
  opts: SweepOptions,
  ctx: SweepContext,
  c: Candidate,
  token: string,
  log: Logger,
  release: () => void,
  whileWaiting: <T>(wait: Promise<T>) => Promise<T>,
): Promise<ResultLine> {
  // Checked again under the lock; the transfer then sends this very file or nothing.
  let source: SourceId;
  try {
    source = (await sendableSource(c.file, opts.anyFile ?? false)).id;
  } catch (err) {
    const e = asPlotferryError(err);
    // The earlier sweep that held the lock moved it meanwhile.
    if (goneMeanwhile(e)) return { ...c, status: 'locked' };
    if (e.code === 'PF_INCOMPLETE' || e.code === 'PF_NOT_A_PLOT' || e.code === 'PF_SOURCE')
      return reportLeftOut({ ...c, error: e }, log);
    throw e;
  }
  const size = Number(source.size);
  // Who holds it already: asked with `has` until the roster knows every harvester, then told by
  // the announce itself (a holder declines, describing its copy), one round trip less per plot.
  const holder = ctx.roster.harvesters() ? undefined : await ctx.roster.ask(c.name, size, token);
  if (holder) return settleHeld(c, holder, log);
  const r = await sendByBidding({
    nc: opts.nc,
    plotter: opts.plotter,
    prefix: opts.prefix,
    file: c.file,
    bidTimeoutMs: opts.bidTimeoutMs,
    tries: opts.tries,
    busyWaitMs: opts.busyWaitMs,
    groupWaitMs: opts.groupWaitMs,
    backoffMs: opts.backoffMs,
    pacer: opts.pacer,
    signal: opts.signal,
    probe: token,
    expectSource: source,
    roster: ctx.roster,
    freed: ctx.freed,
    groupGate: ctx.groups,
    whileWaiting,
    onProgress: opts.onStart?.(c),
    onSent: release,
    onRetry: (e, attempt, delayMs) => log.warn({ code: e.code, attempt, delayMs }, `retrying: ${e.message}`),
  });
  return reportSent(c, size, r, log);
}

/** A plot stored by a harvester: its source removed (when reported so), said, and its outcome. */
async function reportSent(c: Candidate, size: number, r: BiddingResult, log: Logger): Promise<ResultLine> {
  const removed = await removeReported(c.file, r.source, `${r.harvester}:${r.remotePath}`, log);
  const mbps = r.seconds > 0 ? r.bytesSent / 1e6 / r.seconds : 0;
  log.info(
    {
      harvester: r.harvester,
      remote: r.remotePath,
      bytes: r.bytes,
      mbps: Math.round(mbps),
      ...(r.why ? { why: r.why } : {}),
    },
    r.alreadyStored
      ? 'stored by an attempt whose answer was lost, verified identical (xxh64)'
      : removed.sourceRemoved
        ? 'moved and verified'
        : 'sent and verified',
  );
  return {
    ...c,
    size,
    status: 'sent',
    harvester: r.harvester,
    remotePath: r.remotePath,
    seconds: r.seconds,
    mbps,
    hash: r.hash,
    resumedFrom: r.resumedFrom,
    bytesSent: r.bytesSent,
    ...(r.alreadyStored ? { alreadyStored: true } : {}),
    ...removed,
  };
}

/**
 * A harvester holds a file of this plot's name and size: a verified identical copy is a
 * duplicate (the source goes), anything else keeps the source and says why.
 */
async function settleHeld(c: Candidate, holder: Held, log: Logger): Promise<ResultLine> {
  const base = { ...c, size: holder.size, harvester: holder.harvester, remotePath: holder.path };
  const where = { harvester: holder.harvester, remote: holder.path };
  const verdict = await judgeHeld(c.file, holder);
  switch (verdict.kind) {
    case 'same-file': {
      const e = new PlotferryError(
        'PF_SAME_FILE',
        `${holder.harvester} reports holding ${holder.path}, and that is this very file: source kept`,
      );
      log.error({ ...where, code: e.code }, `${e.message} (${e.hint})`);
      notifyFailure(c, e);
      return { ...base, status: 'failed', error: errorOf(e) };
    }
    case 'identical': {
      const removed = await removeReported(c.file, verdict.source, `${holder.harvester}:${holder.path}`, log);
      log.info(
        { ...where, hash: verdict.hash },
        `a harvester already holds this plot, verified identical (xxh64)${removed.sourceRemoved ? ': source removed' : ''}`,
      );
      return { ...base, status: 'duplicate', hash: verdict.hash, ...removed };
    }
    case 'differs': {
      // Another file under this plot's name: a human must choose (exit 1, not "duplicate").
      const e = new PlotferryError(
        'PF_EXISTS',
        `${holder.harvester} holds a different file as ${holder.path} (xxh64 ${holder.hash}, this one ${verdict.hash}): not sent, source kept; rename or remove one of them`,
      );
      log.error({ ...where, code: e.code, ours: verdict.hash, theirs: holder.hash }, e.message);
      notifyFailure(c, e);
      return { ...base, status: 'failed', hash: verdict.hash, sourceRemoved: false, error: errorOf(e) };
    }
    case 'unverified': {
      // Not a success: nobody has shown that the copy is this plot, and nothing moved.
      const e = new PlotferryError(
        'PF_EXISTS',
        `${holder.harvester} holds ${holder.path} (same name and size), and it cannot be verified: ${verdict.why}. Not sent, source kept; compare the two (xxh64sum) and remove one`,
      );
      log.error({ ...where, code: e.code }, e.message);
      notifyFailure(c, e);
      return { ...base, status: 'failed', sourceRemoved: false, error: errorOf(e) };
    }
  }
}

/**
 * Removes a delivered plot's source while it is still the file that was verified; a failure is
 * reported on the item, not as a failed delivery.
 */
async function removeReported(
  file: string,
  source: SourceId,
  storedAt: string,
  log: Logger,
): Promise<Pick<ResultLine, 'sourceRemoved' | 'sourceGone' | 'deleteError'>> {
  try {
    if ((await removeSource(file, source, storedAt)) === 'gone') {
      log.warn({ storedAt }, 'delivered and verified, but the source was gone already (removed by hand?)');
      return { sourceRemoved: true, sourceGone: true };
    }
    return { sourceRemoved: true };
  } catch (err) {
    const e = asPlotferryError(err);
    log.error({ code: e.code }, `${e.message} (${e.hint})`);
    notify(
      `delete-failed:${e.code}`,
      'warning',
      'a source was not deleted',
      `${file} was delivered and verified at ${storedAt}, but its source stays: ${e.code}: ${e.message} (${e.hint}).`,
    );
    return { sourceRemoved: false, deleteError: errorOf(e) };
  }
}

const errorOf = errorJson;

/** A plot that could not go: the farm has no room, or this plot failed (one message per code an interval). */
function notifyFailure(c: Candidate, e: PlotferryError): void {
  if (e.code === 'PF_NO_SPACE' || e.code === 'PF_NO_BID' || e.code === 'PF_NO_DISK')
    notify(
      'farm-no-room',
      'critical',
      'the farm has no room',
      `${c.name} found no harvester to take it (${e.code}: ${e.message}). Add disks, free space, or start --replot.`,
    );
  else
    notify(
      `plot-failed:${e.code}`,
      'warning',
      'a plot was not moved',
      `${c.file}: ${e.code}: ${e.message} (${e.hint}). Its source is kept.`,
    );
}
