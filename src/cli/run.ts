/** Running a command: its logger and webhooks, and a thrown error turned into advice and an exit code. */
import type { Logger } from 'pino';
import { PlotferryError } from '../core/errors.js';
import type { LogLevel } from '../core/log.js';

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
  /** harvester --id, sweep --plotter-id: the name messages give the host, when set. */
  id?: string;
  plotterId?: string;
}

async function startNotifier(args: Partial<NotifyArgs>, log: Logger) {
  const urls = args.notify ?? [];
  if (urls.length === 0) return undefined;
  const { isWebhookUrl, Notifier, setNotifier } = await import('../core/notify.js');
  for (const u of urls) {
    if (!isWebhookUrl(u))
      throw new PlotferryError('PF_CONFIG', `--notify "${u}" is not an http(s) URL (nor ntfy+http(s) for ntfy)`);
  }
  // One name for this host in every message, whichever part of the process sends it.
  const host = args.id ?? args.plotterId ?? (await import('node:os')).hostname();
  const n = new Notifier({ urls, log, host, intervalMs: (args.notifyInterval ?? 3600) * 1000 });
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
