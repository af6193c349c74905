/**
 * The bench's farm-10gbe table: ratios of medians, their range taken within each round (the
 * tools of a round ran back to back), failed runs left out of both, and the targets' verdicts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusEvent, busyWaits, farmRatio, farmSummary, FarmRun, FarmTool } from '../../bench/farm-10gbe-report.js';

const run = (tool: FarmTool, round: number, mbps: number, ok = true): FarmRun => ({
  tool,
  round,
  seconds: 6 / mbps,
  mbps,
  ok,
  senderCpu: 1,
  receiverCpu: 2,
  ...(ok ? {} : { error: 'the copy is not byte-exact' }),
});

describe('farm-10gbe report', () => {
  it('takes the ratio of the medians, and its range round by round', () => {
    const runs = [
      run('sweep', 1, 800),
      run('socat loop', 1, 1000),
      run('sweep', 2, 900),
      run('socat loop', 2, 900),
      run('sweep', 3, 700),
      run('socat loop', 3, 1000),
    ];
    const r = farmRatio(runs, 'sweep', 'socat loop')!;
    assert.equal(r.median, 0.8);
    assert.equal(r.min, 0.7);
    assert.equal(r.max, 1.0);
  });

  it('leaves failed runs out, and has no ratio without a good run on both sides', () => {
    const runs = [run('sweep', 1, 5000, false), run('sweep', 2, 500), run('iperf3', 2, 1000)];
    assert.deepEqual(farmRatio(runs, 'sweep', 'iperf3'), { median: 0.5, min: 0.5, max: 0.5 });
    assert.equal(farmRatio(runs, 'sweep', 'socat loop'), undefined);
  });

  it('says which targets hold, and names the failures', () => {
    const runs = [
      run('sweep', 1, 1100),
      run('sweep --watch', 1, 900),
      run('socat loop', 1, 1000),
      run('iperf3', 1, 1200),
      run('sweep --watch', 2, 1, false),
    ];
    const text = farmSummary(runs, 6 * 2 ** 30);
    assert.match(text, /target sweep >= 1 x socat loop: 1\.10 met/);
    assert.match(text, /target sweep >= 0\.9 x iperf3: 0\.92 met/);
    assert.match(text, /target sweep --watch >= 0\.95 x iperf3: 0\.75 NOT met/);
    assert.match(text, /FAILED sweep --watch: the copy is not byte-exact/);
    // CPU per GiB over the run's bytes: 1 s and 2 s for 6 GiB.
    assert.match(text, /\| 0\.17 \/ 0\.33 \| 1\/2 \|/);
  });

  it('counts busy answers once per announce, the wait until the plot is announced again, and the free after', () => {
    const ev: BusEvent[] = [
      { t: 0, kind: 'announce', id: 'a1', name: 'p0' },
      { t: 2, kind: 'bid', id: 'a1', busy: false },
      { t: 1000, kind: 'announce', id: 'a2', name: 'p2' },
      { t: 1003, kind: 'bid', id: 'a2', busy: true },
      { t: 1003, kind: 'bid', id: 'a2', busy: true },
      { t: 1040, kind: 'free' },
      { t: 1100, kind: 'announce', id: 'a3', name: 'p3' },
      { t: 1102, kind: 'bid', id: 'a3', busy: false },
      { t: 2503, kind: 'announce', id: 'a4', name: 'p2' },
      { t: 2504, kind: 'bid', id: 'a4', busy: false },
    ];
    const b = busyWaits(ev);
    assert.equal(b.answers, 1);
    assert.equal(b.waitedS, 1.5);
    assert.deepEqual(b.freeAfterMs, [37]);
    assert.deepEqual(busyWaits(ev.slice(0, 2)), { answers: 0, waitedS: 0, freeAfterMs: [] });
  });
});
