import { setMaxListeners } from 'node:events';
import type { Argv } from 'yargs';
import { errorJson } from '../core/errors.js';
import type { Logger } from 'pino';
import type { UnreadableDir } from '../plotter/sweep-plots.js';
import type { ResultLine } from '../plotter/result-line.js';
import { type LeftBehind, nothingSent } from '../plotter/nothing-sent.js';
import type { WatchOptions } from '../plotter/watch.js';
import { defineCommand } from './command.js';
import { startMetrics } from './metrics-endpoint.js';
import { type GlobalArgs, runCommand } from './run.js';
import { natsAuth, type NatsAuthArgs } from './nats-options.js';
import { pacerFor } from './bwlimit.js';

interface SweepArgs extends GlobalArgs, NatsAuthArgs {
  dirs: string[];
  nats: string[];
  pattern: string;
  minAge: number;
  concurrency: number;
  dryRun: boolean;
  json: boolean;
  prefix: string;
  plotterId?: string;
  bidTimeout: number;
  retries: number;
  busyWait: number;
  groupWait: number;
  progress?: boolean;
  bwlimit?: number;
  watch: boolean;
  scanInterval: number;
  retryAfter: number;
  grace: number;
  metrics?: string;
  anyFile: boolean;
}

export const sweepCommand = defineCommand<SweepArgs>({
  name: 'sweep',
  command: 'sweep [dirs..]',
  describe:
    'move every finished plot in DIRs to whichever harvesters win the bids (from cron, or as a service with --watch)',
  builder: (y: Argv) =>
    y
      // No default: yargs showed `[required] [default: []]` for an array positional.
      .positional('dirs', {
        type: 'string',
        array: true,
        default: undefined,
        describe: 'directories holding finished plots',
      })
      .example('*/5 * * * * plotferry sweep --nats nats://farm:4222 /mnt/nvme/plots', 'crontab: every 5 minutes')
      .example(
        'plotferry sweep --watch --nats nats://farm:4222 --concurrency 4 /mnt/nvme/plots',
        'as a service (contrib/systemd/plotferry-sweep.service): each plot moves once it is untouched for --min-age',
      )
      .epilog(
        'A plot a harvester already holds is not sent again: its source is removed when that copy is verified ' +
          'identical (xxh64) and provably another file, and kept otherwise (reported as a duplicate, or as ' +
          'PF_EXISTS / PF_SAME_FILE). A DIR that cannot be read is reported and the others are swept. ' +
          'A plot whose header says it is longer than the file (still being written, or cut short) is left ' +
          'where it is (PF_INCOMPLETE), and so is a file that is not a plot (PF_NOT_A_PLOT; --any-file sends it) ' +
          'or is a symbolic link. ' +
          'Exit 0 when every plot went or was already held; 1 when any failed (its source kept), a source ' +
          'could not be deleted, a file was not a plot, or a DIR could not be read; 2 for a wrong command line. ' +
          'Overlapping sweeps never send one plot twice.',
      ),
  handler: (args) =>
    runCommand(args, async (log) => {
      const { connectNats } = await import('../bus/connect.js');
      const { sweep } = await import('../plotter/sweep-plots.js');
      const { createProgress } = await import('./progress.js');
      const plots = await plotsOf(args);
      if (args.dryRun) return dryRun(args, log, plots);
      if (args.watch) return runWatch(args, log, plots);
      // Not refused: PLOTFERRY_METRICS in an env file shared with the service must not break cron.
      if (args.metrics !== undefined)
        log.warn('--metrics is for `sweep --watch`; a cron sweep ends before a scrape, so none is served');
      const nc = await connectNats(args.nats.join(','), 'plotferry-sweep', log, natsAuth(args));
      const abort = new AbortController();
      // Each running plot holds a few listeners on this signal (its connection, its bid, its
      // wait), each removed when done: the default warning at 10 would cry wolf at --concurrency 4.
      setMaxListeners(16 + 4 * args.concurrency, abort.signal);
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const progress = await createProgress(args.progress ?? (process.stderr.isTTY && !args.json));
      try {
        const bars = new Map<string, ReturnType<typeof progress.add>>();
        let total: ReturnType<typeof progress.add> | undefined;
        let totalBytes = 0;
        let unreadable = 0;
        let listed: Listed = { young: 0, unmatched: 0 };
        const items = await sweep({
          ...plots,
          nc,
          log,
          signal: abort.signal,
          onListed: (l) => void (listed = l),
          onUnreadable: (u) => {
            unreadable++;
            if (args.json) reportUnreadable(true, u);
          },
          onPlan: (cs) => {
            if (cs.length > 1)
              total = progress.add(
                `total (${cs.length} plots)`,
                cs.reduce((n, c) => n + c.size, 0),
              );
          },
          onStart: (c) => {
            const bar = progress.add(c.name, c.size);
            bars.set(c.file, bar);
            let last = 0;
            return (b) => {
              bar.update(b);
              totalBytes += b - last;
              last = b;
              total?.update(totalBytes);
            };
          },
          onDone: (item) => {
            bars.get(item.file)?.stop();
            if (args.json) process.stdout.write(`${JSON.stringify(item)}\n`);
          },
        });
        sayWhatWasLeft(args, log, items, listed);
        return sayDone(log, items, unreadable, abort.signal.aborted);
      } finally {
        progress.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await nc.close();
      }
    }),
});

/** What a plot is and how it is offered, the same for a cron sweep, --dry-run and --watch. */
async function plotsOf(args: SweepArgs): Promise<Omit<WatchOptions, 'nc' | 'log' | 'stop'>> {
  const os = await import('node:os');
  const { defaultBusId } = await import('../bus/bus-messages.js');
  return {
    dirs: args.dirs,
    pattern: args.pattern,
    minAgeMs: args.minAge * 1000,
    anyFile: args.anyFile,
    concurrency: args.concurrency,
    prefix: args.prefix,
    plotter: args.plotterId ?? defaultBusId(os.hostname()),
    bidTimeoutMs: args.bidTimeout * 1000,
    tries: args.retries + 1,
    busyWaitMs: args.busyWait * 1000,
    groupWaitMs: args.groupWait * 1000,
    pacer: await pacerFor(args.bwlimit),
    // The next cron run starts from the harvesters this one hears (no 500 ms `has` wait).
    rosterFile: (await import('../plotter/roster-file.js')).rosterCacheFile(args.nats.join(','), args.prefix),
  };
}

/** --dry-run: lists what a sweep would send, and what it would leave and why; no NATS needed. */
async function dryRun(args: SweepArgs, log: Logger, plots: Omit<WatchOptions, 'nc' | 'log' | 'stop'>): Promise<number> {
  const { findPlots, reportLeftOut } = await import('../plotter/sweep-plots.js');
  const { found, leftOut, unreadable, young, unmatched, nextReadyAt } = await findPlots(
    plots.dirs,
    plots.pattern,
    plots.minAgeMs,
    args.anyFile,
  );
  if (young > 0 && !args.json)
    process.stdout.write(`would leave ${young} plot(s) written to within --min-age (${args.minAge} s)\n`);
  for (const u of unreadable) reportUnreadable(args.json, u);
  for (const l of leftOut) {
    const item = reportLeftOut(l, log);
    if (args.json) process.stdout.write(`${JSON.stringify(item)}\n`);
    else process.stdout.write(`would leave ${l.file}: ${l.error.code}: ${l.error.message}\n`);
  }
  for (const c of found)
    process.stdout.write(
      args.json ? `${JSON.stringify({ ...c, status: 'would-send' })}\n` : `would send ${c.file} (${c.size} bytes)\n`,
    );
  if (found.length === 0) {
    const items = leftOut.map((l) => ({ ...l, status: 'skipped' as const, error: errorJson(l.error) }));
    const listed = { young, unmatched, ...(nextReadyAt !== undefined ? { nextReadyAt } : {}) };
    const line = nothingSent(leftBehind(args, items, listed), Date.now());
    process.stdout.write(args.json ? `${JSON.stringify(line)}\n` : `${line.message}\n`);
  }
  return unreadable.length > 0 || leftOut.some(needsAHuman) ? 1 : 0;
}

type Listed = { young: number; unmatched: number; nextReadyAt?: number };

/**
 * What the sweep left for a later run. When it offered nothing, one line says why (young, not
 * whole, locked, left out, other names), in the log and, with --json, on stdout; else the young
 * plots alone, if any.
 */
function sayWhatWasLeft(args: SweepArgs, log: Logger, items: readonly ResultLine[], listed: Listed): void {
  const offered = items.some((i) => i.status === 'sent' || i.status === 'duplicate' || i.status === 'failed');
  if (!offered) {
    const line = nothingSent(leftBehind(args, items, listed), Date.now());
    log.info({ ...line, message: undefined }, line.message);
    if (args.json) process.stdout.write(`${JSON.stringify(line)}\n`);
  } else if (listed.young > 0)
    log.info(
      { young: listed.young, minAgeS: args.minAge },
      `${listed.young} plot(s) written to within --min-age (${args.minAge} s) are left for a later run`,
    );
}

function leftBehind(args: SweepArgs, items: readonly ResultLine[], listed: Listed): LeftBehind {
  const skipped = items.filter((i) => i.status === 'skipped');
  const incomplete = skipped.filter((i) => i.error?.code === 'PF_INCOMPLETE').length;
  return {
    young: listed.young,
    minAgeS: args.minAge,
    ...(listed.nextReadyAt !== undefined ? { nextReadyAt: listed.nextReadyAt } : {}),
    incomplete,
    leftOut: skipped.length - incomplete,
    unmatched: listed.unmatched,
    pattern: args.pattern,
    locked: items.filter((i) => i.status === 'locked').length,
  };
}

/** A cron sweep's end: what went and what did not, said once; the exit status. */
function sayDone(log: Logger, items: ResultLine[], unreadable: number, aborted: boolean): number {
  const count = (s: string) => items.filter((i) => i.status === s).length;
  const failed = count('failed');
  const notDeleted = items.filter((i) => i.deleteError).length;
  // Left out: a plot still being written is the normal case; a file that is not a plot, or
  // a link, stays until a human looks, so the run says so in its exit status.
  const leftOut = items.filter((i) => i.status === 'skipped' && i.error?.code !== 'PF_INCOMPLETE').length;
  const problems = [
    failed ? `${failed} plot(s) failed; their sources are kept` : '',
    leftOut ? `${leftOut} file(s) left where they are: not plots of a known layout, or links (see above)` : '',
    notDeleted ? `${notDeleted} plot(s) delivered and verified, but their sources could not be deleted` : '',
    unreadable ? `${unreadable} director${unreadable === 1 ? 'y' : 'ies'} could not be read` : '',
  ].filter(Boolean);
  log[problems.length ? 'error' : 'info'](
    {
      sent: count('sent'),
      duplicates: count('duplicate'),
      failed,
      notDeleted,
      skipped: count('locked'),
      notFinished: items.filter((i) => i.error?.code === 'PF_INCOMPLETE').length,
      leftOut,
    },
    problems.length ? problems.join('; ') : 'sweep done',
  );
  return failed > 0 || notDeleted > 0 || leftOut > 0 || unreadable > 0 || aborted ? 1 : 0;
}

/** A file left out that stays so until a human looks (not a plot, a link); a plot being written is not. */
const needsAHuman = (l: { error: { code: string } }) => l.error.code !== 'PF_INCOMPLETE';

/** A directory the sweep could not read: with --json a line like a plot's (the log says it too). */
function reportUnreadable(json: boolean, u: UnreadableDir): void {
  if (json)
    process.stdout.write(`${JSON.stringify({ dir: u.dir, status: 'unreadable', error: errorJson(u.error) })}\n`);
  else process.stderr.write(`plotferry: ${u.error.code}: ${u.error.message}\n`);
}

/**
 * `--watch`: until SIGTERM. The first signal starts nothing new and gives the plots in flight
 * --grace seconds; a second signal, or the end of the grace, aborts them (their receivers keep
 * the good bytes for a resume; every source stays until stored). Exit 0 after a clean stop.
 */
async function runWatch(
  args: SweepArgs,
  log: Logger,
  plots: Omit<WatchOptions, 'nc' | 'log' | 'stop'>,
): Promise<number> {
  const { connectNatsRetrying } = await import('../bus/connect.js');
  const { claimDirs, watchSweep } = await import('../plotter/watch.js');
  const stop = new AbortController();
  const abort = new AbortController();
  setMaxListeners(16 + 4 * args.concurrency, abort.signal, stop.signal);
  let signals = 0;
  let graceTimer: NodeJS.Timeout | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info(
        { signal: sig },
        `stopping: no new plots; those moving get ${args.grace} s (signal again to abort them)`,
      );
      stop.abort();
      graceTimer = setTimeout(() => abort.abort(), args.grace * 1000);
    } else {
      log.warn({ signal: sig }, 'aborting the plots in flight; their receivers keep the bytes for a resume');
      abort.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopMetrics = await startMetrics(args.metrics, log, 'sweep');
  let claimed: Awaited<ReturnType<typeof claimDirs>> | undefined;
  let stopReach: (() => void) | undefined;
  try {
    // Before NATS: a directory it cannot hold is refused at once, not once NATS is reachable.
    claimed = await claimDirs(plots.dirs);
    // A watching sweep out of NATS's reach moves nothing: a webhook says so after a while.
    stopReach = (await import('../bus/nats-reach.js')).watchNatsReach('sweep --watch');
    const nc = await connectNatsRetrying(
      args.nats.join(','),
      'plotferry-sweep-watch',
      log,
      natsAuth(args),
      stop.signal,
    );
    if (!nc) return 0;
    try {
      const s = await watchSweep({
        ...plots,
        claimed,
        nc,
        log,
        stop: stop.signal,
        signal: abort.signal,
        scanIntervalMs: args.scanInterval * 1000,
        retryMs: args.retryAfter * 1000,
        onDone: (item) => {
          if (args.json) process.stdout.write(`${JSON.stringify(item)}\n`);
        },
      });
      log.info(s, 'stopped');
      return 0;
    } finally {
      await nc.close();
    }
  } finally {
    // Released by watchSweep when it ran; here when it never did (NATS never reached).
    await claimed?.release();
    stopReach?.();
    await stopMetrics();
    clearTimeout(graceTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
