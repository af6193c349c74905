/**
 * The heartbeat's disk webhooks. A --replot harvester said a disk was replotted and, 5 s later,
 * that the same disk, full of PoS2 plots as meant, was "nearly full"; a --replot-dry-run one sent
 * "nearly full" where a real run sends nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirStatus } from '../../src/bus/bus-messages.js';
import { diskAlerts } from '../../src/farm/disk-alerts.js';

const GB = 1e9;
const disk = (free: number, pos1Plots: number): DirStatus => ({
  dir: '/d',
  freeBytes: free,
  totalBytes: 1000 * GB,
  plots: 100,
  plotBytes: 990 * GB,
  pos1Plots,
});
const keys = (d: DirStatus, before: number | undefined, replot: boolean, reserveBytes = 0) =>
  diskAlerts(d, before, { fullPercent: 95, replot, reserveBytes }).map((a) => a.key.split(':')[0]);

describe('diskAlerts', () => {
  it('without --replot: a disk --notify-full percent full is nearly full', () => {
    assert.deepEqual(keys(disk(10 * GB, 0), undefined, false), ['disk-full']);
    assert.deepEqual(keys(disk(100 * GB, 0), undefined, false), []);
  });

  it('--replot: a disk replotted, full of PoS2, is said replotted and not nearly full', () => {
    assert.deepEqual(keys(disk(10 * GB, 0), 1, true), ['replot-done']);
    assert.deepEqual(keys(disk(10 * GB, 0), 0, true, 5 * GB), []);
  });

  it('--replot: a disk with PoS1 plots to give way is never nearly full', () => {
    assert.deepEqual(keys(disk(1 * GB, 3), 4, true, 5 * GB), []);
  });

  it('--replot: nearly full once free space falls below --reserve with no PoS1 left', () => {
    const a = diskAlerts(disk(2 * GB, 0), 0, { fullPercent: 95, replot: true, reserveBytes: 5 * GB });
    assert.deepEqual(
      a.map((x) => x.key),
      ['disk-full:/d'],
    );
    assert.match(a[0]!.message, /less than --reserve .* no PoS1 plot to give way/);
  });

  it('an unusable disk (out of rotation, gone) says nothing of its space', () => {
    assert.deepEqual(keys({ ...disk(0, 0), unusable: 'gone' }, 1, false), []);
  });
});
