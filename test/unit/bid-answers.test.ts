/**
 * Which bid wins and what the answers to an announce mean (plotter/bid-answers.ts, no-bid.ts),
 * case by case, without a nats-server: answers are fed in with the time they arrived.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Announce, type Bid, type Decline, decodeBus, encodeBus } from '../../src/bus/bus-messages.js';
import { BidTally, Ending, offerOf, outranks, TallyContext } from '../../src/plotter/bid-answers.js';
import { noBidError, NoBidFacts } from '../../src/plotter/no-bid.js';

const GROUP = { key: 'ab'.repeat(16), meta: 0 };
const announce = (o: Partial<Announce> = {}): Announce => ({
  kind: 'announce',
  v: 1,
  id: 'a1',
  name: 'p.plot',
  size: 1000,
  plotter: 'p',
  exclude: [],
  answerAll: true,
  ...o,
});
const bid = (harvester: string, o: Partial<Bid> = {}): Bid => ({
  kind: 'bid',
  v: 1,
  id: 'a1',
  harvester,
  freeBytes: 1e9,
  activeTransfers: 0,
  busy: false,
  ...o,
});
const decline = (harvester: string, reason: Decline['reason'], o: Partial<Decline> = {}): Decline => ({
  kind: 'decline',
  v: 1,
  id: 'a1',
  harvester,
  reason,
  freeBytes: 0,
  ...o,
});
const tally = (o: Partial<TallyContext> = {}) =>
  new BidTally({ announce: announce(), rosterWaitMs: 500, t0: 0, replotNow: false, ...o });
const END: Ending = { aborted: false, timeoutMs: 2000 };
/** The verdict after these answers, each heard at time 0. */
const verdictOf = (answers: (Bid | Decline)[], o: Partial<TallyContext> = {}) => {
  const t = tally(o);
  for (const r of answers) t.hear(r, 0);
  return t.verdict(END);
};
const winner = (answers: (Bid | Decline)[], o: Partial<TallyContext> = {}) => {
  const v = verdictOf(answers, o);
  assert.equal(v.kind, 'bid', JSON.stringify(v));
  return v.kind === 'bid' ? v.harvester : '';
};

describe('which bid wins', () => {
  it('the least loaded harvester wins: its bid carries the shorter delay', () => {
    assert.equal(winner([bid('h-busy', { delayMs: 40 }), bid('h-idle', { delayMs: 5 })]), 'h-idle');
  });

  it('a harvester holding part of the plot from a broken transfer gets the rest, before a less loaded one', () => {
    assert.equal(winner([bid('h-idle'), bid('h-part', { resumeFrom: 100, delayMs: 50 })]), 'h-part');
  });

  it('of two harvesters holding part of the plot, the one holding more gets it', () => {
    assert.equal(winner([bid('h-more', { resumeFrom: 500 }), bid('h-less', { resumeFrom: 100 })]), 'h-more');
  });

  it("the disk that holds the plot's group wins over a less loaded one", () => {
    const a = announce({ group: GROUP });
    assert.equal(winner([bid('h-idle'), bid('h-group', { group: true, delayMs: 50 })], { announce: a }), 'h-group');
  });

  it('a bid that says "group" counts for nothing when the plot has no group (PoS1)', () => {
    const o = offerOf(bid('h', { group: true }), announce(), 0);
    assert.equal(o.group, false);
    assert.equal(winner([bid('h-idle'), bid('h-group', { group: true, delayMs: 50 })]), 'h-idle');
  });

  it('a bid ranks at its arrival plus its delay: an early bid with a long delay loses to a later one with none', () => {
    const late = offerOf(bid('h-late'), announce(), 30);
    const early = offerOf(bid('h-early', { delayMs: 50 }), announce(), 0);
    assert.ok(outranks(late, early));
    assert.ok(!outranks(early, late));
  });

  it('the winning bid hands on its offer (connect at once) and why it chose its disk', () => {
    const offer = { host: '10.0.0.2', port: 4000, token: 'ab'.repeat(8) };
    assert.deepEqual(verdictOf([bid('h', { offer, why: '/d1: the most free space' })]), {
      kind: 'bid',
      harvester: 'h',
      direct: offer,
      why: '/d1: the most free space',
    });
  });

  it('answers to another announce (an earlier try) are not counted', () => {
    const t = tally();
    assert.deepEqual(t.hear(bid('h-old', { id: 'other' }), 0), { kind: 'listen' });
    assert.equal(t.answered.size, 0);
    assert.equal(t.verdict(END).kind, 'none');
  });
});

describe('when the plotter stops listening', () => {
  it('without a roster, bids that arrive within 10 ms of the announce compete', () => {
    const t = tally({ t0: 100 });
    assert.deepEqual(t.hear(bid('h'), 102), { kind: 'arm', at: 110, then: 'decide' });
  });

  it("it decides at the best bid's rank, and a better bid moves the decision", () => {
    const t = tally({ known: new Set(['h1', 'h2', 'h3']) });
    assert.deepEqual(t.hear(bid('h1', { delayMs: 40 }), 5), { kind: 'arm', at: 45, then: 'decide' });
    assert.deepEqual(t.hear(bid('h2', { delayMs: 10 }), 6), { kind: 'arm', at: 16, then: 'decide' });
    assert.deepEqual(t.hear(bid('h1b', { delayMs: 90 }), 7), { kind: 'listen' }, 'a worse bid changes nothing');
  });

  it('once every harvester it knows has answered and one bid, the plot goes at once', () => {
    const t = tally({ known: new Set(['h1', 'h2']) });
    t.hear(bid('h1', { delayMs: 40 }), 1);
    assert.deepEqual(t.hear(decline('h2', 'no-room'), 2), { kind: 'finish' });
  });

  it('every harvester it knows declined: one it does not know yet gets the roster wait to bid', () => {
    const t = tally({ known: new Set(['h1', 'h2']), t0: 10 });
    t.hear(decline('h1', 'no-room'), 11);
    assert.deepEqual(t.hear(decline('h2', 'no-room'), 12), { kind: 'arm', at: 510, then: 'finish' });
    assert.deepEqual(t.hear(decline('h2', 'no-room'), 13), { kind: 'listen' }, 'armed once, not again');
  });

  it('every harvester it knows answered and one is busy: the verdict is at once (the plot waits for a free, not the roster)', () => {
    const t = tally({ known: new Set(['h1', 'h2']), t0: 10 });
    t.hear(decline('h1', 'no-room'), 11);
    assert.deepEqual(t.hear(bid('h2', { busy: true }), 12), { kind: 'finish' });
    const v = t.verdict({ aborted: false, timeoutMs: 2000 });
    assert.equal(v.kind === 'none' && v.error.code, 'PF_BUSY');
  });

  it("a harvester it knows that is still silent at the best bid's time is waited for (it may hold the plot)", () => {
    const t = tally({ known: new Set(['h1', 'h-slow']) });
    t.hear(bid('h1'), 1);
    assert.deepEqual(t.decide(2), { kind: 'arm', at: 500, then: 'wait-over' });
    assert.deepEqual(t.decide(500), { kind: 'finish' }, 'not past the roster wait');
    assert.deepEqual(tally().decide(2), { kind: 'finish' }, 'no roster: nobody to wait for');
  });

  it('a harvester holding this very plot (same name and size) ends the listening: it is held there', () => {
    const t = tally();
    const held = { path: '/d1/p.plot', size: 1000, hash: '0123456789abcdef', beside: 'absent' as const };
    t.hear(bid('h1'), 0);
    assert.deepEqual(t.hear(decline('h-holds', 'held', { held }), 1), { kind: 'finish' });
    assert.deepEqual(t.verdict(END), { kind: 'held', held: { kind: 'held', v: 1, harvester: 'h-holds', ...held } });
  });
});

describe('when the plot waits instead of taking a bid', () => {
  const a = announce({ group: GROUP });

  it("the disk holding the plot's group is writing: the plot waits for it rather than start the group elsewhere", () => {
    const v = verdictOf([bid('h-group', { busy: true, group: true }), bid('h-other')], { announce: a });
    assert.deepEqual(v, { kind: 'wait-group', holder: 'h-group' });
  });

  it('once the plot has waited its --group-wait, any disk will do', () => {
    const anyDisk = announce({ group: { ...GROUP, anyDisk: true } });
    assert.equal(
      winner([bid('h-group', { busy: true, group: true }), bid('h-other')], { announce: anyDisk }),
      'h-other',
    );
  });

  it("a harvester holding part of the plot takes it even while the group's disk is busy", () => {
    assert.equal(
      winner([bid('h-group', { busy: true, group: true }), bid('h-part', { resumeFrom: 10 })], { announce: a }),
      'h-part',
    );
  });

  it('the only bid would delete PoS1 plots while a harvester with free space is busy: the plot waits for free space', () => {
    const v = verdictOf([bid('h-replot', { replot: true }), bid('h-free', { busy: true })]);
    assert.deepEqual(v, { kind: 'wait-free-space', holder: 'h-free' });
  });

  it('after the free-space wait, a bid that deletes PoS1 plots is taken', () => {
    const answers = [bid('h-replot', { replot: true }), bid('h-free', { busy: true })];
    assert.equal(winner(answers, { replotNow: true }), 'h-replot');
  });

  it('a busy harvester that could itself only delete PoS1 plots does not hold a replot bid back', () => {
    assert.equal(
      winner([bid('h-replot', { replot: true }), bid('h-busy-replot', { busy: true, replot: true })]),
      'h-replot',
    );
  });
});

const facts = (o: Partial<NoBidFacts> = {}): NoBidFacts => ({
  announce: announce(),
  busy: new Set(),
  declines: new Map(),
  aborted: false,
  timeoutMs: 2000,
  ...o,
});
const declines = (...ds: Decline[]) => new Map(ds.map((d) => [d.harvester, d]));

describe('what a farmer reads when no harvester takes the plot', () => {
  it('nobody answered: PF_NO_BID, saying how long it waited', () => {
    const e = noBidError(facts());
    assert.equal(e.code, 'PF_NO_BID');
    assert.match(e.message, /no harvester bid for p\.plot \(1000 bytes\) within 2000 ms$/);
  });

  it('Ctrl-C while waiting for bids: PF_ABORTED', () => {
    assert.equal(noBidError(facts({ aborted: true, busy: new Set(['h']) })).code, 'PF_ABORTED');
  });

  it('every harvester with room is busy: PF_BUSY naming them (waited out, not a failure)', () => {
    const e = noBidError(facts({ busy: new Set(['h1', 'h2']), declines: declines(decline('h3', 'no-room')) }));
    assert.equal(e.code, 'PF_BUSY');
    assert.match(e.message, /is busy \(h1, h2\)/);
  });

  it('NATS is down: PF_NATS with why, not PF_NO_BID', () => {
    const e = noBidError(facts({ natsDown: 'NATS (n1) has been unreachable for 3 s; reconnecting' }));
    assert.equal(e.code, 'PF_NATS');
    assert.match(e.message, /unreachable for 3 s/);
  });
});

describe('what a farmer reads when no harvester can take the plot', () => {
  it('a harvester holds another file of that name: PF_EXISTS naming it', () => {
    const e = noBidError(facts({ declines: declines(decline('h1', 'held'), decline('h2', 'no-room')) }));
    assert.equal(e.code, 'PF_EXISTS');
    assert.match(e.message, /^h1 holds a file named p\.plot already/);
  });

  it('another program holds every claim port of every harvester: PF_PORT_IN_USE (waiting would not help)', () => {
    const e = noBidError(facts({ declines: declines(decline('h1', 'no-port'), decline('h2', 'no-port')) }));
    assert.equal(e.code, 'PF_PORT_IN_USE');
    assert.match(e.message, /--port-range of h1, h2/);
  });

  it("no harvester has room: PF_NO_SPACE with each one's room, and why replotting freed nothing", () => {
    const e = noBidError(
      facts({
        declines: declines(
          decline('h1', 'no-room', { freeBytes: 600, why: 'no PoS1 plot matches --replot-match' }),
          decline('h2', 'no-disk'),
        ),
      }),
    );
    assert.equal(e.code, 'PF_NO_SPACE');
    assert.match(
      e.message,
      /h1 has room for at most .* \(no PoS1 plot matches --replot-match\), h2 has no usable disk/,
    );
  });

  // A farmer's trial: "vm has room for at most 4.7 MiB ... add a disk or free space" hid that vm
  // ran --replot-dry-run, where a real --replot would have made room.
  it('no room on a --replot-dry-run harvester: PF_NO_SPACE says it runs a dry run, and what a real --replot would do', () => {
    const e = noBidError(
      facts({
        declines: declines(decline('vm', 'no-room', { freeBytes: 600, replotDryRun: true }), decline('h2', 'no-room')),
      }),
    );
    assert.equal(e.code, 'PF_NO_SPACE');
    assert.match(
      e.message,
      /vm has room for at most \S+ \S+ \(vm runs --replot-dry-run: a real --replot would delete PoS1 plots for it, if they free enough; its log has the plan\), h2 has room for at most \S+ \S+$/,
    );
    assert.equal(e.message.match(/--replot-dry-run/g)?.length, 1, 'only the dry-run harvester says so');
    assert.deepEqual(
      decodeBus(encodeBus(decline('vm', 'no-room', { replotDryRun: true })), ['decline']),
      decline('vm', 'no-room', { replotDryRun: true }),
      'the decline carries it across NATS',
    );
  });

  it('no harvester has a usable disk at all: PF_NO_DISK', () => {
    const e = noBidError(facts({ declines: declines(decline('h1', 'no-disk'), decline('h2', 'no-disk')) }));
    assert.equal(e.code, 'PF_NO_DISK');
  });

  it('no room anywhere, but a harvester that failed the plot was skipped: PF_NO_BID (it may have had room)', () => {
    const e = noBidError(
      facts({
        announce: announce({ exclude: ['h-failed'] }),
        declines: declines(decline('h1', 'no-room'), decline('h-failed', 'excluded')),
      }),
    );
    assert.equal(e.code, 'PF_NO_BID');
    assert.match(e.message, /skipping h-failed, which failed it before\); h1: no-room, h-failed: excluded/);
  });

  it('a harvester declines as holding the name but does not describe its copy: it is asked with `has`', () => {
    const v = verdictOf([decline('h-old', 'held')]);
    assert.equal(v.kind, 'undescribed');
    assert.equal(v.kind === 'undescribed' && v.error.code, 'PF_EXISTS');
    const described = verdictOf([decline('h1', 'held', { held: { path: '/d/p.plot', size: 5 } })]);
    assert.equal(described.kind, 'none', 'a described copy of another size is simply another file');
  });
});
