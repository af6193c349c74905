import type { Argv } from 'yargs';
import { defineCommand } from './command.js';
import { type GlobalArgs, runCommand } from './run.js';
import { natsAuth, type NatsAuthArgs } from './nats-options.js';
import { type ReceiverArgs, replotSettings } from './receiver-options.js';
import { serveUntilSignalled } from './until-signalled.js';
import { startMetrics } from './metrics-endpoint.js';

interface HarvesterArgs extends GlobalArgs, ReceiverArgs, NatsAuthArgs {
  nats: string[];
  notifyFull: number;
  dir: string[];
  id?: string;
  host?: string;
  listenHost: string;
  maxTransfers: number;
  reserve: number;
  requireMount: boolean;
  portRange: string;
  prefix: string;
  claimTtl: number;
  grace: number;
}

export const harvesterCommand = defineCommand<HarvesterArgs>({
  name: 'harvester',
  command: 'harvester',
  describe: 'bid for plots announced on NATS and receive the ones this host wins',
  builder: (y: Argv) =>
    y
      .example(
        'plotferry harvester --nats nats://farm:4222 --dir /mnt/d1 --dir /mnt/d2',
        'receive plots onto two disks',
      )
      .example(
        'plotferry harvester --nats nats://farm:4222 --dir /mnt/d1 --replot --reserve 2G',
        'full disks of PoS1 plots: each PoS2 plot deletes just the PoS1 plots it needs, oldest first (try --replot-dry-run first)',
      )
      .example(
        'plotferry harvester --nats nats://n1:4222,nats://n2:4222 --dir /mnt/d1 --metrics 0.0.0.0:9368',
        'two NATS servers; Prometheus metrics',
      )
      .epilog(
        'The plotter ranks the bids by a delay of 10 ms per running transfer and up to 50 ms as the chosen disk fills, so the idlest, emptiest harvester wins; ' +
          'one that must delete PoS1 plots (--replot) ranks 200 ms later, so free space anywhere is used first. No file byte crosses NATS.',
      ),
  handler: (args) =>
    runCommand(args, async (log) => {
      // First: a metrics port already taken fails the start before anything serves.
      const stopMetrics = await startMetrics(args.metrics, log, 'harvester');
      const os = await import('node:os');
      const { parsePortRange, partialTtlMs } = await import('../core/config.js');
      const { connectNatsRetrying } = await import('../bus/connect.js');
      // A harvester out of NATS's reach takes no plot: a webhook says so after a while.
      (await import('../bus/nats-reach.js')).watchNatsReach('harvester');
      const { Harvester, defaultAdvertiseHost } = await import('../farm/harvester-daemon.js');
      const { defaultBusId } = await import('../bus/bus-messages.js');
      const id = args.id ?? defaultBusId(os.hostname());
      // A SIGTERM at any point of the start (systemd stopping a unit that waits for NATS or
      // for its disks) stops it cleanly, exit 0, as one after "harvester ready" does.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let h: Awaited<ReturnType<typeof Harvester.prepare>>;
      let nc;
      let serving = false;
      try {
        h = await Harvester.prepare({
          id,
          log,
          dirs: args.dir,
          prefix: args.prefix,
          advertiseHost: args.host ?? defaultAdvertiseHost(),
          listenHost: args.listenHost,
          maxTransfers: args.maxTransfers,
          reserveBytes: args.reserve,
          requireMount: args.requireMount,
          allowRootFs: args.allowRootFs,
          portRange: parsePortRange(args.portRange, 'port-range'),
          claimTtlMs: args.claimTtl * 1000,
          verifyPlotHeader: args.verifyPlotHeader,
          flushEvery: args.flushEvery,
          partialTtlMs: partialTtlMs(args.partialTtl),
          replot: replotSettings(args),
          notifyFullPercent: args.notifyFull,
        });
        // NATS may come up after this host (a boot order, a restart): keep trying, and stop
        // cleanly if told to meanwhile.
        try {
          nc = stop.signal.aborted
            ? undefined
            : await connectNatsRetrying(
                args.nats.join(','),
                `plotferry-harvester-${id}`,
                log,
                natsAuth(args),
                stop.signal,
              );
          if (nc) await h.attach(nc);
        } catch (err) {
          await h.close();
          throw err;
        }
        if (!nc || stop.signal.aborted) {
          await h.close();
          await nc?.close();
          await stopMetrics();
          log.info(nc ? 'stopped' : 'stopped before NATS could be reached');
          return;
        }
        serving = true;
      } finally {
        // Serving, the start's listener stays until serveUntilSignalled's is on (no await between).
        if (!serving) {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }
      await serveUntilSignalled(log, args.grace, (ms) => h.close(ms), onSignal);
      await stopMetrics();
      await nc.close();
      log.info('stopped');
    }),
});
