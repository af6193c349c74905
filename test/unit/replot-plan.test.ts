/** --replot-dry-run's plan (storage/replot-plan.ts): what a real --replot would delete, cumulative. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PlanDisk, ReplotPlan } from '../../src/storage/replot-plan.js';

const GiB = 2 ** 30;
const pos1 = (name: string) => ({ name, frees: 100 * GiB });
const full = (dir: string, free = 0.5 * GiB): PlanDisk => ({
  dir,
  freeBytes: free,
  victims: [pos1(`${dir}-a`), pos1(`${dir}-b`)],
});

describe('the dry-run replot plan', () => {
  it('deletes the first PoS1 plot for the first arrival, then fills the room it freed before the next goes', () => {
    const plan = new ReplotPlan();
    const disks = [full('d1')];
    const first = plan.step('p0.plot2', GiB, 0, disks);
    assert.deepEqual(first, { kind: 'lands', plot: 'p0.plot2', dir: 'd1', deletes: [pos1('d1-a')] });
    // 100 GiB freed, less the plot's 1 GiB, plus the 0.5 free: 99 more plots of 1 GiB fit.
    for (let i = 1; i <= 99; i++)
      assert.deepEqual(plan.step(`p${i}.plot2`, GiB, 0, disks), {
        kind: 'lands',
        plot: `p${i}.plot2`,
        dir: 'd1',
        deletes: [],
      });
    // The room is used up: the next plot takes the second PoS1 plot, and the one after its room.
    assert.deepEqual(plan.step('p100.plot2', GiB, 0, disks), {
      kind: 'lands',
      plot: 'p100.plot2',
      dir: 'd1',
      deletes: [pos1('d1-b')],
    });
    assert.deepEqual(plan.step('p101.plot2', GiB, 0, disks), {
      kind: 'lands',
      plot: 'p101.plot2',
      dir: 'd1',
      deletes: [],
    });
    assert.equal(plan.deletedPlots, 2);
    assert.equal(plan.landedPlots, 102);
  });

  it('plans a plot once, however often it is announced', () => {
    const plan = new ReplotPlan();
    assert.equal(plan.step('p.plot2', GiB, 0, [full('d1')])?.kind, 'lands');
    assert.equal(plan.step('p.plot2', GiB, 0, [full('d1')]), undefined);
    assert.equal(plan.deletedPlots, 1);
  });

  it('replots one disk after the other: a disk with room freed before is taken over a fresh one', () => {
    const plan = new ReplotPlan();
    const disks = [full('d1'), full('d2', 0.9 * GiB)];
    const first = plan.step('p0.plot2', GiB, 0, disks);
    assert.equal(first?.kind === 'lands' && first.dir, 'd2', 'the most room after the same number of deletions');
    const second = plan.step('p1.plot2', GiB, 0, disks);
    assert.deepEqual(second, { kind: 'lands', plot: 'p1.plot2', dir: 'd2', deletes: [] });
  });

  it('keeps the reserve, and says when nothing that may go frees enough', () => {
    const plan = new ReplotPlan();
    const small: PlanDisk = { dir: 'd1', freeBytes: 0, victims: [{ name: 'x', frees: GiB }] };
    assert.deepEqual(plan.step('p.plot2', GiB, 1, [small]), { kind: 'no-room', plot: 'p.plot2' });
    assert.equal(plan.deletedPlots, 0);
  });

  describe('a plot another harvester stored is taken out', () => {
    it('gives its room back and uncounts it; the PoS1 plot deleted for it stays gone, as room the next plot takes', () => {
      const plan = new ReplotPlan();
      const disks = [full('d1')];
      assert.equal(plan.step('p0.plot2', GiB, 0, disks)?.kind, 'lands');
      assert.equal(plan.retract('p0.plot2'), true);
      assert.equal(plan.landedPlots, 0);
      assert.equal(plan.deletedPlots, 1);
      assert.equal(plan.deletedBytes, 100 * GiB);
      // All 100.5 GiB are room: 100 plots of 1 GiB land with no other deletion.
      for (let i = 1; i <= 100; i++)
        assert.deepEqual(plan.step(`p${i}.plot2`, GiB, 0, disks), {
          kind: 'lands',
          plot: `p${i}.plot2`,
          dir: 'd1',
          deletes: [],
        });
      assert.deepEqual(plan.step('p101.plot2', GiB, 0, disks), {
        kind: 'lands',
        plot: 'p101.plot2',
        dir: 'd1',
        deletes: [pos1('d1-b')],
      });
      assert.equal(plan.landedPlots, 101);
      assert.equal(plan.deletedPlots, 2);
    });

    it('gives the room back on the disk it would have landed on', () => {
      const plan = new ReplotPlan();
      // Alike but for d2's 0.1 GiB less free: p0 takes d1's first PoS1 plot and all its room.
      const disks = [full('d1', 0.5 * GiB), full('d2', 0.4 * GiB)];
      const big = 100 * GiB;
      assert.deepEqual(plan.step('p0.plot2', big, 0, disks), {
        kind: 'lands',
        plot: 'p0.plot2',
        dir: 'd1',
        deletes: [pos1('d1-a')],
      });
      assert.equal(plan.retract('p0.plot2'), true);
      // p0's room is d1's again (not d2's): the next plot lands there with no deletion.
      assert.deepEqual(plan.step('p1.plot2', big, 0, disks), {
        kind: 'lands',
        plot: 'p1.plot2',
        dir: 'd1',
        deletes: [],
      });
      assert.equal(plan.deletedPlots, 1);
    });

    it('plans a plot taken out again when it is announced again', () => {
      const plan = new ReplotPlan();
      const disks = [full('d1')];
      assert.equal(plan.step('p.plot2', GiB, 0, disks)?.kind, 'lands');
      assert.equal(plan.retract('p.plot2'), true);
      assert.deepEqual(plan.step('p.plot2', GiB, 0, disks), { kind: 'lands', plot: 'p.plot2', dir: 'd1', deletes: [] });
      assert.equal(plan.landedPlots, 1);
      assert.equal(plan.retract('p.plot2'), true);
      assert.equal(plan.retract('p.plot2'), false, 'once out, it is out');
      assert.equal(plan.landedPlots, 0);
    });

    it('takes out a plot no disk had room for (counted nowhere), to plan it afresh if it comes again', () => {
      const plan = new ReplotPlan();
      const small: PlanDisk = { dir: 'd1', freeBytes: 0, victims: [{ name: 'x', frees: GiB }] };
      assert.equal(plan.step('p.plot2', GiB, 1, [small])?.kind, 'no-room');
      assert.equal(plan.retract('p.plot2'), true);
      assert.equal(plan.landedPlots, 0);
      assert.equal(plan.step('p.plot2', GiB, 1, [small])?.kind, 'no-room');
    });

    it('does nothing for a plot it never planned', () => {
      const plan = new ReplotPlan();
      const disks = [full('d1')];
      assert.equal(plan.step('p0.plot2', GiB, 0, disks)?.kind, 'lands');
      assert.equal(plan.retract('elsewhere.plot2'), false);
      assert.deepEqual([plan.landedPlots, plan.deletedPlots, plan.deletedBytes], [1, 1, 100 * GiB]);
      // p0's 1 GiB still counts: 99 more fit before d1-b goes.
      for (let i = 1; i <= 99; i++) assert.deepEqual(plan.step(`p${i}.plot2`, GiB, 0, disks)?.kind, 'lands');
      assert.deepEqual(plan.step('p100.plot2', GiB, 0, disks), {
        kind: 'lands',
        plot: 'p100.plot2',
        dir: 'd1',
        deletes: [pos1('d1-b')],
      });
    });
  });
});
