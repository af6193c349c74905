/**
 * The answers to one announce, and what they mean: which bid wins, when to stop listening, and
 * the verdict (a bid to claim, a holder, a wait, or why nobody bid). Pure: bidding.ts carries
 * the answers in from NATS, runs the timers this asks for, and acts on the verdict.
 *
 * Harvesters that know `answerAll` answer at once with the delay their bid would have waited: a
 * bid ranks at its arrival plus that delay (older harvesters delay it themselves), so load
 * ordering holds without the wait. The best bid wins once its rank is reached, or at once when
 * every harvester the roster knows has answered. Declines say why a harvester does not bid, so
 * "nobody has room" is PF_NO_SPACE and a name held elsewhere PF_EXISTS, not PF_NO_BID after the
 * timeout (no-bid.ts).
 */
import type { Announce, Bid, BidOffer, Decline, Held } from '../bus/bus-messages.js';
import { PlotferryError } from '../core/errors.js';
import { noBidError } from './no-bid.js';

/**
 * Without a roster (`send --nats`), how long after the announce bids still compete: two
 * harvesters that both bid at once arrive a fraction of a millisecond apart.
 */
export const MIN_GATHER_MS = 10;

/** A bid that offers to take the plot now, with what ranks it. */
export interface Offer {
  harvester: string;
  /** When it ranks: arrival plus the delay it carries (ms, the tally's clock). */
  rank: number;
  /** Bytes of this plot it holds from a broken transfer. */
  resumes: number;
  /** Its disk holds this plot's group. */
  group: boolean;
  /** It can take the plot only by deleting PoS1 plots. */
  replot: boolean;
  direct?: BidOffer;
  why?: string;
}

/**
 * Whether `a` beats `b`, the rule that places plots. A harvester holding part of this plot (a
 * broken transfer's good bytes) takes the rest before any other, the one holding most first;
 * then a disk holding the plot's group; among the rest, the earliest rank.
 */
export function outranks(a: Offer, b: Offer | undefined): boolean {
  if (!b) return true;
  if (a.resumes !== b.resumes) return a.resumes > b.resumes;
  if (a.group !== b.group) return a.group;
  return a.rank < b.rank;
}

/** An offer from a bid that is not busy, heard at `now`. */
export function offerOf(bid: Bid, announce: Announce, now: number): Offer {
  return {
    harvester: bid.harvester,
    rank: now + (bid.delayMs ?? 0),
    resumes: bid.resumeFrom ?? 0,
    group: bid.group === true && announce.group !== undefined,
    replot: bid.replot === true,
    ...(bid.offer ? { direct: bid.offer } : {}),
    ...(bid.why ? { why: bid.why } : {}),
  };
}

/** What the listener does next. `arm`: (re)set its one timer to fire at `at`, then call `then`. */
export type Listen =
  { kind: 'listen' } | { kind: 'finish' } | { kind: 'arm'; at: number; then: 'decide' | 'wait-over' | 'finish' };

/** What an announce found. */
export type Verdict =
  /** Claim from `harvester` (`direct`: connect to the bid's offer instead; `why`: why that disk). */
  | { kind: 'bid'; harvester: string; direct?: BidOffer; why?: string }
  /** A holder of this name and size, as its decline describes it. */
  | { kind: 'held'; held: Held }
  /** A harvester declined as holding the name without describing it (`error`: PF_EXISTS). */
  | { kind: 'undescribed'; error: PlotferryError }
  /** The disk holding this plot's group is writing (at `holder`): wait for it, not split the group. */
  | { kind: 'wait-group'; holder: string }
  /** The best bid deletes PoS1 plots while `holder` has free space but is busy: wait for it. */
  | { kind: 'wait-free-space'; holder: string }
  /** No bid; `error` says why. */
  | { kind: 'none'; error: PlotferryError };

export interface TallyContext {
  announce: Announce;
  /** The harvesters the roster knows (undefined: none known, as for `send --nats`). */
  known?: ReadonlySet<string>;
  /** How long a known harvester still silent is waited for (HolderRoster.maxWaitMs). */
  rosterWaitMs: number;
  /** When the announce went out (ms, the tally's clock). */
  t0: number;
  /** The plot has waited long enough for busy free space: a bid that deletes PoS1 plots will do. */
  replotNow: boolean;
}

/** The state at the end, for the verdict: facts the shell knows. */
export interface Ending {
  aborted: boolean;
  /** Why NATS is down (bus/link.ts), when it is. */
  natsDown?: string;
  /** The bid wait, for the message. */
  timeoutMs: number;
}

export class BidTally {
  readonly answered = new Set<string>();
  readonly busy = new Set<string>();
  readonly declines = new Map<string, Decline>();
  best: Offer | undefined;
  /** A harvester with free space that is busy now (a bid that deletes PoS1 plots waits for it). */
  freeBusy: string | undefined;
  holder: Held | undefined;
  /** A harvester whose disk holding this plot's group is busy: the plot waits for it. */
  groupBusy: string | undefined;
  /** Whether the timer was ever armed (a roster's wait is armed only once). */
  private armed = false;

  constructor(readonly ctx: TallyContext) {}

  private get allKnownAnswered(): boolean {
    const known = this.ctx.known;
    return !!known && [...known].every((h) => this.answered.has(h));
  }

  private arm(at: number, then: 'decide' | 'wait-over' | 'finish'): Listen {
    this.armed = true;
    return { kind: 'arm', at, then };
  }

  /** An answer to this announce (another announce's is ignored). */
  hear(r: Bid | Decline, now: number): Listen {
    const a = this.ctx.announce;
    if (r.id !== a.id) return { kind: 'listen' };
    this.answered.add(r.harvester);
    if (r.kind === 'decline' && r.held?.size === a.size) {
      // Held here already: nobody else gets it (a holder ends the query, as in `has`).
      this.holder = { kind: 'held', v: 1, harvester: r.harvester, ...r.held };
      return { kind: 'finish' };
    }
    let next: Listen = { kind: 'listen' };
    if (r.kind === 'decline') this.declines.set(r.harvester, r);
    else if (r.busy) {
      this.busy.add(r.harvester);
      if (r.group && a.group) this.groupBusy = r.harvester;
      if (!r.replot) this.freeBusy ??= r.harvester;
    } else {
      const offer = offerOf(r, a, now);
      if (outranks(offer, this.best)) {
        this.best = offer;
        // Not knowing who else will answer, bids that come within MIN_GATHER_MS compete.
        const gatherUntil = this.ctx.known ? now : this.ctx.t0 + MIN_GATHER_MS;
        next = this.arm(Math.max(now, offer.rank, gatherUntil), 'decide');
      }
    }
    if (!this.allKnownAnswered) return next;
    // Everyone known has answered. With a bid that settles it. With a busy bid too: the plot
    // waits for a `free` and announces again, which a harvester not known yet answers then;
    // waiting here held the plot for the roster's wait while the busy disk came free (10-50 ms
    // after a busy answer, in the farm-10gbe bench) and other plots took it. With only
    // declines, a harvester the roster does not know yet (one dropped from a cron run's saved
    // roster while it restarted) gets the roster's wait to bid before the plot fails, as `has`
    // would have given it.
    if (this.best || this.busy.size > 0) return { kind: 'finish' };
    if (!this.armed) return this.arm(this.ctx.t0 + this.ctx.rosterWaitMs, 'finish');
    return next;
  }

  /**
   * The best bid's rank is reached. A known harvester still silent may hold the plot (a disk
   * spinning up, a busy loop): it gets up to the roster's wait, as `has` would give it, so the
   * plot never goes to a second harvester because its holder answered late.
   */
  decide(now: number): Listen {
    const until = this.ctx.t0 + this.ctx.rosterWaitMs;
    if (this.ctx.known && until > now && !this.allKnownAnswered) return this.arm(until, 'wait-over');
    return { kind: 'finish' };
  }

  verdict(end: Ending): Verdict {
    const { announce: a, replotNow } = this.ctx;
    const best = this.best;
    if (this.holder) return { kind: 'held', held: this.holder };
    // Its group's disk is writing: wait for it rather than start the group on a second disk
    // (a partial copy elsewhere, or a bid from the group's disk, still goes at once).
    if (this.groupBusy && !a.group?.anyDisk && !(best && (best.group || best.resumes > 0)))
      return { kind: 'wait-group', holder: this.groupBusy };
    if (best?.replot && this.freeBusy && !replotNow) return { kind: 'wait-free-space', holder: this.freeBusy };
    if (best)
      return {
        kind: 'bid',
        harvester: best.harvester,
        ...(best.direct ? { direct: best.direct } : {}),
        ...(best.why ? { why: best.why } : {}),
      };
    const error = noBidError({ ...end, announce: a, busy: this.busy, declines: this.declines });
    if (error.code === 'PF_EXISTS' && [...this.declines.values()].some((d) => d.reason === 'held' && !d.held))
      return { kind: 'undescribed', error };
    return { kind: 'none', error };
  }
}
