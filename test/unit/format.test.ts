import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatBytesAll, formatExactBytes } from '../../src/core/format.js';
import { chooseDir, NoRoomError } from '../../src/storage/disks.js';
import { whyWritten } from '../../src/plotter/bidding.js';

const MiB = 2 ** 20;

describe('formatBytes', () => {
  it('rounds to one decimal, and says a figure that rounds to 1024.0 in the next unit', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(5 * MiB), '5.0 MiB');
    assert.equal(formatBytes(MiB - 1), '1.0 MiB', 'not "1024.0 KiB"');
    assert.equal(formatBytes(1023.9 * 1024), '1023.9 KiB');
    assert.equal(formatExactBytes(5_234_688), '5,234,688 bytes');
  });

  // PF_NO_SPACE said "room for at most 5.0 MiB" beside a 5.0 MiB plot: 5,234,688 bytes rounded up.
  it('gives sizes that would read alike in exact bytes, so they compare as the sizes do', () => {
    assert.deepEqual(formatBytesAll([5 * MiB, 5_234_688]), ['5,242,880 bytes', '5,234,688 bytes']);
    assert.deepEqual(formatBytesAll([5 * MiB, 4 * MiB]), ['5.0 MiB', '4.0 MiB'], 'rounded where they read apart');
    assert.deepEqual(formatBytesAll([5 * MiB, 5 * MiB]), ['5.0 MiB', '5.0 MiB'], 'equal sizes may read alike');
    assert.deepEqual(formatBytesAll([MiB, MiB - 10]), ['1,048,576 bytes', '1,048,566 bytes'], 'across units too');
  });

  it("PF_NO_SPACE from chooseDir: the size needed and each disk's free space compare right", () => {
    const info = { dir: '/mnt/a', dev: 1, freeBytes: 5_234_688, totalBytes: 100 * MiB, busy: false };
    assert.throws(
      () => chooseDir([info], 5 * MiB, new Set()),
      (e: NoRoomError) =>
        e.code === 'PF_NO_SPACE' &&
        e.message === 'no directory has 5,242,880 bytes free (/mnt/a: 5,234,688 bytes free)',
    );
    const blocked = { ...info, replotBlocked: '--replot can free nothing here: no PoS1 plot here' };
    assert.throws(
      () => chooseDir([blocked], 6 * MiB, new Set()),
      (e: NoRoomError) =>
        e.message.includes('/mnt/a: 5.0 MiB free (--replot can free nothing here') &&
        e.replotBlocked === '--replot can free nothing here: no PoS1 plot here',
    );
  });
});

describe('whyWritten', () => {
  // The bid's why named one disk while the plot went to another (another plot took the disk,
  // or it failed): the receiver's RESULT says why of the disk written.
  it("takes the receiver's why; a bid's only when it names the directory written", () => {
    const r = { remotePath: '/mnt/b/x.plot2' };
    assert.deepEqual(whyWritten({ ...r, why: '/mnt/b: the most free space' }, '/mnt/a: the most free space'), {
      why: '/mnt/b: the most free space',
    });
    assert.deepEqual(whyWritten(r, '/mnt/a: the most free space'), {});
    assert.deepEqual(whyWritten(r, '/mnt/b: the most free space'), { why: '/mnt/b: the most free space' });
    assert.deepEqual(whyWritten(r, '/mnt/bb: the most free space'), {});
  });
});
