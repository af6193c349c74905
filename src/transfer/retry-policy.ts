/**
 * The one retry policy of a delivery, direct (`send --to`, transfer/retry.ts) or by bidding
 * (plotter/bidding.ts). Pure: the callers sleep and send.
 *
 * - A *try* is one go at delivering the file: one connection to the receiver (direct), or one
 *   announce and what follows it, claim and transfer (bidding). `--retries N` allows N tries
 *   after the first.
 * - After a try that failed in a way another try can mend, the next waits 1 s, doubling each
 *   time, at most 30 s (1, 2, 4, 8, 16, 30, 30 ... s).
 * - PF_BUSY (every disk with room is writing another file) is no failure and no try: it is
 *   waited out, polling every ~1 s, for up to the busy wait (`--busy-wait`); then it stands.
 *
 * Why these figures: a try fails for a reason the next one usually avoids at once (corruption
 * in transit: fresh bytes; a disk that failed or filled up: another disk or harvester; a
 * harvester that died: another harvester), and a 0.92 GiB plot takes ~1 s on 10GbE, so a first
 * wait of 2 s (direct sends until now) cost two plots' time for nothing. Doubling still rides
 * out a receiver that restarts: with the default 3 retries the last try starts at least 7 s
 * after the first failure (bidding adds a bid wait to each try), past the shipped systemd
 * units' RestartSec=5. The cap is 30 s because a plot
 * sleeping before its next try holds its sweep's --concurrency slot; past that, sweep --watch's
 * own --retry-after takes over.
 */
import type { PlotferryError } from '../core/errors.js';

/** `--retries`' default: tries after the first. */
export const DEFAULT_RETRIES = 3;
/** The wait before the first retry; each later one doubles it. */
export const FIRST_RETRY_DELAY_MS = 1_000;
export const MAX_RETRY_DELAY_MS = 30_000;
/** `--busy-wait`'s default. */
export const DEFAULT_BUSY_WAIT_MS = 30 * 60_000;
/**
 * While every disk with room is busy, ask again this often (plus up to BUSY_JITTER_MS, so
 * senders that waited together do not all ask at once). A disk writing 0.92 GiB plots at HDD
 * speed takes ~4 s a plot; a 2 s poll left it idle up to half of that.
 */
export const BUSY_POLL_MS = 1_000;
export const BUSY_JITTER_MS = 200;

export interface RetryPolicy {
  /** Tries in all, at least 1. */
  tries: number;
  firstDelayMs: number;
  busyWaitMs: number;
}

export interface RetryPolicyOptions {
  /** Tries after the first (`--retries`); `tries` wins when both are given. */
  retries?: number;
  /** Tries in all (`--retries` + 1). */
  tries?: number;
  /** The first retry's wait (tests shorten it). */
  backoffMs?: number;
  busyWaitMs?: number;
}

export function retryPolicy(o: RetryPolicyOptions = {}): RetryPolicy {
  return {
    tries: Math.max(1, o.tries ?? (o.retries ?? DEFAULT_RETRIES) + 1),
    firstDelayMs: o.backoffMs ?? FIRST_RETRY_DELAY_MS,
    busyWaitMs: o.busyWaitMs ?? DEFAULT_BUSY_WAIT_MS,
  };
}

/** The wait after try `failedTry` (from 1) failed, before the next. */
export function retryDelayMs(p: RetryPolicy, failedTry: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, p.firstDelayMs * 2 ** (failedTry - 1));
}

/** One busy poll's wait; `random` in [0, 1). */
export const busyPollMs = (random: number): number => BUSY_POLL_MS + random * BUSY_JITTER_MS;

/** A failed try, as the policy needs to see it. */
export interface Failure {
  error: PlotferryError;
  /** The try that failed, from 1. */
  failedTry: number;
  /** Whether another try can mend it (the caller's rule: direct and bidding differ in what a new try changes). */
  mendable: boolean;
  /** ms since the delivery began. */
  elapsedMs: number;
  aborted: boolean;
}

export type NextStep =
  /** Every disk with room is busy: ask again after a poll; not a try. */
  | { kind: 'wait-busy' }
  /** Try again after `delayMs`: try `failedTry + 1`. */
  | { kind: 'retry'; delayMs: number }
  /** The error stands. */
  | { kind: 'give-up' };

export function nextStep(p: RetryPolicy, f: Failure): NextStep {
  if (f.aborted) return { kind: 'give-up' };
  if (f.error.code === 'PF_BUSY') return f.elapsedMs < p.busyWaitMs ? { kind: 'wait-busy' } : { kind: 'give-up' };
  if (!f.mendable || f.failedTry >= p.tries) return { kind: 'give-up' };
  return { kind: 'retry', delayMs: retryDelayMs(p, f.failedTry) };
}
