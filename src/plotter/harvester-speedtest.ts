/**
 * `plotferry speedtest --nats`: the link from this plotter to each harvester, found on NATS.
 * For each one in turn (never at once: they would share this host's NIC), ask it over NATS for a
 * speedtest-only listener with a one-time token, then run the same memory-to-memory test as
 * `speedtest --to`. Only this small request crosses NATS; the test bytes go over TCP.
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { decodeBus, encodeBus, subjects } from '../bus/bus-messages.js';
import { request } from '../bus/request.js';
import { asPlotferryError, PlotferryError } from '../core/errors.js';
import { collectHeartbeats } from './farm-status.js';
import { runSpeedtest, SpeedtestResult } from '../transfer/speedtest-sender.js';

export interface NatsSpeedtestOptions {
  nc: NatsConnection;
  prefix: string;
  plotter: string;
  /** Harvester ids; empty: every harvester whose heartbeat arrives within discoverMs. */
  harvesters: readonly string[];
  seconds: number;
  streams: number;
  discoverMs?: number;
  requestTimeoutMs?: number;
  log: Logger;
}

export type HarvesterSpeedtest =
  | ({ ok: true; harvester: string; to: string } & SpeedtestResult)
  | { ok: false; harvester: string; error: PlotferryError };

export async function speedtestHarvesters(opts: NatsSpeedtestOptions): Promise<HarvesterSpeedtest[]> {
  let ids = [...opts.harvesters];
  if (ids.length === 0) {
    ids = (await collectHeartbeats(opts.nc, opts.prefix, opts.discoverMs ?? 1_500, opts.log)).map((h) => h.harvester);
    if (ids.length === 0)
      throw new PlotferryError(
        'PF_NO_BID',
        `no harvester answered on NATS (prefix "${opts.prefix}") within ${opts.discoverMs ?? 1_500} ms`,
      );
  }
  const out: HarvesterSpeedtest[] = [];
  for (const harvester of ids) {
    try {
      out.push(await speedtestOne(opts, harvester));
    } catch (err) {
      out.push({ ok: false, harvester, error: asPlotferryError(err) });
    }
  }
  return out;
}

async function speedtestOne(opts: NatsSpeedtestOptions, harvester: string): Promise<HarvesterSpeedtest> {
  const id = randomBytes(8).toString('hex');
  const reply = await request(
    opts.nc,
    subjects(opts.prefix).speedtest(harvester),
    encodeBus({ kind: 'speedtest', v: 1, id, plotter: opts.plotter, seconds: opts.seconds, streams: opts.streams }),
    opts.requestTimeoutMs ?? 5_000,
    `a speedtest listener from ${harvester} (is it running, with this --prefix?)`,
  );
  const answer = decodeBus(reply, ['claimed', 'refused']);
  if (answer.id !== id) throw new PlotferryError('PF_PROTOCOL', `${harvester} answered another request`);
  if (answer.kind === 'refused')
    throw new PlotferryError(answer.code, `${harvester} refused the speedtest: ${answer.message}`);
  const to = `${answer.host}:${answer.port}`;
  opts.log.info({ harvester, to, seconds: opts.seconds, streams: opts.streams }, 'speedtest');
  const r = await runSpeedtest({
    host: answer.host,
    port: answer.port,
    token: answer.token,
    seconds: opts.seconds,
    streams: opts.streams,
  });
  return { ok: true, harvester, to, ...r };
}
