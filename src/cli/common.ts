/** What every command shares: the logger, turning errors into advice, the option groups' shapes. */
import type { Logger } from 'pino';
import { PlotferryError } from '../core/errors.js';
import type { LogLevel } from '../core/log.js';
import type { REPLOT_ORDERS } from './options.js';

export interface GlobalArgs {
  logLevel: LogLevel;
  debug: boolean;
}

/**
 * Runs a command body: builds the logger, maps a thrown error to `CODE: message` plus what to
 * do, and sets process.exitCode (never process.exit mid-flight).
 */
export async function runCommand(args: GlobalArgs, body: (log: Logger) => Promise<number | void>): Promise<void> {
  const { createLogger } = await import('../core/log.js');
  const log = await createLogger(args.debug ? 'debug' : args.logLevel);
  let notifier: Awaited<ReturnType<typeof startNotifier>>;
  try {
    notifier = await startNotifier(args as Partial<NotifyArgs>, log);
    process.exitCode = (await body(log)) ?? 0;
  } catch (err) {
    reportError(err, args.debug);
    // 2: the command line (or its environment or --config) is wrong, as for a refused flag.
    process.exitCode = err instanceof PlotferryError && err.code === 'PF_CONFIG' ? 2 : 1;
  } finally {
    // Messages under way get a moment to leave (a cron sweep ends right after its last plot).
    if (notifier) await Promise.race([notifier.flush(), new Promise((r) => setTimeout(r, 30_000).unref())]);
  }
}

/** `--notify URL ...` (harvester, listen, sweep): a list (options.ts). */
export interface NotifyArgs {
  notify?: string[];
  notifyInterval: number;
}

async function startNotifier(args: Partial<NotifyArgs>, log: Logger) {
  const urls = args.notify ?? [];
  if (urls.length === 0) return undefined;
  for (const u of urls) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      // not a URL
    }
    if (!ok) throw new PlotferryError('PF_CONFIG', `--notify "${u}" is not an http(s) URL`);
  }
  const { Notifier, setNotifier } = await import('../core/notify.js');
  const n = new Notifier({ urls, log, intervalMs: (args.notifyInterval ?? 3600) * 1000 });
  setNotifier(n);
  return n;
}

export function reportError(err: unknown, debug = false): void {
  if (err instanceof PlotferryError) {
    process.stderr.write(`plotferry: ${err.code}: ${err.message}\n  what to do: ${err.hint}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
  } else {
    process.stderr.write(`plotferry: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
    if (debug || !(err instanceof Error)) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    else process.stderr.write('  run again with --debug for the stack trace, and please report it\n');
  }
}

/**
 * Serves until SIGINT/SIGTERM: the first signal calls `close(graceMs)` so running transfers can
 * finish, a second one calls `close(0)` to abort them. Resolves once closed.
 */
export function serveUntilSignalled(
  log: Logger,
  graceSeconds: number,
  close: (graceMs: number) => Promise<void>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1)
        log.info(
          { signal: sig },
          `stopping: nothing new is taken; running transfers get ${graceSeconds} s (signal again to abort them)`,
        );
      else log.warn({ signal: sig }, 'aborting running transfers');
      // A close that fails rejects the wait, so the command reports it (not an unhandled rejection).
      close(signals === 1 ? graceSeconds * 1000 : 0).then(resolve, reject);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** NATS credentials and TLS, shared by every command that talks to NATS. */
export interface NatsAuthArgs {
  natsToken?: string;
  natsUser?: string;
  natsPass?: string;
  natsCreds?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
}

export function natsAuth(a: NatsAuthArgs) {
  return {
    token: a.natsToken,
    user: a.natsUser,
    pass: a.natsPass,
    creds: a.natsCreds,
    ca: a.natsCa,
    cert: a.natsCert,
    key: a.natsKey,
  };
}

/** The pacer for `--bwlimit`, or undefined when unset. */
export async function pacerFor(bwlimit: number | undefined) {
  if (bwlimit === undefined) return undefined;
  if (!(Number.isFinite(bwlimit) && bwlimit >= 0.1))
    throw new PlotferryError(
      'PF_CONFIG',
      `--bwlimit ${bwlimit}: give megabytes per second, at least 0.1 (e.g. --bwlimit 300)`,
    );
  const { Pacer } = await import('../transfer/pace.js');
  return new Pacer(bwlimit * 1e6);
}

/** What `listen` and `harvester` share as receivers. */
export interface ReceiverArgs {
  verifyPlotHeader: boolean;
  partialTtl: number;
  replot: boolean;
  replotMatch?: string;
  replotOrder: string;
  replotDryRun: boolean;
  replotMaxPerHour: number;
  flushEvery: number;
  metrics?: string;
  allowRootFs: boolean;
}

/** The --replot flags as the receiver takes them; undefined when replotting is off. */
export function replotSettings(a: ReceiverArgs) {
  if (!a.replot && !a.replotDryRun) {
    for (const [flag, set] of [
      ['--replot-match', a.replotMatch !== undefined],
      ['--replot-order', a.replotOrder !== 'oldest'],
    ] as const)
      if (set) throw new PlotferryError('PF_CONFIG', `${flag} needs --replot (or --replot-dry-run)`);
    return undefined;
  }
  return {
    ...(a.replotMatch ? { match: a.replotMatch } : {}),
    order: a.replotOrder as (typeof REPLOT_ORDERS)[number],
    dryRun: a.replotDryRun,
    maxPerHour: a.replotMaxPerHour,
  };
}

/** Starts the metrics endpoint when asked; returns its closer (a no-op when not). */
export async function startMetrics(spec: string | undefined, log: Logger): Promise<() => Promise<void>> {
  if (spec === undefined) return () => Promise.resolve();
  const { parseHostPort } = await import('../core/config.js');
  const { host, port } = parseHostPort(spec, 'metrics');
  const { serveMetrics } = await import('../core/metrics-server.js');
  try {
    const m = await serveMetrics(host, port, log);
    return () => m.close();
  } catch (err) {
    // Most often the other unit of the same host, both given one PLOTFERRY_METRICS.
    if (err instanceof PlotferryError && err.code === 'PF_PORT_IN_USE')
      throw new PlotferryError(
        'PF_PORT_IN_USE',
        `${err.message}; two plotferry units on one host need a metrics port each (PLOTFERRY_HARVESTER_METRICS, PLOTFERRY_SWEEP_METRICS)`,
        { cause: err },
      );
    throw err;
  }
}
