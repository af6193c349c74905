import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Heartbeat } from '../../src/bus/messages.js';
import { formatStatus } from '../../src/plotter/status.js';

const GiB = 2 ** 30;
const beat = (dirs: Heartbeat['dirs']): Heartbeat => ({
  kind: 'heartbeat',
  v: 1,
  harvester: 'h1',
  host: '10.0.0.2',
  activeTransfers: 0,
  maxTransfers: 5,
  dirs,
  at: 0,
});

describe('status', () => {
  // Regression (issue 15, item 13): two directories on one filesystem showed twice its free space.
  it('counts the free space of a filesystem once, however many directories it holds', () => {
    const out = formatStatus([
      beat([
        { dir: '/mnt/a/x', freeBytes: 10 * GiB, totalBytes: 20 * GiB, plots: 1, plotBytes: 1, fs: 7 },
        { dir: '/mnt/a/y', freeBytes: 10 * GiB, totalBytes: 20 * GiB, plots: 2, plotBytes: 2, fs: 7 },
        { dir: '/mnt/b', freeBytes: 5 * GiB, totalBytes: 20 * GiB, plots: 0, plotBytes: 0, fs: 8 },
        { dir: '/mnt/gone', freeBytes: 0, totalBytes: 0, plots: 0, plotBytes: 0, unusable: 'cannot be read (ENOENT)' },
      ]),
    ]);
    assert.match(out.split('\n')[0]!, /plots 3 +free 15\.0 GiB/);
    assert.match(out, /\/mnt\/gone .*\[cannot be read \(ENOENT\)\]/);
  });
});
