/**
 * Sending by bidding: announce the plot on NATS, take the winning bid, claim it from that
 * harvester (or, where its bid carries an offer, connect at once: the HELLO claims), then
 * stream it over TCP exactly as in direct mode. This file is the I/O; the rules are pure code:
 * which bid wins and what the answers mean in bid-answers.ts (why nobody bid: no-bid.ts), and
 * when to wait, try again, ask a harvester that failed the plot again, or give up in
 * bid-tries.ts, counted by the delivery's retry policy (transfer/retry-policy.ts). Before
 * announcing again after a failure, it asks whether a harvester stored the plot after all (a
 * RESULT lost on the way back): a verified identical copy is the delivery, so no plot lands
 * twice. The source is never touched here.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createInbox, NatsConnection } from 'nats';
import { Announce, Claim, decodeBus, encodeBus, subjects } from '../bus/bus-messages.js';
import type { PlotGroup } from '../wire/plot-header.js';
import { natsFailed } from '../bus/nats-errors.js';
import { linkDown, linkDownMessage } from '../bus/link.js';
import { request } from '../bus/request.js';
import { asPlotferryError, PlotferryError } from '../core/errors.js';
import { metrics } from '../core/metrics.js';
import { abortableSleep } from '../core/sleep.js';
import { readPlotHead } from '../storage/fsio.js';
import { checkPlotHeader, groupOf } from '../wire/plot-header.js';
import { validatePlotName } from '../wire/names.js';
import { busyPollMs, retryPolicy } from '../transfer/retry-policy.js';
import { sendFile, SendOptions, SendResult } from '../transfer/sender.js';
import { BidTally, Listen, Verdict } from './bid-answers.js';
import { BidTries, TryEnd, TryPlan, TryStep } from './bid-tries.js';
import type { FreeSignal } from './free-signal.js';
import type { GroupGate } from './slots.js';
import { deliveredAs, HeldError } from './held-verdict.js';
import { HolderRoster } from './holder-roster.js';

export interface BiddingOptions extends Omit<SendOptions, 'host' | 'port' | 'token'> {
  nc: NatsConnection;
  plotter: string;
  prefix?: string;
  /** How long to wait for the first bid. */
  bidTimeoutMs?: number;
  claimTimeoutMs?: number;
  /** How long to keep announcing while every harvester with room is busy. */
  busyWaitMs?: number;
  /** Tries in all (`--retries` + 1), each through a fresh bid (transfer/retry-policy.ts). */
  tries?: number;
  /** The first retry's wait (retry-policy.ts; tests shorten it). */
  backoffMs?: number;
  onRetry?: (err: PlotferryError, attempt: number, delayMs: number) => void;
  /** Who answers `has` (shared by a sweep's plots); a fresh one per call otherwise. */
  roster?: HolderRoster;
  /** Harvesters' `free` news: a plot waiting on busy disks goes at once (else it polls). */
  freed?: FreeSignal;
  /**
   * How long a PoS2 plot waits for the busy disk that holds its group before any disk will do
   * (default bid-tries.ts DEFAULT_GROUP_WAIT_MS; 0: never waits, though an idle group disk still goes first).
   */
  groupWaitMs?: number;
  /** Plots of one group go one at a time (shared by a sweep's plots; plotter/slots.ts). */
  groupGate?: GroupGate;
  /**
   * Runs a wait for this plot's group (another of its plots on its way, or its disk busy)
   * without the sender's --concurrency slot, and takes a slot again before the plot goes on:
   * meanwhile plots of other groups use it.
   */
  whileWaiting?: <T>(wait: Promise<T>) => Promise<T>;
}

/** The plot's group from its first bytes (PoS2 with a memo); undefined for any other file. */
function plotGroupOf(head: Buffer, size: number): PlotGroup | undefined {
  try {
    return groupOf(checkPlotHeader(head, size));
  } catch {
    return undefined; // not a plot we can read: placed by free space alone
  }
}

export interface BiddingResult extends SendResult {
  harvester: string;
  attempts: number;
  /** A harvester held a verified identical copy already (a RESULT lost on a retried attempt). */
  alreadyStored?: true;
  /** Why the winning harvester chose its disk, as its bid said. */
  why?: string;
}

/**
 * Why the plot's disk was chosen, for the plotter's log: the receiver's RESULT says it of the
 * disk it wrote to. A bid's `why` was said before any disk was reserved, and another plot may
 * have taken that disk by the claim (or it failed a write), so from a harvester whose RESULT
 * does not say, the bid's is kept only when it names the directory the plot went to.
 */
export function whyWritten(r: Pick<SendResult, 'remotePath' | 'why'>, bidWhy?: string): { why?: string } {
  if (r.why) return { why: r.why };
  if (bidWhy?.startsWith(`${path.dirname(r.remotePath)}: `)) return { why: bidWhy };
  return {};
}

export async function sendByBidding(opts: BiddingOptions): Promise<BiddingResult> {
  const name = validatePlotName(opts.name ?? path.basename(opts.file));
  let size: number;
  let head: Buffer | undefined;
  try {
    // The header (for its plot group) read alongside the stat: one wait, not two.
    [size, head] = await Promise.all([
      fsp.stat(opts.file).then((st) => st.size),
      readPlotHead(opts.file).catch(() => undefined),
    ]);
  } catch (err) {
    throw new PlotferryError('PF_SOURCE', `cannot read ${opts.file}: ${(err as Error).message}`, { cause: err });
  }
  const group = head && plotGroupOf(head, size);
  let leave: (() => void) | undefined;
  if (group && opts.groupGate) {
    const queued = opts.groupGate.busy(group.key);
    const entering = opts.groupGate.enter(group.key);
    leave = await (queued && opts.whileWaiting ? opts.whileWaiting(entering) : entering);
  }
  if (!leave) return bidAndSend(opts, name, size, group);
  try {
    return await bidAndSend(
      {
        ...opts,
        onSent: () => {
          leave();
          opts.onSent?.();
        },
      },
      name,
      size,
      group,
    );
  } finally {
    leave();
  }
}

/** One plot, try after try, as BidTries decides. */
async function bidAndSend(opts: BiddingOptions, name: string, size: number, group?: PlotGroup): Promise<BiddingResult> {
  const policy = retryPolicy({ tries: opts.tries, backoffMs: opts.backoffMs, busyWaitMs: opts.busyWaitMs });
  const tries = new BidTries({ name, policy, groupWaitMs: opts.groupWaitMs, started: Date.now() });
  for (;;) {
    if (opts.signal?.aborted) throw new PlotferryError('PF_ABORTED', `sending ${name} was aborted`);
    const plan = tries.plan(Date.now());
    // The `free`s heard before this announce: one heard after it wakes a busy wait at once.
    const heard = opts.freed?.heard;
    const end = await oneTry(opts, name, size, group, plan);
    if (end.kind === 'delivered') return { ...end.result, attempts: plan.try };
    await carryOut(opts, tries.after(end, Date.now(), opts.signal?.aborted ?? false), heard);
  }
}

async function carryOut(opts: BiddingOptions, step: TryStep, heard?: number): Promise<void> {
  switch (step.kind) {
    case 'fail':
      throw step.error;
    case 'retry':
      opts.onRetry?.(step.report, step.failedTry, step.delayMs);
      return abortableSleep(step.delayMs, opts.signal);
    case 'wait-busy':
      return waitBusy(opts, step, heard);
  }
}

/**
 * Busy is not failure: a harvester with room is writing other plots. After a refused claim (a
 * bid reserves nothing, so another plotter took the slot) the plot is announced again at once;
 * after busy bids, when a harvester frees a disk (`freed`) or after a poll.
 */
async function waitBusy(
  opts: BiddingOptions,
  step: Extract<TryStep, { kind: 'wait-busy' }>,
  heard?: number,
): Promise<void> {
  if (step.soon) return abortableSleep(20 + Math.random() * 200, opts.signal);
  const poll = busyPollMs(Math.random());
  const wait = opts.freed ? opts.freed.wait(poll, opts.signal, heard) : abortableSleep(poll, opts.signal);
  // Waiting for its group's disk: the slot is another group's meanwhile.
  await (step.forGroup && opts.whileWaiting ? opts.whileWaiting(wait) : wait);
  // Woken with other waiting plotters: a few ms apart, so they do not all claim at once.
  await abortableSleep(Math.random() * 20, opts.signal);
}

type Delivered = { kind: 'delivered'; result: Omit<BiddingResult, 'attempts'> };

/** Where a try got to: the harvester it was at, and whether that one refused as busy. */
interface At {
  harvester?: string;
  refusedBusy: boolean;
}

/** One try: ask whether it is stored already (when told to), announce, claim, send. */
async function oneTry(
  opts: BiddingOptions,
  name: string,
  size: number,
  group: PlotGroup | undefined,
  plan: TryPlan,
): Promise<Delivered | TryEnd> {
  const at: At = { refusedBusy: false };
  try {
    // After a failure the harvester may have stored the plot all the same (its RESULT was
    // lost): asked before announcing again, or a second harvester would get a second copy.
    if (plan.askFirst && opts.probe) {
      const held = await storedMeanwhile(opts, name, size, opts.probe);
      if (held) return { kind: 'delivered', result: held };
    }
    const id = randomBytes(8).toString('hex');
    const groupNow = group && (plan.anyDisk ? { ...group, anyDisk: true } : group);
    const verdict = await firstBid(opts, plan.replotNow, subjects(opts.prefix ?? 'plotferry').announce, {
      kind: 'announce',
      v: 1,
      id,
      name,
      size,
      plotter: opts.plotter,
      exclude: plan.exclude,
      answerAll: true,
      direct: true,
      ...(opts.probe ? { probe: opts.probe } : {}),
      ...(groupNow ? { group: groupNow } : {}),
    });
    if (verdict.kind === 'wait-group' || verdict.kind === 'wait-free-space') return verdict;
    const bid = await aBid(opts, name, size, verdict);
    at.harvester = bid.harvester;
    const r = await claimAndSend(opts, { id, name, size, ...(groupNow ? { group: groupNow } : {}) }, bid, at);
    return { kind: 'delivered', result: { ...r, harvester: bid.harvester, ...whyWritten(r, bid.why) } };
  } catch (err) {
    const error = asPlotferryError(err);
    return { kind: 'failed', error, ...at };
  }
}

/** The verdict's bid; otherwise what it means, thrown: a holder (HeldError) or why nobody bid. */
async function aBid(
  opts: BiddingOptions,
  name: string,
  size: number,
  v: Exclude<Verdict, { kind: 'wait-group' | 'wait-free-space' }>,
): Promise<Extract<Verdict, { kind: 'bid' }>> {
  switch (v.kind) {
    case 'bid':
      return v;
    case 'held':
      throw new HeldError(v.held);
    case 'undescribed': {
      // A harvester that does not describe its copy: asked with `has`. Held of another size
      // stays PF_EXISTS.
      const held = opts.probe ? await holderRoster(opts).ask(name, size, opts.probe) : undefined;
      if (held && held.size === size) throw new HeldError(held);
      throw v.error;
    }
    case 'none':
      throw v.error;
  }
}

/** Claims the bid (or connects to its offer: the HELLO claims, farm/offers.ts) and sends. */
async function claimAndSend(
  opts: BiddingOptions,
  plot: Pick<Claim, 'id' | 'name' | 'size' | 'group'>,
  bid: Extract<Verdict, { kind: 'bid' }>,
  at: At,
): Promise<SendResult> {
  const { id, name } = plot;
  if (bid.direct) {
    const { host, port, token } = bid.direct;
    try {
      return await sendFile({ ...opts, name, host, port, token, offer: id });
    } catch (err) {
      at.refusedBusy = (err as PlotferryError).code === 'PF_BUSY';
      throw err;
    }
  }
  const { group, ...rest } = plot;
  const claim: Claim = { kind: 'claim', v: 1, ...rest, plotter: opts.plotter, ...(group ? { group } : {}) };
  const reply = await request(
    opts.nc,
    subjects(opts.prefix ?? 'plotferry').claim(bid.harvester),
    encodeBus(claim),
    opts.claimTimeoutMs ?? 5_000,
    `the claim answer from ${bid.harvester}`,
  );
  const answer = decodeBus(reply, ['claimed', 'refused']);
  if (answer.kind === 'refused') {
    at.refusedBusy = answer.code === 'PF_BUSY';
    throw new PlotferryError(answer.code, `${bid.harvester} refused the claim: ${answer.message}`);
  }
  return sendFile({ ...opts, name, host: answer.host, port: answer.port, token: answer.token });
}

/**
 * The copy a harvester holds of this plot, as a delivery (held-verdict.ts, deliveredAs); undefined when
 * nobody holds it.
 */
async function storedMeanwhile(
  opts: BiddingOptions,
  name: string,
  size: number,
  probe: string,
): Promise<Omit<BiddingResult, 'attempts'> | undefined> {
  const held = await holderRoster(opts).ask(name, size, probe);
  if (!held) return undefined;
  return deliveredAs(opts.file, name, held, held.harvester);
}

const holderRoster = (opts: BiddingOptions) => opts.roster ?? new HolderRoster(opts.nc, opts.prefix);

/**
 * Announces and listens for the answers until the tally (bid-answers.ts) has a verdict: the
 * NATS subscription and the timers it asks for, nothing more. Replies that do not decode (a
 * buggy or hostile responder) are skipped.
 */
function firstBid(opts: BiddingOptions, replotNow: boolean, subject: string, a: Announce): Promise<Verdict> {
  const timeoutMs = opts.bidTimeoutMs ?? 2_000;
  const known = opts.roster?.harvesters();
  const t0 = performance.now();
  const tally = new BidTally({ announce: a, known, rosterWaitMs: opts.roster?.maxWaitMs ?? 0, t0, replotNow });
  return new Promise<Verdict>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    // The whole wait ran out (timers, not a clock reading: a timer may fire a fraction of a ms early).
    let waitedOut = false;
    const stop = () => {
      done = true;
      clearTimeout(overall);
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', finish);
      sub.unsubscribe();
    };
    function finish() {
      if (done) return;
      stop();
      // A known harvester still silent after its full wait is taken as gone (not one that had
      // no time to answer before a holder, or everyone else, did).
      opts.roster?.heard(tally.answered, !!known && waitedOut);
      const down = linkDown(opts.nc);
      const aborted = opts.signal?.aborted ?? false;
      const v = tally.verdict({ aborted, timeoutMs, ...(down ? { natsDown: linkDownMessage(down) } : {}) });
      if (v.kind === 'bid') metrics.bidSeconds.observe((performance.now() - t0) / 1000);
      resolve(v);
    }
    const waitOver = () => {
      waitedOut = true;
      finish();
    };
    const act = (l: Listen): void => {
      if (l.kind === 'finish') return finish();
      if (l.kind === 'listen') return;
      const then = { decide: () => act(tally.decide(performance.now())), 'wait-over': waitOver, finish }[l.then];
      clearTimeout(timer);
      timer = setTimeout(then, Math.max(0, l.at - performance.now()));
    };
    const inbox = createInbox();
    const sub = opts.nc.subscribe(inbox, {
      callback: (err, m) => {
        if (err || done) return;
        let r;
        try {
          r = decodeBus(m.data, ['bid', 'decline']);
        } catch {
          return; // not an answer: keep waiting for one
        }
        act(tally.hear(r, performance.now()));
      },
    });
    const overall = setTimeout(waitOver, timeoutMs);
    opts.signal?.addEventListener('abort', finish, { once: true });
    try {
      opts.nc.publish(subject, encodeBus(a), { reply: inbox });
    } catch (err) {
      stop();
      reject(natsFailed(subject, err));
    }
  });
}
