import type { Argv } from 'yargs';
import { asPlotferryError, errorJson } from '../core/errors.js';
import { defineCommand } from './command.js';
import { type GlobalArgs, runCommand } from './run.js';
import { natsAuth, type NatsAuthArgs } from './nats-options.js';

interface SpeedtestArgs extends GlobalArgs, NatsAuthArgs {
  to?: string;
  nats?: string[];
  harvester?: string[];
  prefix: string;
  plotterId?: string;
  token?: string;
  seconds: number;
  streams: number;
  json: boolean;
}

export const speedtestCommand = defineCommand<SpeedtestArgs>({
  name: 'speedtest',
  command: 'speedtest',
  describe:
    'measure the link to a receiver or to every harvester through plotferry itself (memory to memory, nothing written)',
  builder: (y: Argv) =>
    y
      .example('plotferry speedtest --to 192.168.1.20:8740', 'how fast is the link to this listener?')
      .example('plotferry speedtest --nats nats://farm:4222', 'and to every harvester on the farm, one after another')
      .epilog(
        'Generated data goes from memory to the receiver, which counts and drops it (it needs the ' +
          'token, and writes nothing). Compare with `send`: if speedtest is fast and send is slow, ' +
          'the disks are the limit, not the network. Exit 1 if any receiver could not be tested.',
      ),
  handler: (args) =>
    runCommand(args, async (log) => {
      const { parseHostPort, requireToken } = await import('../core/config.js');
      const { PlotferryError } = await import('../core/errors.js');
      const { runSpeedtest } = await import('../transfer/speedtest-sender.js');
      if (!(args.seconds > 0 && args.seconds <= 3600))
        throw new PlotferryError('PF_CONFIG', '--seconds must be more than 0 and at most 3600');
      if (!(Number.isInteger(args.streams) && args.streams >= 1 && args.streams <= 64))
        throw new PlotferryError('PF_CONFIG', '--streams must be a whole number from 1 to 64');
      if (args.to) {
        const to = parseHostPort(args.to, 'to');
        const token = requireToken(args.token);
        log.info({ to: args.to, seconds: args.seconds, streams: args.streams }, 'speedtest');
        try {
          const r = await runSpeedtest({ ...to, token, seconds: args.seconds, streams: args.streams });
          print(args.json, { ok: true, to: args.to, ...r });
          return 0;
        } catch (err) {
          // With --json, a failure is a line on stdout too, shaped as send's and sweep's.
          if (args.json)
            process.stdout.write(
              `${JSON.stringify({ ok: false, to: args.to, error: errorJson(asPlotferryError(err)) })}\n`,
            );
          throw err;
        }
      }
      if (!args.nats)
        throw new PlotferryError(
          'PF_CONFIG',
          'say what to test: --to HOST:PORT (a `plotferry listen`, with --token) or --nats URL (the harvesters)',
        );
      const os = await import('node:os');
      const { connectNats } = await import('../bus/connect.js');
      const { defaultBusId, validateId } = await import('../bus/bus-messages.js');
      const { speedtestHarvesters } = await import('../plotter/harvester-speedtest.js');
      const nc = await connectNats(args.nats.join(','), 'plotferry-speedtest', log, natsAuth(args));
      try {
        const results = await speedtestHarvesters({
          nc,
          log,
          prefix: validateId(args.prefix, '--prefix'),
          plotter: validateId(args.plotterId ?? defaultBusId(os.hostname()), '--plotter-id'),
          harvesters: (args.harvester ?? []).map((h) => validateId(h, '--harvester')),
          seconds: args.seconds,
          streams: args.streams,
        });
        for (const r of results) {
          if (r.ok) print(args.json, r);
          else if (args.json)
            process.stdout.write(
              `${JSON.stringify({ ok: false, harvester: r.harvester, error: errorJson(r.error) })}\n`,
            );
          else process.stdout.write(`${r.harvester}: FAILED ${r.error.code}: ${r.error.message}\n`);
        }
        return results.every((r) => r.ok) ? 0 : 1;
      } finally {
        await nc.close();
      }
    }),
});

interface Printable {
  to: string;
  harvester?: string;
  streams: { stream: number; bytes: number; seconds: number; gbps: number }[];
  bytes: number;
  seconds: number;
  gbps: number;
  senderCpu: number;
}

function print(json: boolean, r: Printable & { ok: true }): void {
  if (json) return void process.stdout.write(`${JSON.stringify(r)}\n`);
  const g = (x: number) => x.toFixed(2);
  const indent = r.harvester ? '  ' : '';
  if (r.harvester) process.stdout.write(`${r.harvester} (${r.to}):\n`);
  for (const s of r.streams)
    process.stdout.write(
      `${indent}stream ${s.stream}: ${g(s.gbps)} Gbit/s (${(s.bytes / 1e9).toFixed(2)} GB in ${g(s.seconds)} s)\n`,
    );
  process.stdout.write(
    `${indent}total:    ${g(r.gbps)} Gbit/s (${(r.bytes / 1e6 / r.seconds).toFixed(0)} MB/s), sender CPU ${(r.senderCpu * 100).toFixed(0)}% of one core\n`,
  );
}
