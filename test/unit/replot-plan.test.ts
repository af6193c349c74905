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
});
