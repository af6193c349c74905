import type { Argv, CommandModule } from 'yargs';
import { parseSeconds, parsePort } from '../core/config.js';
import {
  edge,
  GlobalArgs,
  globalOptions,
  ReceiverArgs,
  receiverOptions,
  replotSettings,
  runCommand,
  serveUntilSignalled,
  startMetrics,
} from './common.js';

interface ListenArgs extends GlobalArgs, ReceiverArgs {
  dir: string[];
  host: string;
  port: number;
  token?: string;
  reserve: string;
  requireMount: boolean;
  grace: number;
  idleTimeout: number;
}

export const listenCommand: CommandModule<object, ListenArgs> = {
  command: 'listen',
  describe: 'receive plots over TCP into one or more directories (direct mode, no NATS)',
  builder: (y: Argv) =>
    receiverOptions(globalOptions(y))
      .option('dir', {
        type: 'string',
        array: true,
        demandOption: 'name at least one directory to receive into: --dir /mnt/disk1',
        describe: 'a receiving directory; repeat for each disk. Each file goes to the one with most free space',
      })
      .option('host', { type: 'string', default: '0.0.0.0', describe: 'address to listen on' })
      .option('port', {
        type: 'string',
        coerce: edge((v) => parsePort(v, 'port')),
        default: 8740,
        describe: 'TCP port to listen on (0: any free port)',
      })
      .option('token', { type: 'string', describe: 'shared secret senders must present (or PLOTFERRY_TOKEN)' })
      .option('require-mount', {
        type: 'boolean',
        default: false,
        describe: 'skip a --dir that is not a mount point (its disk is not mounted), so it never fills the parent',
      })
      .option('reserve', {
        type: 'string',
        default: '0',
        describe: 'space to leave free on every disk (e.g. 2G)',
      })
      .option('grace', {
        type: 'string',
        coerce: edge((v) => parseSeconds(v, 'grace', 0)),
        default: 600,
        describe: 'on SIGINT/SIGTERM, seconds to let running transfers finish (a second signal aborts them)',
      })
      .option('idle-timeout', {
        type: 'string',
        coerce: edge((v) => parseSeconds(v, 'idle-timeout', 1)),
        default: 60,
        describe: 'seconds of silence before a sender is dropped',
      })
      .example('$0 listen --dir /mnt/d1 --dir /mnt/d2 --token "$TOKEN"', 'receive onto two disks on port 8740')
      .epilog(
        'Files arrive as .plotferry-NAME.*.partial and appear under their final name only after the ' +
          'byte count and the xxhash match, the data is fsynced and the directory is fsynced. An ' +
          'existing file is never overwritten. A directory holding a file named plotferry.disable is skipped.',
      ) as unknown as Argv<ListenArgs>,
  handler: (args) =>
    runCommand(args, async (log) => {
      // First: a metrics port already taken fails the start before anything serves.
      const stopMetrics = await startMetrics(args.metrics, log);
      const { parseBytes, parsePort, partialTtlMs, requireToken } = await import('../core/config.js');
      const { Listener } = await import('../transfer/listener.js');
      // A signal while it starts (claiming its disks) stops it cleanly, as one after "listening" does.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let listener;
      try {
        listener = await Listener.start({
          dirs: args.dir,
          token: requireToken(args.token),
          host: args.host,
          port: parsePort(args.port, 'port'),
          reserveBytes: parseBytes(args.reserve, 'reserve'),
          requireMount: args.requireMount,
          allowRootFs: args.allowRootFs,
          idleTimeoutMs: args.idleTimeout * 1000,
          verifyPlotHeader: args.verifyPlotHeader,
          flushEvery: args.flushEvery,
          partialTtlMs: partialTtlMs(args.partialTtl),
          replot: replotSettings(args),
          log,
        });
      } finally {
        // No await between here and serveUntilSignalled: no signal falls between the two.
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (stop.signal.aborted) {
        await listener.close(0);
        await stopMetrics();
        log.info('stopped');
        return;
      }
      const l = listener;
      await serveUntilSignalled(log, args.grace, (ms) => l.close(ms));
      await stopMetrics();
      log.info('stopped');
    }),
};
