/**
 * One plot's tries by bidding, as a small state machine: what the next announce asks for, and
 * after each try that did not deliver, whether the plot waits, tries again (and where), or
 * fails with which error. Pure: bidding.ts announces, claims, sends and sleeps as told.
 *
 *   plan() -> an announce -> verdict (bid-answers.ts) -> claim and send -> delivered
 *                                     |                          |
 *                                     +-- a wait, or a failure --+--> after() -> TryStep
 *
 * The counting (what is a try, back-off, busy wait) is the delivery's one retry policy
 * (transfer/retry-policy.ts); what bidding adds is where the next try goes: a harvester that
 * failed the plot is skipped while another takes it, and asked again when none does.
 */
import { DISK_FAULTS, ErrorCode, PlotferryError } from '../core/errors.js';
import { nextStep, RetryPolicy, retryDelayMs } from '../transfer/retry-policy.js';

/** A plot of a group waits this long for its group's disk, then takes another (CHIP-48 is a wish, not a rule). */
export const DEFAULT_GROUP_WAIT_MS = 5 * 60_000;

/**
 * A plot that could land only by deleting PoS1 plots waits this long for a harvester with free
 * space that is busy (writing another plot), then lets the old plots go.
 */
export const FREE_SPACE_WAIT_MS = 2 * 60_000;

/**
 * Failures at a harvester after which another harvester may take the plot: it answered its
 * claim with junk, its disk filled up or failed under the plot, or it had no usable disk, room
 * or port left by the time the claim came (a write failed there since its bid).
 */
const HARVESTER_FAULTS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'PF_PROTOCOL',
  ...DISK_FAULTS,
  'PF_NO_DISK',
  'PF_NO_SPACE',
  'PF_PORT_IN_USE',
]);

/** What the next announce asks for. */
export interface TryPlan {
  /** This try's number, from 1. */
  try: number;
  /** Harvesters that failed this plot: skipped while another takes it. */
  exclude: string[];
  /** The plot has waited long enough for its group's disk: any disk will do. */
  anyDisk: boolean;
  /** The plot has waited long enough for busy free space: a bid that deletes PoS1 plots will do. */
  replotNow: boolean;
  /** Ask first whether a harvester stored the plot after all (its RESULT lost after a failure). */
  askFirst: boolean;
}

/** How a try ended without a delivery. */
export type TryEnd =
  /** The disk holding the plot's group is busy (at `holder`). */
  | { kind: 'wait-group'; holder: string }
  /** Only a bid that deletes PoS1 plots, while `holder` has free space but is busy. */
  | { kind: 'wait-free-space'; holder: string }
  /**
   * Anything else. `harvester`: the one whose claim or transfer failed (none: the announce
   * itself); `refusedBusy`: its claim was refused as busy (another plotter took the slot).
   */
  | { kind: 'failed'; error: PlotferryError; harvester?: string; refusedBusy?: boolean };

export type TryStep =
  /** Announce again, using up no try: `soon` after a refused claim, else after a busy poll. */
  | { kind: 'wait-busy'; soon: boolean; forGroup: boolean }
  /** Try `failedTry + 1` after `delayMs`; `report` says why (onRetry). */
  | { kind: 'retry'; failedTry: number; delayMs: number; report: PlotferryError }
  | { kind: 'fail'; error: PlotferryError };

export interface BidTriesOptions {
  name: string;
  policy: RetryPolicy;
  groupWaitMs?: number;
  /** When the plot's first try began (ms since the epoch). */
  started: number;
}

export class BidTries {
  /** The try under way, from 1. */
  try = 1;
  private readonly exclude = new Set<string>();
  /** Since when this plot has waited for its group's busy disk, or for busy free space. */
  private groupWaitSince: number | undefined;
  private freeWaitSince: number | undefined;
  private askFirst = false;
  /** The last failure at a harvester (claim or transfer): the cause to report when none takes it. */
  private lastFault: PlotferryError | undefined;

  constructor(private readonly o: BidTriesOptions) {}

  plan(now: number): TryPlan {
    // Both waits end by half the busy wait at the latest, so a plot never fails waiting.
    const waited = (since: number | undefined, ms: number) =>
      since !== undefined && now - since >= Math.min(ms, this.o.policy.busyWaitMs / 2);
    const groupWaitMs = this.o.groupWaitMs ?? DEFAULT_GROUP_WAIT_MS;
    const askFirst = this.askFirst;
    this.askFirst = false;
    return {
      try: this.try,
      exclude: [...this.exclude],
      anyDisk: groupWaitMs === 0 || waited(this.groupWaitSince, groupWaitMs),
      replotNow: waited(this.freeWaitSince, FREE_SPACE_WAIT_MS),
      askFirst,
    };
  }

  after(end: TryEnd, now: number, aborted: boolean): TryStep {
    const failed = this.asFailure(end, now);
    const { error: e, harvester } = failed;
    const step = nextStep(this.o.policy, {
      error: e,
      failedTry: this.try,
      mendable: e.retryable || (harvester !== undefined && HARVESTER_FAULTS.has(e.code)),
      elapsedMs: now - this.o.started,
      aborted,
    });
    if (step.kind === 'wait-busy')
      return { kind: 'wait-busy', soon: failed.refusedBusy === true, forGroup: end.kind === 'wait-group' };
    if (this.lastFault && (e.code === 'PF_NO_BID' || e.code === 'PF_NO_SPACE')) return this.noneOther(e, aborted);
    if (harvester !== undefined) this.lastFault = e;
    if (step.kind === 'give-up') return { kind: 'fail', error: e };
    this.askFirst = harvester !== undefined;
    if (harvester !== undefined) this.exclude.add(harvester);
    return this.next(step.delayMs, e);
  }

  /** A wait as the error it is when the busy wait has run out. */
  private asFailure(end: TryEnd, now: number): Extract<TryEnd, { kind: 'failed' }> {
    const name = this.o.name;
    if (end.kind === 'wait-group') {
      this.groupWaitSince ??= now;
      const msg = `${name} waits for ${end.holder}'s disk that holds its plot group (it is receiving another file)`;
      return { kind: 'failed', error: new PlotferryError('PF_BUSY', msg) };
    }
    if (end.kind === 'wait-free-space') {
      this.freeWaitSince ??= now;
      const msg = `${name} waits for ${end.holder}, busy but with free space, rather than take a bid that deletes PoS1 plots`;
      return { kind: 'failed', error: new PlotferryError('PF_BUSY', msg) };
    }
    return end;
  }

  /**
   * Nobody else bid after a harvester failed the plot. Skipping it was a preference, not a ban:
   * the ones that failed it are asked once more (restarted since, or with another disk), or a
   * farm with one harvester would fail the plot on any blip. While tries remain the plot is
   * announced again even when nobody was skipped: the only harvester may be restarting (a
   * systemd restart takes ~5 s, and an announce made while it starts finds nobody). When the
   * tries are spent, the harvester's failure is the cause to report.
   */
  private noneOther(e: PlotferryError, aborted: boolean): TryStep {
    const fault = this.lastFault!;
    if (this.try < this.o.policy.tries && !aborted) {
      const again = [...this.exclude].join(', ');
      this.exclude.clear();
      const why = again
        ? `no other harvester took it: asking ${again} again (${fault.message})`
        : `no harvester took it (${e.message}): announcing again (after ${fault.message})`;
      return this.next(retryDelayMs(this.o.policy, this.try), new PlotferryError(fault.code, why));
    }
    const error = new PlotferryError(fault.code, `${fault.message}; no other harvester took it (${e.message})`, {
      cause: fault,
    });
    return { kind: 'fail', error };
  }

  private next(delayMs: number, report: PlotferryError): TryStep {
    return { kind: 'retry', failedTry: this.try++, delayMs, report };
  }
}
