import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDev, judgeHome } from '../../src/storage/disk-home.js';

const ROOT = 0xfd01; // 253:1
const DISK = 0x811; // 8:17

describe('a receiving directory is the disk it was', () => {
  it('a directory not in the rotation yet may join, on the root filesystem only if allowed', () => {
    assert.deepEqual(judgeHome(undefined, { dev: DISK }, ROOT, false), { kind: 'new' });
    assert.deepEqual(judgeHome(undefined, { dev: ROOT }, ROOT, false), { kind: 'root-fs' });
    assert.deepEqual(judgeHome(undefined, { dev: ROOT }, ROOT, true), { kind: 'new' });
    assert.deepEqual(judgeHome(undefined, 'missing', ROOT, false), { kind: 'new' });
  });

  it('stays while on the filesystem it joined on', () => {
    assert.deepEqual(judgeHome({ dev: DISK, mountPoint: true }, { dev: DISK }, ROOT, false), { kind: 'home' });
    // Joined on the root filesystem (allowed): held to it like any other.
    assert.deepEqual(judgeHome({ dev: ROOT, mountPoint: false }, { dev: ROOT }, ROOT, true), { kind: 'home' });
  });

  it('is gone when its disk is unmounted (the bare mount point on /), whatever --allow-root-fs says', () => {
    for (const allow of [false, true]) {
      const v = judgeHome({ dev: DISK, mountPoint: true }, { dev: ROOT }, ROOT, allow);
      assert.equal(v.kind, 'gone');
      assert.match(
        (v as { why: string }).why,
        /is on the root filesystem 253:1, not on filesystem 8:17 \(mounted there\) where it joined/,
      );
    }
  });

  it('is gone on any other filesystem, and when it does not exist', () => {
    const other = judgeHome({ dev: DISK, mountPoint: true }, { dev: DISK + 1 }, ROOT, false);
    assert.match((other as { why: string }).why, /is on filesystem 8:18, .*\(another disk mounted there\?\)/);
    // Joined on / (allowed), then a disk was mounted over it: what was written there is hidden.
    const over = judgeHome({ dev: ROOT, mountPoint: false }, { dev: DISK }, ROOT, true);
    assert.match(
      (over as { why: string }).why,
      /\(a disk mounted over it\? what was written there is hidden under it\)/,
    );
    const v = judgeHome({ dev: DISK, mountPoint: false }, 'missing', ROOT, false);
    assert.equal(v.kind, 'gone');
    assert.match((v as { why: string }).why, /does not exist any more/);
  });

  it('names devices as MAJOR:MINOR', () => {
    assert.equal(formatDev(0x811), '8:17');
    assert.equal(formatDev(0xfd01), '253:1');
    // Large minors (loop and nvme partitions past 255) use the extended encoding.
    assert.equal(formatDev(0x11032c), '259:300');
    assert.equal(formatDev(0), '0:0');
  });
});
