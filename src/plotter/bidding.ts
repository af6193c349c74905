/**
 * Sending by bidding: announce the plot on NATS, take the first bid, claim it from that
 * harvester, then stream it over TCP exactly as in direct mode. A retryable failure (the
 * harvester died, the link corrupted a byte, the claim was refused as busy, the harvester's
 * disk filled up or failed) announces again,
 * excluding harvesters that already failed this file so another one is preferred; after that
 * many tries the error stands. Before announcing again after a failure, it asks whether a
 * harvester stored the plot after all (a RESULT lost on the way back): a verified identical copy
 * is the delivery, so no plot lands twice. The source is never touched here.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Msg, NatsConnection, RequestStrategy } from 'nats';
import { Announce, Claim, decodeBus, encodeBus, subjects } from '../bus/messages.js';
import { natsFailed, noTaker } from '../bus/errors.js';
import { request } from '../bus/request.js';
import { asPlotferryError, PlotferryError } from '../core/errors.js';
import { abortableSleep } from '../core/sleep.js';
import { validatePlotName } from '../wire/names.js';
import { sendFile, SendOptions, SendResult } from '../transfer/sender.js';
import type { FreeSignal } from './free-signal.js';
import { deliveredAs, HolderRoster } from './held.js';

export interface BiddingOptions extends Omit<SendOptions, 'host' | 'port' | 'token'> {
  nc: NatsConnection;
  plotter: string;
  prefix?: string;
  /** How long to wait for the first bid. */
  bidTimeoutMs?: number;
  claimTimeoutMs?: number;
  /** How long to keep announcing while every harvester with room is busy. */
  busyWaitMs?: number;
  /** Attempts in all, each through a fresh bid. */
  tries?: number;
  backoffMs?: number;
  onRetry?: (err: PlotferryError, attempt: number, delayMs: number) => void;
  /** Who answers `has` (shared by a sweep's plots); a fresh one per call otherwise. */
  roster?: HolderRoster;
  /** Harvesters' `free` news: a plot waiting on busy disks goes at once (else it polls). */
  freed?: FreeSignal;
}

export interface BiddingResult extends SendResult {
  harvester: string;
  attempts: number;
  /** A harvester held a verified identical copy already (a RESULT lost on a retried attempt). */
  alreadyStored?: true;
}

export async function sendByBidding(opts: BiddingOptions): Promise<BiddingResult> {
  const name = validatePlotName(opts.name ?? path.basename(opts.file));
  let size: number;
  try {
    size = (await fsp.stat(opts.file)).size;
  } catch (err) {
    throw new PlotferryError('PF_SOURCE', `cannot read ${opts.file}: ${(err as Error).message}`, { cause: err });
  }
  const subj = subjects(opts.prefix ?? 'plotferry');
  const tries = Math.max(1, opts.tries ?? 4);
  const exclude = new Set<string>();
  const started = Date.now();
  const busyWaitMs = opts.busyWaitMs ?? 30 * 60_000;
  // After a failure the harvester may have stored the plot all the same (its RESULT was lost):
  // ask before announcing again, or a second harvester would get a second copy.
  let askFirst = false;
  for (let attempt = 1; ; attempt++) {
    let harvester = '';
    let claimRefusedBusy = false;
    if (opts.signal?.aborted) throw new PlotferryError('PF_ABORTED', `sending ${name} was aborted`);
    try {
      if (askFirst && opts.probe) {
        askFirst = false;
        const held = await storedMeanwhile(opts, name, size, opts.probe);
        if (held) return { ...held, attempts: attempt };
      }
      const id = randomBytes(8).toString('hex');
      harvester = await firstBid(opts, subj.announce, {
        kind: 'announce',
        v: 1,
        id,
        name,
        size,
        plotter: opts.plotter,
        exclude: [...exclude],
      });
      const claim: Claim = { kind: 'claim', v: 1, id, name, size, plotter: opts.plotter };
      const reply = await request(
        opts.nc,
        subj.claim(harvester),
        encodeBus(claim),
        opts.claimTimeoutMs ?? 5_000,
        `the claim answer from ${harvester}`,
      );
      const answer = decodeBus(reply, ['claimed', 'refused']);
      if (answer.kind === 'refused') {
        claimRefusedBusy = answer.code === 'PF_BUSY';
        throw new PlotferryError(answer.code, `${harvester} refused the claim: ${answer.message}`);
      }
      const r = await sendFile({ ...opts, name, host: answer.host, port: answer.port, token: answer.token });
      return { ...r, harvester, attempts: attempt };
    } catch (err) {
      const e = asPlotferryError(err);
      // Busy is not failure: a harvester with room is writing other plots. Announce again
      // without using up a try, for up to busyWaitMs. After a refused claim (a bid reserves
      // nothing, so another plotter took the slot) at once; after busy bids, a little later.
      if (e.code === 'PF_BUSY' && Date.now() - started < busyWaitMs && !opts.signal?.aborted) {
        attempt--;
        if (claimRefusedBusy) await abortableSleep(20 + Math.random() * 200, opts.signal);
        else {
          const poll = 1_000 + Math.random() * 200;
          if (opts.freed) await opts.freed.wait(poll, opts.signal);
          else await abortableSleep(poll, opts.signal);
          // Woken with other waiting plotters: a few ms apart, so they do not all claim at once.
          await abortableSleep(Math.random() * 20, opts.signal);
        }
        continue;
      }
      // A harvester that answered its claim with junk is treated as failed, like one that died;
      // so is one whose disk filled up or failed under the plot: another harvester may take it.
      const harvesterFault = harvester !== '' && ['PF_PROTOCOL', 'PF_DISK_FULL', 'PF_IO'].includes(e.code);
      if (!(e.retryable || harvesterFault) || attempt >= tries || opts.signal?.aborted) throw e;
      askFirst = harvester !== '';
      // A harvester that failed this file is skipped next time, unless it was only busy.
      if (harvester && e.code !== 'PF_BUSY') exclude.add(harvester);
      const delay = Math.min(30_000, (opts.backoffMs ?? 1_000) * 2 ** (attempt - 1));
      opts.onRetry?.(e, attempt, delay);
      await abortableSleep(delay, opts.signal);
    }
  }
}

/**
 * The copy a harvester holds of this plot, as a delivery (held.ts, deliveredAs); undefined when
 * nobody holds it.
 */
async function storedMeanwhile(
  opts: BiddingOptions,
  name: string,
  size: number,
  probe: string,
): Promise<Omit<BiddingResult, 'attempts'> | undefined> {
  const held = await (opts.roster ?? new HolderRoster(opts.nc, opts.prefix)).ask(name, size, probe);
  if (!held) return undefined;
  return deliveredAs(opts.file, name, held, held.harvester);
}

/**
 * The first valid bid. Replies that do not decode (a buggy or hostile responder) are skipped,
 * so junk on the subject cannot make a plotter fail.
 */
async function firstBid(opts: BiddingOptions, subject: string, a: Announce): Promise<string> {
  const timeout = opts.bidTimeoutMs ?? 2_000;
  let replies: AsyncIterable<Msg>;
  const busyHarvesters = new Set<string>();
  try {
    replies = await opts.nc.requestMany(subject, encodeBus(a), { strategy: RequestStrategy.Timer, maxWait: timeout });
  } catch (err) {
    throw natsFailed(subject, err);
  }
  try {
    for await (const m of replies) {
      try {
        const bid = decodeBus(m.data, ['bid']);
        if (bid.id !== a.id) continue;
        if (!bid.busy) return bid.harvester;
        busyHarvesters.add(bid.harvester);
      } catch {
        // not a bid: keep waiting for one
      }
    }
  } catch (err) {
    // 503, no subscriber at all, ends the iteration with an error: that is "no bid" too.
    if (!noTaker(err)) throw natsFailed(subject, err);
  }
  if (busyHarvesters.size > 0) {
    throw new PlotferryError(
      'PF_BUSY',
      `every harvester with room for ${a.name} is busy (${[...busyHarvesters].join(', ')})`,
    );
  }
  const skipped = a.exclude.length ? ` (skipping ${a.exclude.join(', ')}, which failed it before)` : '';
  throw new PlotferryError(
    'PF_NO_BID',
    `no harvester bid for ${a.name} (${a.size} bytes) within ${timeout} ms${skipped}`,
  );
}
