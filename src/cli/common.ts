/** What every command shares: global options, the logger, and turning errors into advice. */
import type { Argv } from 'yargs';
import type { Logger } from 'pino';
import { parseBytes, parseCount, parseDecimal, parseSeconds } from '../core/config.js';
import { PlotferryError } from '../core/errors.js';
import { LOG_LEVELS, LogLevel } from '../core/log.js';

export interface GlobalArgs {
  logLevel: LogLevel;
  debug: boolean;
}

/** How a value refused at the edge reaches main.ts's fail handler through yargs. */
export const CONFIG_MARK = 'PF_CONFIG: ';

/**
 * For an option's yargs `coerce`: every value is checked as it enters (flags, PLOTFERRY_*
 * variables, --config, defaults). A bad one stops the command before it does anything, with
 * PF_CONFIG naming the option and what it takes, exit 2.
 */
export const edge =
  <T>(parse: (v: unknown) => T) =>
  (v: unknown): T => {
    try {
      return parse(v);
    } catch (err) {
      throw new Error(`${CONFIG_MARK}${(err as Error).message}`);
    }
  };

export function globalOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', {
      choices: LOG_LEVELS,
      default: 'info' as LogLevel,
      describe: 'how much to log on stderr (JSON lines when stderr is not a terminal)',
      group: 'Global:',
    })
    .option('debug', { type: 'boolean', default: false, describe: 'print stack traces with errors', group: 'Global:' });
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

/** `--notify URL ...` (harvester, listen, sweep). */
export interface NotifyArgs {
  notify?: string[];
  notifyInterval: number;
}

export function notifyOptions<T>(y: Argv<T>) {
  return y
    .option('notify', {
      // Not `array: true`: that would swallow the DIRs after it (`sweep --notify URL DIR`).
      // Given twice, yargs makes it a list; coerce makes one a list too.
      type: 'string',
      coerce: (v: unknown) => (v === undefined ? undefined : Array.isArray(v) ? v.map(String) : [String(v)]),
      describe:
        'POST a JSON message to this webhook (repeatable) when a disk fails, fills or is disabled, the farm has no room, a plot fails, or a disk is replotted; Gotify, Slack-compatible and Discord read it as it is',
    })
    .option('notify-interval', {
      type: 'string',
      coerce: edge((v) => parseSeconds(v, 'notify-interval', 1)),
      default: 3600,
      describe: 'at most one message per condition in this many seconds',
    });
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
  return new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1)
        log.info(
          { signal: sig },
          `stopping: nothing new is taken; running transfers get ${graceSeconds} s (signal again to abort them)`,
        );
      else log.warn({ signal: sig }, 'aborting running transfers');
      close(signals === 1 ? graceSeconds * 1000 : 0).then(resolve);
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

export function natsAuthOptions<T>(y: Argv<T>) {
  const group = 'NATS login and TLS (also PLOTFERRY_NATS_* or --config):';
  return y
    .option('nats-token', { type: 'string', describe: 'NATS token (server: authorization { token })', group })
    .option('nats-user', { type: 'string', describe: 'NATS user (with --nats-pass)', group })
    .option('nats-pass', { type: 'string', describe: 'NATS password', group })
    .option('nats-creds', { type: 'string', describe: 'a NATS .creds file (user JWT and nkey seed)', group })
    .option('nats-ca', {
      type: 'string',
      describe: "PEM CA that signed the NATS server's certificate (turns on TLS)",
      group,
    })
    .option('nats-cert', { type: 'string', describe: 'PEM client certificate, for servers that verify clients', group })
    .option('nats-key', { type: 'string', describe: 'PEM key of --nats-cert', group });
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

/** `--group-wait SECONDS` (send, sweep in bidding mode), placed where each lists its waits. */
export const groupWaitOption = {
  type: 'string',
  coerce: edge((v) => parseSeconds(v, 'group-wait', 0)),
  default: 300,
  describe:
    'seconds a PoS2 plot waits for the busy disk that holds its plot group (CHIP-48: a group stays on one disk) before another disk will do; 0: never waits',
} as const;

/** `--any-file` (send, sweep): files with no plot magic go too. */
export const anyFileOption = (command: 'send' | 'sweep') =>
  ({
    type: 'boolean',
    default: false,
    describe: `also send files that do not start like a Chia plot at all (a format plotferry does not know yet)${command === 'sweep' ? ', judged by --min-age alone' : ', as they are'}. Without it such a file is left where it is (PF_NOT_A_PLOT). A file that starts like a plot but is not whole (PF_INCOMPLETE) or whose header does not fit it is never sent`,
  }) as const;

/** `--bwlimit MBPS` (send, sweep). */
export function bwlimitOption<T>(y: Argv<T>) {
  return y.option('bwlimit', {
    type: 'string',
    coerce: edge((v) => parseDecimal(v, 'bwlimit', 0.1, 'megabytes per second (e.g. 300)')),
    describe:
      'cap the rate at this many megabytes (10^6 bytes) per second, all files together, for a link shared with farming',
  });
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

/** --flush-every: 0 (off) or at least one write's worth; smaller would flush every write. */
function parseFlushEvery(v: unknown): number {
  const n = parseBytes(v, 'flush-every');
  if (n !== 0 && n < 1024 * 1024)
    throw new PlotferryError(
      'PF_CONFIG',
      `--flush-every "${String(v)}": give 0 (off) or at least 1M; a smaller step would sync after every write`,
    );
  return n;
}

const REPLOT_ORDERS = ['oldest', 'newest', 'largest', 'smallest'] as const;

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

export function receiverOptions<T>(y: Argv<T>) {
  return notifyOptions(metricsOption(y))
    .option('allow-root-fs', {
      type: 'boolean',
      default: false,
      describe:
        'use a --dir on the root filesystem (the one / is on); without it such a directory is skipped until a disk is mounted there, so an unmounted disk never fills the OS disk',
    })
    .option('verify-plot-header', {
      type: 'boolean',
      default: false,
      describe: 'take only files that start like a Chia plot (v1 or BladeBit v2 header); refuse others before writing',
    })
    .option('flush-every', {
      type: 'string',
      coerce: edge(parseFlushEvery),
      default: '64M',
      describe:
        'write-behind: sync a file being received to its disk every this many bytes, while it arrives, so the last sync before it is published is short and the disk never idles (0: only at the end)',
    })
    .option('partial-ttl', {
      type: 'string',
      coerce: edge((v) => parseSeconds(v, 'partial-ttl', 0)),
      default: 3600,
      describe: "seconds a broken transfer's good bytes are kept for the sender to resume from (0: never keep)",
    })
    .option('replot', {
      type: 'boolean',
      default: false,
      describe:
        'replace PoS1 plots (chiapos v1, BladeBit) with incoming plots: when a plot needs more room than is free above --reserve, delete PoS1 plots (by their header) just before it is written, only as many as it needs',
    })
    .option('replot-match', {
      type: 'string',
      describe: 'with --replot: only PoS1 plots whose file name matches this glob may go (e.g. "plot-k32-2021-*")',
    })
    .option('replot-order', {
      type: 'string',
      choices: REPLOT_ORDERS,
      default: 'oldest',
      describe: 'with --replot: which PoS1 plots go first (by modification time or size)',
    })
    .option('replot-dry-run', {
      type: 'boolean',
      default: false,
      describe: 'log which PoS1 plots --replot would delete for each plot that finds no room; delete nothing',
    })
    .option('replot-max-per-hour', {
      type: 'string',
      coerce: edge((v) => parseCount(v, 'replot-max-per-hour', 1)),
      default: 60,
      describe:
        'with --replot: at most this many deletions an hour (a stop for a runaway; one k32 makes room for ~100 PoS2 plots)',
    });
}

/** `--metrics HOST:PORT` (harvester, listen, sweep --watch): Prometheus metrics; off by default. */
export function metricsOption<T>(y: Argv<T>) {
  return y.option('metrics', {
    type: 'string',
    describe:
      'serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 0.0.0.0:9368); bytes, plots, failures by code, disks, bids',
  });
}

/** Starts the metrics endpoint when asked; returns its closer (a no-op when not). */
export async function startMetrics(spec: string | undefined, log: Logger): Promise<() => Promise<void>> {
  if (spec === undefined) return async () => undefined;
  const { parseHostPort } = await import('../core/config.js');
  const { host, port } = parseHostPort(spec, 'metrics');
  const { serveMetrics } = await import('../core/metrics-server.js');
  const m = await serveMetrics(host, port, log);
  return m.close;
}
