/**
 * Sending by bidding: announce the plot on NATS, take the first bid, claim it from that
 * harvester (or, where its bid carries an offer, connect at once: the HELLO claims), then
 * stream it over TCP exactly as in direct mode. A retryable failure (the
 * harvester died, the link corrupted a byte, the claim was refused as busy, the harvester's
 * disk filled up or failed) announces again,
 * excluding harvesters that already failed this file so another one is preferred (when no other
 * one takes it, they are asked again); after that many tries the error stands. Before announcing
 * again after a failure, it asks whether a harvester stored the plot after all (a RESULT lost
 * on the way back): a verified identical copy is the delivery, so no plot lands twice. The
 * source is never touched here.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createInbox, NatsConnection } from 'nats';
import {
  Announce,
  BidOffer,
  Claim,
  Decline,
  decodeBus,
  encodeBus,
  Held,
  PlotGroup,
  subjects,
} from '../bus/messages.js';
import { natsFailed } from '../bus/errors.js';
import { linkDown, linkDownMessage } from '../bus/link.js';
import { request } from '../bus/request.js';
import { asPlotferryError, DISK_FAULTS, PlotferryError } from '../core/errors.js';
import { metrics } from '../core/metrics.js';
import { abortableSleep } from '../core/sleep.js';
import { formatBytesAll } from '../core/format.js';
import { readPlotHead } from '../storage/fsio.js';
import { checkPlotHeader, groupOf } from '../wire/plot-header.js';
import { validatePlotName } from '../wire/names.js';
import { sendFile, SendOptions, SendResult } from '../transfer/sender.js';
import type { FreeSignal } from './free-signal.js';
import type { GroupGate } from './slots.js';
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
  /**
   * How long a PoS2 plot waits for the busy disk that holds its group before any disk will do
   * (default DEFAULT_GROUP_WAIT_MS; 0: never waits, though an idle group disk still goes first).
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

/** A plot of a group waits this long for its group's disk, then takes another (CHIP-48 is a wish, not a rule). */
export const DEFAULT_GROUP_WAIT_MS = 5 * 60_000;

/**
 * A plot that could land only by deleting PoS1 plots waits this long for a harvester with free
 * space that is busy (writing another plot), then lets the old plots go.
 */
export const FREE_SPACE_WAIT_MS = 2 * 60_000;

/** PF_BUSY: a harvester with free space is busy; the plot waits for it rather than delete PoS1 plots. */
class FreeSpaceWaitError extends PlotferryError {
  constructor(name: string, holder: string) {
    super(
      'PF_BUSY',
      `${name} waits for ${holder}, busy but with free space, rather than take a bid that deletes PoS1 plots`,
    );
  }
}

/** PF_BUSY: the disk holding this plot's group is writing, and the plot waits for it. */
class GroupWaitError extends PlotferryError {
  constructor(name: string, holder: string) {
    super('PF_BUSY', `${name} waits for ${holder}'s disk that holds its plot group (it is receiving another file)`);
  }
}

/** The plot's group from its first bytes (PoS2 with a memo); undefined for any other file. */
function plotGroupOf(head: Buffer, size: number): PlotGroup | undefined {
  try {
    return groupOf(checkPlotHeader(head, size));
  } catch {
    return undefined; // not a plot we can read: placed by free space alone
  }
}

/**
 * The first announce found that `harvester` holds a file of this name and size (its 'held'
 * decline, or `has`): nothing was sent. Whether that copy is this plot is the caller's to judge
 * (plotter/held.ts): a sweep reports a duplicate, `send` a delivery.
 */
export class HeldError extends PlotferryError {
  constructor(readonly holder: Held) {
    super('PF_EXISTS', `${holder.harvester} holds ${holder.path} (${holder.size} bytes) already`);
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

async function bidAndSend(opts: BiddingOptions, name: string, size: number, group?: PlotGroup): Promise<BiddingResult> {
  const subj = subjects(opts.prefix ?? 'plotferry');
  const groupWaitMs = opts.groupWaitMs ?? DEFAULT_GROUP_WAIT_MS;
  /** Since when this plot has waited for its group's busy disk, or for busy free space. */
  let groupWaitSince: number | undefined;
  let freeWaitSince: number | undefined;
  const tries = Math.max(1, opts.tries ?? 4);
  const exclude = new Set<string>();
  const started = Date.now();
  const busyWaitMs = opts.busyWaitMs ?? 30 * 60_000;
  /** The wait before try `attempt + 1` after a failure: doubling, at most 30 s. */
  const backoff = (attempt: number) => Math.min(30_000, (opts.backoffMs ?? 1_000) * 2 ** (attempt - 1));
  // After a failure the harvester may have stored the plot all the same (its RESULT was lost):
  // ask before announcing again, or a second harvester would get a second copy.
  let askFirst = false;
  /** The last failure that happened at a harvester (claim or transfer), for the final report. */
  let lastFault: PlotferryError | undefined;
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
      // Both waits end by half the busy wait at the latest, so a plot never fails waiting.
      const waited = (since: number | undefined, ms: number) =>
        since !== undefined && Date.now() - since >= Math.min(ms, busyWaitMs / 2);
      const anyDisk = waited(groupWaitSince, groupWaitMs);
      const groupNow = group && (anyDisk || groupWaitMs === 0 ? { ...group, anyDisk: true } : group);
      const replotNow = waited(freeWaitSince, FREE_SPACE_WAIT_MS);
      const found = await firstBid(opts, replotNow, subj.announce, {
        kind: 'announce',
        v: 1,
        id,
        name,
        size,
        plotter: opts.plotter,
        exclude: [...exclude],
        answerAll: true,
        direct: true,
        ...(opts.probe ? { probe: opts.probe } : {}),
        ...(groupNow ? { group: groupNow } : {}),
      });
      if (found.kind === 'held') throw new HeldError(found.held);
      if (found.kind === 'undescribed') {
        // A harvester that does not describe its copy: asked with `has`. Held of another size
        // stays PF_EXISTS.
        const held = opts.probe ? await holderRoster(opts).ask(name, size, opts.probe) : undefined;
        if (held && held.size === size) throw new HeldError(held);
        throw found.error;
      }
      harvester = found.harvester;
      if (found.direct) {
        // The bid's own listener: the HELLO claims, and a refusal is its ERROR (farm/offers.ts).
        const { host, port, token } = found.direct;
        try {
          const r = await sendFile({ ...opts, name, host, port, token, offer: id });
          return { ...r, harvester, attempts: attempt, ...whyWritten(r, found.why) };
        } catch (err) {
          claimRefusedBusy = (err as PlotferryError).code === 'PF_BUSY';
          throw err;
        }
      }
      const claim: Claim = {
        kind: 'claim',
        v: 1,
        id,
        name,
        size,
        plotter: opts.plotter,
        ...(groupNow ? { group: groupNow } : {}),
      };
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
      return { ...r, harvester, attempts: attempt, ...whyWritten(r, found.why) };
    } catch (err) {
      const e = asPlotferryError(err);
      if (e instanceof GroupWaitError) groupWaitSince ??= Date.now();
      if (e instanceof FreeSpaceWaitError) freeWaitSince ??= Date.now();
      // Busy is not failure: a harvester with room is writing other plots. Announce again
      // without using up a try, for up to busyWaitMs. After a refused claim (a bid reserves
      // nothing, so another plotter took the slot) at once; after busy bids, a little later.
      if (e.code === 'PF_BUSY' && Date.now() - started < busyWaitMs && !opts.signal?.aborted) {
        attempt--;
        if (claimRefusedBusy) await abortableSleep(20 + Math.random() * 200, opts.signal);
        else {
          const poll = 1_000 + Math.random() * 200;
          const wait = opts.freed ? opts.freed.wait(poll, opts.signal) : abortableSleep(poll, opts.signal);
          // Waiting for its group's disk: the slot is another group's meanwhile.
          await (e instanceof GroupWaitError && opts.whileWaiting ? opts.whileWaiting(wait) : wait);
          // Woken with other waiting plotters: a few ms apart, so they do not all claim at once.
          await abortableSleep(Math.random() * 20, opts.signal);
        }
        continue;
      }
      // A harvester that answered its claim with junk is treated as failed, like one that died;
      // so is one whose disk filled up or failed under the plot, or that had no usable disk or
      // room left by the time the claim came (a write failed there since its bid): another
      // harvester may take it.
      const harvesterFault =
        harvester !== '' &&
        (e.code === 'PF_PROTOCOL' ||
          DISK_FAULTS.has(e.code) ||
          e.code === 'PF_NO_DISK' ||
          e.code === 'PF_NO_SPACE' ||
          e.code === 'PF_PORT_IN_USE');
      if (lastFault && (e.code === 'PF_NO_BID' || e.code === 'PF_NO_SPACE')) {
        // Nobody else bid after a harvester failed the plot. Skipping it was a preference, not
        // a ban: the ones that failed it are asked once more (restarted since, or with another
        // disk), or a farm with one harvester would fail the plot on any blip.
        if (exclude.size > 0 && attempt < tries && !opts.signal?.aborted) {
          const again = [...exclude].join(', ');
          exclude.clear();
          const delay = backoff(attempt);
          opts.onRetry?.(
            new PlotferryError(
              lastFault.code,
              `no other harvester took it: asking ${again} again (${lastFault.message})`,
            ),
            attempt,
            delay,
          );
          await abortableSleep(delay, opts.signal);
          continue;
        }
        // That failure is the cause to report.
        throw new PlotferryError(lastFault.code, `${lastFault.message}; no other harvester took it (${e.message})`, {
          cause: lastFault,
        });
      }
      if (harvester !== '') lastFault = e;
      if (!(e.retryable || harvesterFault) || attempt >= tries || opts.signal?.aborted) throw e;
      askFirst = harvester !== '';
      // A harvester that failed this file is skipped next time, unless it was only busy.
      if (harvester && e.code !== 'PF_BUSY') exclude.add(harvester);
      const delay = backoff(attempt);
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
  const held = await holderRoster(opts).ask(name, size, probe);
  if (!held) return undefined;
  return deliveredAs(opts.file, name, held, held.harvester);
}

/**
 * Without a roster (`send --nats`), how long after the announce bids still compete: two
 * harvesters that both bid at once arrive a fraction of a millisecond apart.
 */
const MIN_GATHER_MS = 10;

const holderRoster = (opts: BiddingOptions) => opts.roster ?? new HolderRoster(opts.nc, opts.prefix);

/** What an announce found: a harvester to claim from, or one that holds the name already. */
type Found =
  /** `direct`: the bid's offer, to connect to without a claim; `why`: why that disk. */
  | { kind: 'bid'; harvester: string; direct?: BidOffer; why?: string }
  /** A holder of this name and size, as its decline describes it. */
  | { kind: 'held'; held: Held }
  /** A harvester declined as holding the name without describing it (`error`: PF_EXISTS). */
  | { kind: 'undescribed'; error: PlotferryError };

/**
 * The winning bid, or the error that says why there is none. Harvesters that know `answerAll`
 * answer at once with the delay their bid would have waited: a bid ranks at its arrival plus
 * that delay (older harvesters delay it themselves), so load ordering holds without the wait.
 * The best bid wins once its rank is reached, or at once when every harvester the roster knows
 * has answered. Declines say why a harvester does not bid, so "nobody has room" is PF_NO_SPACE
 * (not retried) and a name held elsewhere PF_EXISTS, instead of PF_NO_BID after the timeout.
 * Replies that do not decode (a buggy or hostile responder) are skipped.
 */
function firstBid(opts: BiddingOptions, replotNow: boolean, subject: string, a: Announce): Promise<Found> {
  const timeout = opts.bidTimeoutMs ?? 2_000;
  const known = opts.roster?.harvesters();
  const answered = new Set<string>();
  const busy = new Set<string>();
  const declines = new Map<string, Decline>();
  let best:
    | {
        harvester: string;
        rank: number;
        resumes: number;
        group: boolean;
        replot: boolean;
        direct?: BidOffer;
        why?: string;
      }
    | undefined;
  /** A harvester with free space that is busy now (a bid that deletes PoS1 plots waits for it). */
  let freeBusy: string | undefined;
  let holder: Held | undefined;
  /** A harvester whose disk holding this plot's group is busy: the plot waits for it. */
  let groupBusy: string | undefined;
  return new Promise<Found>((resolve, reject) => {
    let decideTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(overall);
      clearTimeout(decideTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      sub.unsubscribe();
      // A known harvester still silent after its full wait is taken as gone (not one that had
      // no time to answer before a holder, or everyone else, did).
      opts.roster?.heard(answered, !!known && waitedOut);
      if (holder) return resolve({ kind: 'held', held: holder });
      // Its group's disk is writing: wait for it rather than start the group on a second disk
      // (a partial copy elsewhere, or a bid from the group's disk, still goes at once).
      if (groupBusy && !a.group?.anyDisk && !(best && (best.group || best.resumes > 0)))
        return reject(new GroupWaitError(a.name, groupBusy));
      if (best?.replot && freeBusy && !replotNow) return reject(new FreeSpaceWaitError(a.name, freeBusy));
      if (best) {
        metrics.bidSeconds.observe((performance.now() - t0) / 1000);
        return resolve({
          kind: 'bid',
          harvester: best.harvester,
          ...(best.direct ? { direct: best.direct } : {}),
          ...(best.why ? { why: best.why } : {}),
        });
      }
      const error = noBidError(opts, a, timeout, busy, declines);
      if (error.code === 'PF_EXISTS' && [...declines.values()].some((d) => d.reason === 'held' && !d.held))
        resolve({ kind: 'undescribed', error });
      else reject(error);
    };
    // The best bid's rank is reached. A known harvester still silent may hold the plot (a disk
    // spinning up, a busy loop): it gets up to the roster's wait, as `has` would give it, so
    // the plot never goes to a second harvester because its holder answered late.
    const decide = () => {
      const left = known ? t0 + opts.roster!.maxWaitMs - performance.now() : 0;
      if (left > 0 && ![...known!].every((h) => answered.has(h))) decideTimer = setTimeout(waitOver, left);
      else finish();
    };
    // The whole wait ran out (timers, not a clock reading: a timer may fire a fraction of a ms early).
    let waitedOut = false;
    const waitOver = () => {
      waitedOut = true;
      finish();
    };
    const onAbort = () => finish();
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
        if (r.id !== a.id) return;
        answered.add(r.harvester);
        if (r.kind === 'decline' && r.held?.size === a.size) {
          // Held here already: nobody else gets it (a holder ends the query, as in `has`).
          holder = { kind: 'held', v: 1, harvester: r.harvester, ...r.held };
          return finish();
        }
        if (r.kind === 'decline') declines.set(r.harvester, r);
        else if (r.busy) {
          busy.add(r.harvester);
          if (r.group && a.group) groupBusy = r.harvester;
          if (!r.replot) freeBusy ??= r.harvester;
        } else {
          const rank = Date.now() + (r.delayMs ?? 0);
          const resumes = r.resumeFrom ?? 0;
          const group = r.group === true && a.group !== undefined;
          // A harvester holding part of this plot (a broken transfer's good bytes) takes the rest
          // before any other, the one holding most first; then a disk holding the plot's group;
          // among the rest, the best rank wins.
          const better =
            !best ||
            resumes > best.resumes ||
            (resumes === best.resumes && (group && !best.group ? true : group === best.group && rank < best.rank));
          if (better) {
            best = {
              harvester: r.harvester,
              rank,
              resumes,
              group,
              replot: r.replot === true,
              ...(r.offer ? { direct: r.offer } : {}),
              ...(r.why ? { why: r.why } : {}),
            };
            clearTimeout(decideTimer);
            // Not knowing who else will answer, bids that come within MIN_GATHER_MS compete.
            const gather = known ? 0 : MIN_GATHER_MS - (performance.now() - t0);
            decideTimer = setTimeout(decide, Math.max(0, rank - Date.now(), gather));
          }
        }
        if (known && [...known].every((h) => answered.has(h))) {
          // Everyone known has answered. With a bid (or a holder) that settles it; with only
          // declines and busy bids, a harvester the roster does not know yet (one dropped from a
          // cron run's saved roster while it restarted) gets the roster's wait to bid before the
          // plot fails, as `has` would have given it.
          if (best || holder) finish();
          else if (decideTimer === undefined)
            decideTimer = setTimeout(finish, Math.max(0, t0 + opts.roster!.maxWaitMs - performance.now()));
        }
      },
    });
    const overall = setTimeout(waitOver, timeout);
    const t0 = performance.now();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      opts.nc.publish(subject, encodeBus(a), { reply: inbox });
    } catch (err) {
      done = true;
      clearTimeout(overall);
      opts.signal?.removeEventListener('abort', onAbort);
      sub.unsubscribe();
      reject(natsFailed(subject, err));
    }
  });
}

/** Why no harvester took the plot, from what they answered (and whether NATS is up at all). */
function noBidError(
  opts: BiddingOptions,
  a: Announce,
  timeout: number,
  busy: ReadonlySet<string>,
  declines: ReadonlyMap<string, Decline>,
): PlotferryError {
  if (opts.signal?.aborted) return new PlotferryError('PF_ABORTED', `sending ${a.name} was aborted`);
  if (busy.size > 0)
    return new PlotferryError('PF_BUSY', `every harvester with room for ${a.name} is busy (${[...busy].join(', ')})`);
  const down = linkDown(opts.nc);
  if (down) return new PlotferryError('PF_NATS', `${a.name} could not be offered: ${linkDownMessage(down)}`);
  const all = [...declines.values()];
  const held = all.filter((d) => d.reason === 'held');
  if (held.length > 0)
    return new PlotferryError(
      'PF_EXISTS',
      `${held.map((d) => d.harvester).join(', ')} holds a file named ${a.name} already (of another size); not sent, the source is kept: rename or remove one of them`,
    );
  // Waiting cannot help: another process holds their ports (not "busy", which ends by itself).
  if (all.length > 0 && all.every((d) => d.reason === 'no-port'))
    return new PlotferryError(
      'PF_PORT_IN_USE',
      `no harvester can open a port for ${a.name}: another process holds every port of the --port-range of ${all.map((d) => d.harvester).join(', ')} (see their logs)`,
    );
  const noRoom = all.filter((d) => d.reason === 'no-room' || d.reason === 'no-disk');
  const skipped = a.exclude.length ? ` (skipping ${a.exclude.join(', ')}, which failed it before)` : '';
  if (noRoom.length > 0 && noRoom.length === all.length && a.exclude.length === 0) {
    if (noRoom.every((d) => d.reason === 'no-disk'))
      return new PlotferryError(
        'PF_NO_DISK',
        `no harvester has a usable disk for ${a.name} (${noRoom.map((d) => d.harvester).join(', ')}: see their logs or \`plotferry status\`)`,
      );
    // The plot's size beside each harvester's room: figures that read alike are given in bytes.
    const [sizeText, ...roomText] = formatBytesAll([a.size, ...noRoom.map((d) => d.freeBytes)]);
    return new PlotferryError(
      'PF_NO_SPACE',
      `no harvester has room for ${a.name} (${sizeText} plus its reserve): ${noRoom
        .map((d, i) =>
          d.reason === 'no-disk'
            ? `${d.harvester} has no usable disk`
            : `${d.harvester} has room for at most ${roomText[i]}${d.why ? ` (${d.why})` : ''}`,
        )
        .join(', ')}`,
    );
  }
  const heard = all.length ? `; ${all.map((d) => `${d.harvester}: ${d.reason}`).join(', ')}` : '';
  return new PlotferryError(
    'PF_NO_BID',
    `no harvester bid for ${a.name} (${a.size} bytes) within ${timeout} ms${skipped}${heard}`,
  );
}
