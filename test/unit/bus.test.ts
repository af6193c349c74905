import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bidDelayMs } from '../../src/farm/bid.js';
import { BusMessage, decodeBus, encodeBus, MAX_BUS_MESSAGE, subjects, validateId } from '../../src/bus/bus-messages.js';
import { PlotferryError } from '../../src/core/errors.js';

const raw = (o: unknown) => Buffer.from(JSON.stringify(o));
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PlotferryError);
    return e.code;
  }
  return 'none';
};

describe('bus messages', () => {
  const all: BusMessage[] = [
    { kind: 'announce', v: 1, id: 'a1', name: 'p.plot', size: 10, plotter: 'plotter-1', exclude: ['h2'] },
    { kind: 'bid', v: 1, id: 'a1', harvester: 'h1', freeBytes: 5, activeTransfers: 0, busy: false },
    { kind: 'bid', v: 1, id: 'a1', harvester: 'h1', freeBytes: 0, activeTransfers: 5, busy: true },
    { kind: 'claim', v: 1, id: 'a1', name: 'p.plot', size: 10, plotter: 'plotter-1' },
    // A PoS2 plot's group: in the announce and the claim; a bid for the group's disk says so and why.
    {
      kind: 'announce',
      v: 1,
      id: 'a2',
      name: 'p.plot2',
      size: 10,
      plotter: 'p',
      exclude: [],
      group: { key: 'ab'.repeat(16), meta: 255, anyDisk: true },
    },
    {
      kind: 'claim',
      v: 1,
      id: 'a2',
      name: 'p.plot2',
      size: 10,
      plotter: 'p',
      // chia's default plot: a group of one in meta-group 0 (placement skips the meta-group rule).
      group: { key: '01'.repeat(16), meta: 0, single: true },
    },
    {
      kind: 'bid',
      v: 1,
      id: 'a2',
      harvester: 'h1',
      freeBytes: 5,
      activeTransfers: 0,
      busy: false,
      group: true,
      why: '/d1: holds 3 plot(s) of its group',
    },
    { kind: 'claimed', v: 1, id: 'a1', host: '10.0.0.5', port: 40000, token: 'abc', expiresInMs: 30000 },
    { kind: 'refused', v: 1, id: 'a1', code: 'PF_BUSY', message: 'busy' },
    // A claim that ended: with the plot it stored, or without (it failed; or an older harvester).
    { kind: 'free', v: 1, harvester: 'h1', stored: 'p.plot2' },
    { kind: 'free', v: 1, harvester: 'h1' },
    {
      kind: 'heartbeat',
      v: 1,
      harvester: 'h1',
      host: 'h1.lan',
      activeTransfers: 1,
      maxTransfers: 5,
      at: 1,
      dirs: [
        {
          dir: '/mnt/d1',
          freeBytes: 1,
          totalBytes: 2,
          plots: 3,
          plotBytes: 4,
          groups: 2,
          placed: { name: 'p.plot2', why: 'the most free space', at: 5 },
        },
        { dir: '/mnt/d2', freeBytes: 0, totalBytes: 0, plots: 0, plotBytes: 0, unusable: 'gone' },
      ],
    },
  ];

  it('round-trips every kind', () => {
    for (const m of all) assert.deepEqual(decodeBus(encodeBus(m), [m.kind]), m);
  });

  it('defaults a missing exclude list to empty', () => {
    const m = decodeBus(raw({ kind: 'announce', v: 1, id: 'a', name: 'p.plot', size: 1, plotter: 'p' }), ['announce']);
    assert.deepEqual(m.exclude, []);
  });

  it('rejects malformed, unexpected, foreign-version and oversized messages with PF_PROTOCOL', () => {
    const bad: [unknown, string][] = [
      ['not json', 'announce'],
      [[1, 2], 'announce'],
      [{ kind: 'announce', v: 2, id: 'a', name: 'p.plot', size: 1, plotter: 'p' }, 'announce'],
      [{ kind: 'bid', v: 1, id: 'a', harvester: 'h', freeBytes: 1, activeTransfers: 0 }, 'announce'],
      [{ kind: 'announce', v: 1, id: 'a', name: '../../x', size: 1, plotter: 'p' }, 'announce'],
      // Regression: a claim for the disable file was accepted.
      [{ kind: 'claim', v: 1, id: 'a', name: 'plotferry.disable', size: 0, plotter: 'p' }, 'claim'],
      [{ kind: 'has', v: 1, name: 'PLOTFERRY.DISABLE', size: 0 }, 'has'],
      [{ kind: 'announce', v: 1, id: 'a.b', name: 'p.plot', size: 1, plotter: 'p' }, 'announce'],
      [{ kind: 'announce', v: 1, id: 'a', name: 'p.plot', size: -1, plotter: 'p' }, 'announce'],
      [{ kind: 'announce', v: 1, id: 'a', name: 'p.plot', size: 1, plotter: 'p', exclude: ['x y'] }, 'announce'],
      [{ kind: 'claimed', v: 1, id: 'a', host: 'h', port: 70000, token: 't', expiresInMs: 1 }, 'claimed'],
      // A group that is not one: a short or non-hex key, a meta-group past a byte.
      [
        { kind: 'announce', v: 1, id: 'a', name: 'p.plot2', size: 1, plotter: 'p', group: { key: 'ab', meta: 0 } },
        'announce',
      ],
      [
        {
          kind: 'announce',
          v: 1,
          id: 'a',
          name: 'p.plot2',
          size: 1,
          plotter: 'p',
          group: { key: 'zz'.repeat(16), meta: 0 },
        },
        'announce',
      ],
      [
        {
          kind: 'claim',
          v: 1,
          id: 'a',
          name: 'p.plot2',
          size: 1,
          plotter: 'p',
          group: { key: 'ab'.repeat(16), meta: 256 },
        },
        'claim',
      ],
      [
        { kind: 'claim', v: 1, id: 'a', name: 'p.plot2', size: 1, plotter: 'p', group: { key: 'ab'.repeat(16) } },
        'claim',
      ],
      [
        { kind: 'heartbeat', v: 1, harvester: 'h', host: 'h', activeTransfers: 0, maxTransfers: 1, at: 1, dirs: 'x' },
        'heartbeat',
      ],
      [{ kind: 'free', v: 1, harvester: 'h', stored: '../p.plot2' }, 'free'],
      [{ kind: 'free', v: 1, harvester: 'h', stored: 7 }, 'free'],
    ];
    for (const [o, k] of bad) {
      const data = typeof o === 'string' ? Buffer.from(o) : raw(o);
      assert.equal(
        code(() => decodeBus(data, [k as never])),
        'PF_PROTOCOL',
        JSON.stringify(o),
      );
    }
    assert.equal(
      code(() => decodeBus(Buffer.alloc(MAX_BUS_MESSAGE + 1, 0x20), ['bid'])),
      'PF_PROTOCOL',
    );
  });

  it('builds subjects under the prefix and validates ids as single subject tokens', () => {
    const s = subjects('farm1');
    assert.equal(s.announce, 'farm1.announce');
    assert.equal(s.claim('h-1'), 'farm1.claim.h-1');
    assert.equal(s.heartbeats, 'farm1.heartbeat.*');
    assert.equal(validateId('h_1-a', 'id'), 'h_1-a');
    for (const b of ['', 'a.b', 'a b', 'a*', '>', 'x'.repeat(65)])
      assert.equal(
        code(() => validateId(b, 'id')),
        'PF_CONFIG',
      );
  });
});

describe('bid delay', () => {
  it('grows by 10 ms per active transfer and up to 50 ms as the disk fills', () => {
    assert.equal(bidDelayMs(0, 100, 100), 0);
    assert.equal(bidDelayMs(0, 0, 100), 50);
    assert.equal(bidDelayMs(0, 50, 100), 25);
    assert.equal(bidDelayMs(3, 100, 100), 30);
    assert.equal(bidDelayMs(2, 10, 100), 20 + 45);
  });

  it('ranks an idle empty harvester before a busy or full one', () => {
    const idle = bidDelayMs(0, 900, 1000);
    assert.ok(idle < bidDelayMs(1, 900, 1000));
    assert.ok(idle < bidDelayMs(0, 100, 1000));
  });

  it('treats an unknown size as full', () => {
    assert.equal(bidDelayMs(0, 0, 0), 50);
  });
});
