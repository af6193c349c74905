/**
 * A plot's tries by bidding (plotter/bid-tries.ts) and the retry policy it shares with direct
 * sends (transfer/retry-policy.ts), case by case, without a nats-server or a clock: each try's
 * end is fed in with the time it happened.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlotferryError, ErrorCode } from '../../src/core/errors.js';
import { BidTries, FREE_SPACE_WAIT_MS, TryEnd } from '../../src/plotter/bid-tries.js';
import {
  busyPollMs,
  nextStep,
  retryDelayMs,
  retryPolicy,
  Failure,
  MAX_RETRY_DELAY_MS,
} from '../../src/transfer/retry-policy.js';

const err = (code: ErrorCode, message?: string) => new PlotferryError(code, message ?? code);
const failed = (code: ErrorCode, harvester?: string, message?: string): TryEnd => ({
  kind: 'failed',
  error: err(code, message),
  ...(harvester ? { harvester } : {}),
});
const tries = (o: { tries?: number; busyWaitMs?: number; groupWaitMs?: number } = {}) =>
  new BidTries({
    name: 'p.plot',
    policy: retryPolicy({ tries: o.tries ?? 4, busyWaitMs: o.busyWaitMs ?? 30 * 60_000 }),
    ...(o.groupWaitMs !== undefined ? { groupWaitMs: o.groupWaitMs } : {}),
    started: 0,
  });

describe('the retry policy (direct sends and bidding)', () => {
  it('--retries 3 means four tries in all; bidding passes tries, and the default is --retries 3', () => {
    assert.equal(retryPolicy({ retries: 3 }).tries, 4);
    assert.equal(retryPolicy({ tries: 2 }).tries, 2);
    assert.equal(retryPolicy({ retries: 0 }).tries, 1);
    assert.equal(retryPolicy({ tries: 0 }).tries, 1, 'at least one try');
    assert.equal(retryPolicy().tries, 4);
  });

  it('the waits between tries are 1 s, 2 s, 4 s ..., never over 30 s', () => {
    const p = retryPolicy({ retries: 10 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((t) => retryDelayMs(p, t)),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000],
    );
    assert.equal(MAX_RETRY_DELAY_MS, 30_000);
  });

  const f = (o: Partial<Failure>): Failure => ({
    error: err('PF_HASH_MISMATCH'),
    failedTry: 1,
    mendable: true,
    elapsedMs: 0,
    aborted: false,
    ...o,
  });

  it('corruption in transit is tried again after the back-off, until the tries are spent', () => {
    const p = retryPolicy({ retries: 2 });
    assert.deepEqual(nextStep(p, f({ failedTry: 1 })), { kind: 'retry', delayMs: 1000 });
    assert.deepEqual(nextStep(p, f({ failedTry: 2 })), { kind: 'retry', delayMs: 2000 });
    assert.deepEqual(nextStep(p, f({ failedTry: 3 })), { kind: 'give-up' });
  });

  it('every disk with room is busy: the sender waits, using up no try, until --busy-wait has passed', () => {
    const p = retryPolicy({ retries: 0, busyWaitMs: 60_000 });
    assert.deepEqual(nextStep(p, f({ error: err('PF_BUSY'), failedTry: 1, elapsedMs: 59_999 })), { kind: 'wait-busy' });
    assert.deepEqual(nextStep(p, f({ error: err('PF_BUSY'), elapsedMs: 60_000 })), { kind: 'give-up' });
  });

  it('a busy receiver is asked again every 1 to 1.2 s', () => {
    assert.equal(busyPollMs(0), 1000);
    assert.ok(busyPollMs(0.999) < 1200);
  });

  it('a failure no other try can mend (a wrong token) stands at once', () => {
    assert.deepEqual(nextStep(retryPolicy(), f({ error: err('PF_AUTH'), mendable: false })), { kind: 'give-up' });
  });

  it('Ctrl-C: nothing more is tried or waited for', () => {
    assert.deepEqual(nextStep(retryPolicy(), f({ aborted: true })), { kind: 'give-up' });
    assert.deepEqual(nextStep(retryPolicy(), f({ error: err('PF_BUSY'), aborted: true })), { kind: 'give-up' });
  });
});

describe('a plot offered by bidding, try after try', () => {
  it('a harvester that failed the plot is skipped on the next try, which first asks whether it stored it after all', () => {
    const t = tries();
    assert.deepEqual(t.plan(0), { try: 1, exclude: [], anyDisk: false, replotNow: false, askFirst: false });
    const step = t.after(failed('PF_HASH_MISMATCH', 'h1'), 10, false);
    assert.equal(step.kind, 'retry');
    assert.deepEqual(step.kind === 'retry' && [step.failedTry, step.delayMs, step.report.code], [
      1,
      1000,
      'PF_HASH_MISMATCH',
    ]);
    assert.deepEqual(t.plan(1010), { try: 2, exclude: ['h1'], anyDisk: false, replotNow: false, askFirst: true });
    assert.equal(t.plan(1020).askFirst, false, 'asked once, before the announce');
  });

  it('a harvester whose disk filled up under the plot: another harvester takes it', () => {
    const t = tries();
    assert.equal(t.after(failed('PF_DISK_FULL', 'h1'), 0, false).kind, 'retry');
    assert.deepEqual(t.plan(0).exclude, ['h1']);
  });

  it('a harvester that had no room left by the time of the claim counts as one that failed (not "nobody has room")', () => {
    const t = tries();
    assert.equal(t.after(failed('PF_NO_SPACE', 'h1'), 0, false).kind, 'retry');
  });

  it('nobody has room for the plot: PF_NO_SPACE stands, no retry can help', () => {
    const step = tries().after(failed('PF_NO_SPACE'), 0, false);
    assert.equal(step.kind === 'fail' && step.error.code, 'PF_NO_SPACE');
  });

  it('nobody bid at all: tried again after the back-off (harvesters may be starting)', () => {
    const t = tries();
    const step = t.after(failed('PF_NO_BID'), 0, false);
    assert.deepEqual(step.kind === 'retry' && [step.failedTry, step.delayMs], [1, 1000]);
    assert.deepEqual(t.plan(1000).exclude, [], 'nobody to skip');
    assert.equal(t.plan(1000).askFirst, false, 'no harvester had it: nothing to ask');
  });
});

describe('a plot offered by bidding waits', () => {
  it('every harvester with room is busy: the plot waits and announces again, using up no try', () => {
    const t = tries();
    assert.deepEqual(t.after(failed('PF_BUSY'), 0, false), { kind: 'wait-busy', soon: false, forGroup: false });
    assert.equal(t.plan(1000).try, 1);
  });

  it('another plotter took the slot first (the claim was refused as busy): announced again at once', () => {
    const end: TryEnd = { kind: 'failed', error: err('PF_BUSY'), harvester: 'h1', refusedBusy: true };
    assert.deepEqual(tries().after(end, 0, false), { kind: 'wait-busy', soon: true, forGroup: false });
  });

  it('still busy after --busy-wait: PF_BUSY stands', () => {
    const step = tries({ busyWaitMs: 10_000 }).after(failed('PF_BUSY'), 10_000, false);
    assert.equal(step.kind === 'fail' && step.error.code, 'PF_BUSY');
  });

  it("the disk holding the plot's group is busy: the plot waits for it, and lends its slot meanwhile", () => {
    const t = tries({ groupWaitMs: 60_000 });
    assert.deepEqual(t.after({ kind: 'wait-group', holder: 'h1' }, 1000, false), {
      kind: 'wait-busy',
      soon: false,
      forGroup: true,
    });
    assert.equal(t.plan(60_999).anyDisk, false);
    assert.equal(t.plan(61_000).anyDisk, true, 'after --group-wait, any disk will do');
  });

  it('the group wait ends by half the busy wait at the latest, so the plot never fails waiting', () => {
    const t = tries({ groupWaitMs: 60 * 60_000, busyWaitMs: 10 * 60_000 });
    t.after({ kind: 'wait-group', holder: 'h1' }, 0, false);
    assert.equal(t.plan(5 * 60_000).anyDisk, true);
  });

  it('--group-wait 0: the plot never waits for its group, any disk at once', () => {
    assert.equal(tries({ groupWaitMs: 0 }).plan(0).anyDisk, true);
  });

  it('waited for busy free space long enough: a bid that deletes PoS1 plots is taken', () => {
    const t = tries();
    assert.equal(t.after({ kind: 'wait-free-space', holder: 'h1' }, 0, false).kind, 'wait-busy');
    assert.equal(t.plan(FREE_SPACE_WAIT_MS - 1).replotNow, false);
    assert.equal(t.plan(FREE_SPACE_WAIT_MS).replotNow, true);
  });

  it("still waiting for the group's disk when --busy-wait runs out: PF_BUSY saying what it waited for", () => {
    const step = tries({ busyWaitMs: 1000 }).after({ kind: 'wait-group', holder: 'h1' }, 1000, false);
    assert.equal(step.kind, 'fail');
    assert.match(step.kind === 'fail' ? step.error.message : '', /waits for h1's disk that holds its plot group/);
  });
});

describe('a plot offered by bidding, after a harvester failed it', () => {
  it('the only harvester failed the plot and nobody else bids: it is asked again, as a try', () => {
    const t = tries();
    t.after(failed('PF_IO', 'h1', 'writing /d1: EIO'), 0, false);
    t.plan(1000);
    const step = t.after(failed('PF_NO_BID'), 3000, false);
    assert.equal(step.kind, 'retry');
    if (step.kind !== 'retry') return;
    assert.deepEqual([step.failedTry, step.delayMs, step.report.code], [2, 2000, 'PF_IO']);
    assert.match(step.report.message, /^no other harvester took it: asking h1 again \(writing \/d1: EIO\)$/);
    assert.deepEqual(t.plan(5000), { try: 3, exclude: [], anyDisk: false, replotNow: false, askFirst: false });
  });

  // A farmer's trial: `send --nats` failed 7 s after its only harvester was killed, one try
  // unused, while systemd restarted the harvester (RestartSec=5).
  it('nobody bids again after the failed harvester was asked again: announced again while tries remain', () => {
    const t = tries({ tries: 4 });
    t.after(failed('PF_CONNECTION', 'h1', 'the connection to h1 broke'), 0, false);
    t.plan(1000);
    assert.equal(t.after(failed('PF_NO_BID', undefined, 'no harvester bid'), 3000, false).kind, 'retry');
    t.plan(5000);
    const step = t.after(failed('PF_NO_BID', undefined, 'no harvester bid'), 7000, false);
    assert.equal(step.kind, 'retry');
    if (step.kind !== 'retry') return;
    assert.equal(step.failedTry, 3);
    assert.match(step.report.message, /^no harvester took it \(no harvester bid\): announcing again/);
    t.plan(11000);
    assert.equal(t.after(failed('PF_NO_BID'), 13000, false).kind, 'fail', 'the 4th try was the last');
  });

  it('the harvester failed the plot and its tries are spent with nobody else bidding: its failure is the reported cause', () => {
    const t = tries({ tries: 2 });
    t.after(failed('PF_DISK_FULL', 'h1', 'writing /d1: ENOSPC'), 0, false);
    const step = t.after(failed('PF_NO_BID', undefined, 'no harvester bid'), 10, false);
    assert.equal(step.kind, 'fail');
    if (step.kind !== 'fail') return;
    assert.equal(step.error.code, 'PF_DISK_FULL');
    assert.equal(step.error.message, 'writing /d1: ENOSPC; no other harvester took it (no harvester bid)');
  });

  it('the plot is held elsewhere already (PF_EXISTS): nothing is tried again, the error is passed on as it is', () => {
    const e = err('PF_EXISTS');
    assert.deepEqual(tries().after({ kind: 'failed', error: e }, 0, false), { kind: 'fail', error: e });
  });

  it('the last try failed: its error stands', () => {
    const t = tries({ tries: 1 });
    const step = t.after(failed('PF_HASH_MISMATCH', 'h1'), 0, false);
    assert.equal(step.kind === 'fail' && step.error.code, 'PF_HASH_MISMATCH');
  });

  it('Ctrl-C after a failure: nothing more is tried', () => {
    assert.equal(tries().after(failed('PF_CONNECTION', 'h1'), 0, true).kind, 'fail');
  });
});
