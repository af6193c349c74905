import type { Argv, CommandModule } from 'yargs';
import { parseCount, parseDecimal, parseSeconds } from '../core/config.js';
import { PlotferryError } from '../core/errors.js';
import {
  edge,
  GlobalArgs,
  globalOptions,
  natsAuth,
  NatsAuthArgs,
  natsAuthOptions,
  ReceiverArgs,
  receiverOptions,
  replotSettings,
  runCommand,
  serveUntilSignalled,
  startMetrics,
} from './common.js';

interface HarvesterArgs extends GlobalArgs, ReceiverArgs, NatsAuthArgs {
  nats: string;
  notifyFull: number;
  dir: string[];
  id?: string;
  host?: string;
  listenHost: string;
  maxTransfers: number;
  reserve: string;
  requireMount: boolean;
  portRange: string;
  prefix: string;
  claimTtl: number;
  grace: number;
}

export const harvesterCommand: CommandModule<object, HarvesterArgs> = {
  command: 'harvester',
  describe: 'bid for plots announced on NATS and receive the ones this host wins',
  builder: (y: Argv) =>
    receiverOptions(natsAuthOptions(globalOptions(y)))
      .option('nats', {
        type: 'string',
        default: 'nats://127.0.0.1:4222',
        describe: 'NATS server URL, or several as a,b,c (any live one is used, with failover)',
      })
      .option('dir', {
        type: 'string',
        array: true,
        demandOption: 'name at least one directory: --dir /mnt/disk1',
        describe: 'a receiving directory; repeat per disk',
      })
      .option('id', { type: 'string', describe: "this harvester's name on the bus (default: the host name)" })
      .option('host', {
        type: 'string',
        describe: "address plotters connect to (default: this host's first non-loopback IPv4)",
      })
      .option('listen-host', {
        type: 'string',
        default: '0.0.0.0',
        describe: 'address the per-transfer listeners bind',
      })
      .option('max-transfers', {
        type: 'string',
        coerce: edge((v) => parseCount(v, 'max-transfers', 1)),
        default: 5,
        describe: 'transfers at once (also at most one per disk)',
      })
      .option('require-mount', {
        type: 'boolean',
        default: false,
        describe: 'skip a --dir that is not a mount point (its disk is not mounted), so it never fills the parent',
      })
      .option('reserve', { type: 'string', default: '0', describe: 'space to leave free on every disk (e.g. 2G)' })
      .option('port-range', {
        type: 'string',
        default: '0',
        describe:
          'TCP ports for transfers, "LOW-HIGH" (0: any free port); the first free one is the standing listener for bids, the rest serve claims of older plotters',
      })
      .option('prefix', {
        type: 'string',
        default: 'plotferry',
        describe: 'NATS subject prefix; farms sharing a server use different ones',
      })
      .option('claim-ttl', {
        type: 'string',
        coerce: edge((v) => parseSeconds(v, 'claim-ttl', 1)),
        default: 30,
        describe: 'seconds a won bid waits for its transfer before the disk is freed',
      })
      .option('grace', {
        type: 'string',
        coerce: edge((v) => parseSeconds(v, 'grace', 0)),
        default: 600,
        describe: 'on SIGINT/SIGTERM, seconds running transfers get to finish',
      })
      .option('notify-full', {
        type: 'string',
        coerce: edge((v) => {
          const n = parseDecimal(v, 'notify-full', 1, 'a percentage');
          if (n > 100)
            throw new PlotferryError('PF_CONFIG', `--notify-full "${String(v)}": give a percentage, at most 100`);
          return n;
        }),
        default: 95,
        describe:
          'with --notify: tell when a disk is this full, in percent (not while --replot still has PoS1 plots to free there)',
      })
      .example('$0 harvester --nats nats://farm:4222 --dir /mnt/d1 --dir /mnt/d2', 'receive plots onto two disks')
      .example(
        '$0 harvester --nats nats://farm:4222 --dir /mnt/d1 --replot --reserve 2G',
        'full disks of PoS1 plots: each PoS2 plot deletes just the PoS1 plots it needs, oldest first (try --replot-dry-run first)',
      )
      .example(
        '$0 harvester --nats nats://n1:4222,nats://n2:4222 --dir /mnt/d1 --metrics 0.0.0.0:9368',
        'two NATS servers; Prometheus metrics',
      )
      .epilog(
        'The plotter ranks the bids by a delay of 10 ms per running transfer and up to 50 ms as the chosen disk fills, so the idlest, emptiest harvester wins; ' +
          'one that must delete PoS1 plots (--replot) ranks 200 ms later, so free space anywhere is used first. No file byte crosses NATS.',
      ) as unknown as Argv<HarvesterArgs>,
  handler: (args) =>
    runCommand(args, async (log) => {
      // First: a metrics port already taken fails the start before anything serves.
      const stopMetrics = await startMetrics(args.metrics, log);
      const os = await import('node:os');
      const { parseBytes, parsePortRange, partialTtlMs } = await import('../core/config.js');
      const { connectNatsRetrying } = await import('../bus/connect.js');
      const { Harvester, defaultAdvertiseHost } = await import('../farm/harvester.js');
      const { defaultBusId } = await import('../bus/messages.js');
      const id = args.id ?? defaultBusId(os.hostname());
      // A SIGTERM at any point of the start (systemd stopping a unit that waits for NATS or
      // for its disks) stops it cleanly, exit 0, as one after "harvester ready" does.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let h: Awaited<ReturnType<typeof Harvester.prepare>>;
      let nc;
      try {
        h = await Harvester.prepare({
          id,
          log,
          dirs: args.dir,
          prefix: args.prefix,
          advertiseHost: args.host ?? defaultAdvertiseHost(),
          listenHost: args.listenHost,
          maxTransfers: args.maxTransfers,
          reserveBytes: parseBytes(args.reserve, 'reserve'),
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
            : await connectNatsRetrying(args.nats, `plotferry-harvester-${id}`, log, natsAuth(args), stop.signal);
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
      } finally {
        // No await between here and serveUntilSignalled: no signal falls between the two.
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      await serveUntilSignalled(log, args.grace, (ms) => h.close(ms));
      await stopMetrics();
      await nc.close();
      log.info('stopped');
    }),
};
