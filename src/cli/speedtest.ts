import type { Argv, CommandModule } from 'yargs';
import { globalOptions, GlobalArgs, runCommand } from './common.js';

interface SpeedtestArgs extends GlobalArgs {
  to: string;
  token?: string;
  seconds: number;
  streams: number;
  json: boolean;
}

export const speedtestCommand: CommandModule<object, SpeedtestArgs> = {
  command: 'speedtest',
  describe: 'measure the link to a receiver through plotferry itself (memory to memory, nothing written)',
  builder: (y: Argv) =>
    globalOptions(y)
      .option('to', {
        type: 'string',
        demandOption: 'say which receiver: --to HOST:PORT (a `plotferry listen`)',
        describe: 'the receiver, HOST:PORT',
      })
      .option('token', { type: 'string', describe: "the receiver's shared secret (or PLOTFERRY_TOKEN)" })
      .option('seconds', { type: 'number', default: 10, describe: 'how long to send' })
      .option('streams', { type: 'number', default: 1, describe: 'parallel connections' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' })
      .example('$0 speedtest --to 192.168.1.20:8740', 'how fast is the link to this harvester?')
      .epilog(
        'Generated data goes from memory to the receiver, which counts and drops it (it needs the ' +
          'token, and writes nothing). Compare with `send`: if speedtest is fast and send is slow, ' +
          'the disks are the limit, not the network.',
      ) as unknown as Argv<SpeedtestArgs>,
  handler: (args) =>
    runCommand(args, async (log) => {
      const { parseHostPort, requireToken } = await import('../config.js');
      const { PlotferryError } = await import('../errors.js');
      const { runSpeedtest } = await import('../transfer/speedtest.js');
      const to = parseHostPort(args.to, 'to');
      const token = requireToken(args.token);
      if (!(args.seconds > 0 && args.seconds <= 3600))
        throw new PlotferryError('PF_CONFIG', '--seconds must be more than 0 and at most 3600');
      if (!(Number.isInteger(args.streams) && args.streams >= 1 && args.streams <= 64))
        throw new PlotferryError('PF_CONFIG', '--streams must be a whole number from 1 to 64');
      log.info({ to: args.to, seconds: args.seconds, streams: args.streams }, 'speedtest');
      const r = await runSpeedtest({ ...to, token, seconds: args.seconds, streams: args.streams });
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, to: args.to, ...r })}\n`);
        return 0;
      }
      const g = (x: number) => x.toFixed(2);
      for (const s of r.streams)
        process.stdout.write(
          `stream ${s.stream}: ${g(s.gbps)} Gbit/s (${(s.bytes / 1e9).toFixed(2)} GB in ${g(s.seconds)} s)\n`,
        );
      process.stdout.write(
        `total:    ${g(r.gbps)} Gbit/s (${(r.bytes / 1e6 / r.seconds).toFixed(0)} MB/s), sender CPU ${(r.senderCpu * 100).toFixed(0)}% of one core\n`,
      );
      return 0;
    }),
};
