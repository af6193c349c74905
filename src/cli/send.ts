import type { Logger } from 'pino';
import type { Argv } from 'yargs';
import type { Delivery } from '../plotter/send-files.js';
import type { ResultLine } from '../plotter/result-line.js';
import { errorJson, PlotferryError } from '../core/errors.js';
import { type Source, sourceOf } from './option-sources.js';
import { defineCommand } from './command.js';
import { type GlobalArgs, runCommand } from './run.js';
import { natsAuth, type NatsAuthArgs } from './nats-options.js';
import { pacerFor } from './bwlimit.js';

interface SendArgs extends GlobalArgs, NatsAuthArgs {
  files: string[];
  to?: string;
  nats?: string[];
  prefix: string;
  plotterId?: string;
  bidTimeout: number;
  token?: string;
  move: boolean;
  json: boolean;
  retries: number;
  busyWait: number;
  groupWait: number;
  progress?: boolean;
  bwlimit?: number;
  anyFile: boolean;
}

export const sendCommand = defineCommand<SendArgs>({
  name: 'send',
  command: 'send <files..>',
  describe: 'send plot files to a receiver (--to HOST:PORT) or to whichever harvester wins the bid (--nats URL)',
  builder: (y: Argv) =>
    y
      .positional('files', { type: 'string', array: true, describe: 'plot files to send, one after another' })
      .example('plotferry send --to 192.168.1.20:8740 --move /mnt/nvme/*.plot', 'move finished plots to one receiver')
      .example(
        'plotferry send --nats nats://farm:4222 --move /mnt/nvme/*.plot',
        'move them to whichever harvesters win the bids',
      )
      .epilog(
        'Exit status 0 only when every file was verified by the receiver (xxhash of what it wrote ' +
          'equals the hash of what was read here). A file that fails is never deleted.',
      ),
  handler: (args) =>
    runCommand(args, async (log) => {
      const { parseHostPort, requireToken } = await import('../core/config.js');
      const { sendWithRetry } = await import('../transfer/retry.js');
      const { sendFiles } = await import('../plotter/send-files.js');
      const { createProgress } = await import('./progress.js');
      const mode = sendMode(sourceOf(args, 'to'), sourceOf(args, 'nats'));
      if (args.to && args.nats)
        log.info(`${mode === 'direct' ? '--to' : '--nats'} given nearer than the other: ${mode} mode`);
      const to = mode === 'direct' ? parseHostPort(args.to!, 'to') : undefined;
      const pacer = await pacerFor(args.bwlimit);
      const token = to ? requireToken(args.token) : '';
      let nc: import('nats').NatsConnection | undefined;
      if (mode === 'bidding') {
        const { connectNats } = await import('../bus/connect.js');
        nc = await connectNats(args.nats!.join(','), 'plotferry-send', log, natsAuth(args));
      }
      const plotter =
        args.plotterId ?? (await import('../bus/bus-messages.js')).defaultBusId((await import('node:os')).hostname());
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const progress = await createProgress(args.progress ?? (process.stderr.isTTY && !args.json));
      const bars = new Map<string, ReturnType<typeof progress.add>>();
      let counts: { failed: number; notDeleted: number };
      try {
        counts = await sendFiles({
          files: args.files,
          move: args.move,
          log,
          signal: abort.signal,
          where: to ? `${to.host}:${to.port}` : 'a harvester',
          onStart: (file, name, size) => {
            const bar = progress.add(name, size);
            bars.set(file, bar);
            return (b) => bar.update(b);
          },
          anyFile: args.anyFile,
          transfer: async (file, probe, onProgress, flog, expectSource) => {
            const onRetry = (e: InstanceType<typeof PlotferryError>, attempt: number, delay: number) =>
              flog.warn({ code: e.code, attempt, delayMs: delay }, `retrying: ${e.message}`);
            const common = { file, pacer, probe, signal: abort.signal, onProgress, expectSource };
            if (to)
              return {
                ...(await sendWithRetry(
                  { ...to, token, ...common },
                  { retries: args.retries, busyWaitMs: args.busyWait * 1000, onRetry },
                )),
                harvester: `${to.host}:${to.port}`,
              };
            return (await import('../plotter/bidding.js')).sendByBidding({
              ...common,
              nc: nc!,
              plotter,
              prefix: args.prefix,
              bidTimeoutMs: args.bidTimeout * 1000,
              tries: args.retries + 1,
              busyWaitMs: args.busyWait * 1000,
              groupWaitMs: args.groupWait * 1000,
              onRetry,
            });
          },
          onDone: (file, name, d, size) => {
            bars.get(file)?.stop();
            reportDelivery(log.child({ file }), args.json, { file, name, size }, d);
          },
        });
      } finally {
        progress.stop();
        await nc?.close();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      return sayCounts(log, counts, args.files.length);
    }),
});

const NEARNESS: Record<Source, number> = { flag: 3, env: 2, config: 1, default: 0 };
const SAID: Record<Source, string> = {
  flag: 'the command line',
  env: 'the environment',
  config: 'the --config file',
  default: 'the defaults',
};

/**
 * Direct mode (--to) or bidding (--nats): the one given; when both are, the one given nearer
 * (a flag over PLOTFERRY_*, over --config), so `send --to` works on a host whose env file or
 * config names the farm's NATS. Both from one place is PF_CONFIG.
 */
export function sendMode(to: Source | undefined, nats: Source | undefined): 'direct' | 'bidding' {
  if (to && (!nats || NEARNESS[to] > NEARNESS[nats])) return 'direct';
  if (nats && (!to || NEARNESS[nats] > NEARNESS[to])) return 'bidding';
  throw new PlotferryError(
    'PF_CONFIG',
    to
      ? `--to and --nats both come from ${SAID[to]}: give one, --to HOST:PORT (one receiver) or --nats URL (harvesters bid)`
      : 'say where to send: --to HOST:PORT (one receiver) or --nats URL (harvesters bid)',
  );
}

/** One file's delivery, in the log and (--json) on stdout. */
function reportDelivery(
  flog: Logger,
  json: boolean,
  { file, name, size }: { file: string; name: string; size: number | undefined },
  d: Delivery,
): void {
  if (!d.ok) {
    const e = d.error;
    flog.error({ code: e.code }, `${e.message} (${e.hint})`);
    if (json) out(resultLine({ file, name, size, status: 'failed', sourceRemoved: false, error: errorJson(e) }));
    return;
  }
  const mbps = d.seconds > 0 ? d.bytesSent / 1e6 / d.seconds : 0;
  const fields = {
    harvester: d.harvester,
    remote: d.remotePath,
    bytes: d.bytes,
    seconds: round(d.seconds),
    mbps: round(mbps),
    hash: d.hash,
    moved: d.moved,
    ...(d.resumedFrom ? { resumedFrom: d.resumedFrom, bytesSent: d.bytesSent } : {}),
  };
  if (d.alreadyStored)
    flog.info(fields, 'the receiver holds this file already, verified identical (xxh64): not sent again');
  else flog.info(fields, d.resumedFrom ? 'resumed, sent and verified' : 'sent and verified');
  if (d.deleteError) flog.error({ code: d.deleteError.code }, `${d.deleteError.message} (${d.deleteError.hint})`);
  if (json)
    out(
      resultLine({
        file,
        name: d.name,
        size: d.bytes,
        status: 'sent',
        harvester: d.harvester,
        remotePath: d.remotePath,
        seconds: d.seconds,
        mbps,
        hash: d.hash,
        resumedFrom: d.resumedFrom,
        bytesSent: d.bytesSent,
        sourceRemoved: d.moved,
        ...(d.alreadyStored ? { alreadyStored: true } : {}),
        ...(d.sourceGone ? { sourceGone: true } : {}),
        ...(d.deleteError ? { deleteError: errorJson(d.deleteError) } : {}),
      }),
    );
}

/** The same schema as `sweep --json` (plotter/result-line.ts); undefined fields are left out. */
const resultLine = (r: ResultLine): ResultLine => r;

/** What did not go, said once at the end; the exit status (0 only when every file went and its source could go). */
function sayCounts(log: Logger, counts: { failed: number; notDeleted: number }, total: number): number {
  const { failed, notDeleted } = counts;
  if (notDeleted > 0)
    log.error(
      { notDeleted, total },
      `${notDeleted} of ${total} file(s) delivered and verified, but their sources could not be deleted`,
    );
  if (failed > 0) log.error({ failed, total }, `${failed} of ${total} file(s) not delivered; their sources are kept`);
  return failed > 0 || notDeleted > 0 ? 1 : 0;
}

function out(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}
const round = (n: number) => Math.round(n * 100) / 100;
