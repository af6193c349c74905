import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { chooseDir, DirInfo } from '../../src/storage/disks.js';

const GiB = 2 ** 30;
const d = (dir: string, dev: number, freeGiB: number, extra: Partial<DirInfo> = {}): DirInfo => ({
  dir,
  dev,
  freeBytes: freeGiB * GiB,
  totalBytes: 1000 * GiB,
  busy: false,
  ...extra,
});
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as PlotferryError).code;
  }
  return 'none';
};

describe('chooseDir', () => {
  it('picks the filesystem with the most free space', () => {
    assert.equal(chooseDir([d('/a', 1, 200), d('/b', 2, 900), d('/c', 3, 500)], 102 * GiB, new Set()).dir, '/b');
  });

  it('skips busy filesystems, and directories sharing a busy one', () => {
    const infos = [d('/a', 1, 200), d('/b', 2, 900), d('/b2', 2, 900)];
    assert.equal(chooseDir(infos, 102 * GiB, new Set([2])).dir, '/a');
  });

  it('never picks a directory that cannot hold the file (size + reserve)', () => {
    const infos = [d('/a', 1, 101), d('/b', 2, 103)];
    assert.equal(chooseDir(infos, 102 * GiB, new Set()).dir, '/b');
    assert.equal(
      code(() => chooseDir(infos, 104 * GiB, new Set())),
      'PF_NO_SPACE',
    );
  });

  it('says busy, not full, when the ones with room are all writing', () => {
    assert.equal(
      code(() => chooseDir([d('/a', 1, 50), d('/b', 2, 900)], 102 * GiB, new Set([2]))),
      'PF_BUSY',
    );
  });

  it('skips unusable directories (missing, disabled); with none usable it is PF_NO_DISK, not PF_NO_SPACE', () => {
    const infos = [d('/a', 1, 900, { unusable: 'disabled by plotferry.disable' }), d('/b', 2, 200)];
    assert.equal(chooseDir(infos, 102 * GiB, new Set()).dir, '/b');
    // Nothing usable: "add a disk or free space" would be the wrong advice.
    assert.equal(
      code(() => chooseDir([infos[0]!, d('/c', 3, 0, { unusable: 'does not exist (ENOENT)' })], 1, new Set())),
      'PF_NO_DISK',
    );
    // Usable but too small, beside an unusable one: that is space.
    assert.equal(
      code(() => chooseDir([infos[0]!, d('/b', 2, 1)], 102 * GiB, new Set())),
      'PF_NO_SPACE',
    );
  });

  it('breaks ties by the order directories were given', () => {
    assert.equal(chooseDir([d('/a', 1, 500), d('/b', 2, 500)], GiB, new Set()).dir, '/a');
  });
});
