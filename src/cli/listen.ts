import type { Argv } from 'yargs';
import { defineCommand } from './command.js';
import { type GlobalArgs, runCommand } from './run.js';
import { type ReceiverArgs, replotSettings } from './receiver-options.js';
import { serveUntilSignalled } from './until-signalled.js';
import { startMetrics } from './metrics-endpoint.js';

interface ListenArgs extends GlobalArgs, ReceiverArgs {
  dir: string[];
  host: string;
  port: number;
  token?: string;
  reserve: number;
  requireMount: boolean;
  grace: number;
  idleTimeout: number;
}

export const listenCommand = defineCommand<ListenArgs>({
  name: 'listen',
  command: 'listen',
  describe: 'receive plots over TCP into one or more directories (direct mode, no NATS)',
  builder: (y: Argv) =>
    y
      .example('plotferry listen --dir /mnt/d1 --dir /mnt/d2 --token "$TOKEN"', 'receive onto two disks on port 8740')
      .epilog(
        'Files arrive as .plotferry-NAME.*.partial and appear under their final name only after the ' +
          'byte count and the xxhash match, the data is fsynced and the directory is fsynced. An ' +
          'existing file is never overwritten. A directory holding a file named plotferry.disable is skipped.',
      ),
  handler: (args) =>
    runCommand(args, async (log) => {
      // First: a metrics port already taken fails the start before anything serves.
      const stopMetrics = await startMetrics(args.metrics, log, 'listen');
      const { partialTtlMs, requireToken } = await import('../core/config.js');
      const { Listener } = await import('../transfer/listener.js');
      // A signal while it starts (claiming its disks) stops it cleanly, as one after "listening" does.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let listener;
      let serving = false;
      try {
        listener = await Listener.start({
          dirs: args.dir,
          token: requireToken(args.token),
          host: args.host,
          port: args.port,
          reserveBytes: args.reserve,
          requireMount: args.requireMount,
          allowRootFs: args.allowRootFs,
          idleTimeoutMs: args.idleTimeout * 1000,
          verifyPlotHeader: args.verifyPlotHeader,
          flushEvery: args.flushEvery,
          partialTtlMs: partialTtlMs(args.partialTtl),
          replot: replotSettings(args),
          log,
        });
        serving = !stop.signal.aborted;
      } finally {
        // Serving, the start's listener stays until serveUntilSignalled's is on (no await between).
        if (!serving) {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }
      if (!serving) {
        await listener.close(0);
        await stopMetrics();
        log.info('stopped');
        return;
      }
      const l = listener;
      await serveUntilSignalled(log, args.grace, (ms) => l.close(ms), onSignal);
      await stopMetrics();
      log.info('stopped');
    }),
});
