import type { Argv, CommandModule } from 'yargs';
import { parseSeconds } from '../core/config.js';
import { edge, GlobalArgs, globalOptions, natsAuth, NatsAuthArgs, natsAuthOptions, runCommand } from './common.js';

interface StatusArgs extends GlobalArgs, NatsAuthArgs {
  nats: string;
  prefix: string;
  wait: number;
  json: boolean;
}

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: 'status',
  describe: 'list live harvesters: disks with free/total space, plots stored, transfers running',
  builder: (y: Argv) =>
    natsAuthOptions(globalOptions(y))
      .option('nats', {
        type: 'string',
        default: 'nats://127.0.0.1:4222',
        describe: 'NATS server URL, or several as a,b,c (any live one is used, with failover)',
      })
      .option('prefix', { type: 'string', default: 'plotferry', describe: 'NATS subject prefix' })
      .option('wait', {
        type: 'string',
        coerce: edge((v) => parseSeconds(v, 'wait', 0)),
        default: 6,
        describe: 'seconds to listen for heartbeats (harvesters send one every 5 s)',
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print one JSON object per harvester',
      }) as unknown as Argv<StatusArgs>,
  handler: (args) =>
    runCommand(args, async (log) => {
      const { connectNats } = await import('../bus/connect.js');
      const { collectHeartbeats, formatStatus } = await import('../plotter/status.js');
      const nc = await connectNats(args.nats, 'plotferry-status', log, natsAuth(args));
      try {
        const beats = await collectHeartbeats(nc, args.prefix, args.wait * 1000, log);
        if (args.json) for (const b of beats) process.stdout.write(`${JSON.stringify(b)}\n`);
        else process.stdout.write(formatStatus(beats));
        if (beats.length === 0)
          log.warn(`no harvester sent a heartbeat within ${args.wait} s on ${args.prefix}.heartbeat.*`);
      } finally {
        await nc.close();
      }
    }),
};
