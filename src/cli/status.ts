import { defineCommand } from './command.js';
import { type GlobalArgs, runCommand } from './run.js';
import { natsAuth, type NatsAuthArgs } from './nats-options.js';

interface StatusArgs extends GlobalArgs, NatsAuthArgs {
  nats: string[];
  prefix: string;
  wait: number;
  json: boolean;
  ignoreDisks: boolean;
}

export const statusCommand = defineCommand<StatusArgs>({
  name: 'status',
  command: 'status',
  describe:
    'list live harvesters: disks with free/total space, plots stored, transfers running; exit 1 if a disk takes no plot, 3 if no harvester answered (or NATS is out of reach)',
  handler: (args) =>
    runCommand(args, async (log) => {
      const { connectNats, natsUnreachable } = await import('../bus/connect.js');
      const { collectHeartbeats, formatStatus, statusVerdict } = await import('../plotter/farm-status.js');
      const { reportError } = await import('./run.js');
      let nc: Awaited<ReturnType<typeof connectNats>>;
      try {
        nc = await connectNats(args.nats.join(','), 'plotferry-status', log, natsAuth(args));
      } catch (err) {
        // NATS out of reach: no harvester can answer. 3, as for none answering, so that a monitor
        // tells it from a disk out of rotation (1); a refused login or TLS setup stays 1.
        if (!natsUnreachable(err)) throw err;
        reportError(err);
        return 3;
      }
      try {
        const clashes: string[] = [];
        const beats = await collectHeartbeats(nc, args.prefix, args.wait * 1000, log, clashes);
        if (args.json) for (const b of beats) process.stdout.write(`${JSON.stringify(b)}\n`);
        else process.stdout.write(formatStatus(beats));
        const verdict = statusVerdict(beats, args.wait, args.ignoreDisks, clashes);
        for (const p of verdict.problems) log.warn(p);
        return verdict.exit;
      } finally {
        await nc.close();
      }
    }),
});
