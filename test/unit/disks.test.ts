import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { chooseDir, DirInfo, GroupBusyError } from '../../src/storage/disks.js';

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

describe('chooseDir with a PoS2 plot group (CHIP-48, CHIP-49)', () => {
  const g = { key: 'ab'.repeat(16), meta: 3 };
  const G = GiB;
  const has = (n: number, sameMeta = 0): Partial<DirInfo> => ({ groupPlots: n, sameMeta });

  it("the disk holding the group's plots wins over more free space; the one holding most of it first", () => {
    const infos = [d('/a', 1, 900, has(0)), d('/b', 2, 50, has(2)), d('/c', 3, 60, has(5))];
    const pick = chooseDir(infos, G, new Set(), g);
    assert.equal(pick.dir, '/c');
    assert.equal(pick.why, 'holds 5 plot(s) of its group');
    // Without a group: the most free space, as ever.
    assert.equal(chooseDir(infos, G, new Set()).dir, '/a');
    assert.equal(chooseDir(infos, G, new Set()).why, 'the most free space');
  });

  it("its group's disk busy: the plot waits for it (GroupBusyError, PF_BUSY) unless any disk will do", () => {
    const infos = [d('/a', 1, 900, has(0)), d('/b', 2, 50, has(4))];
    assert.throws(
      () => chooseDir(infos, G, new Set([2]), g),
      (e: unknown) => e instanceof GroupBusyError && e.code === 'PF_BUSY' && e.home.join() === '/b',
    );
    const any = chooseDir(infos, G, new Set([2]), { ...g, anyDisk: true });
    assert.equal(any.dir, '/a');
    assert.match(any.why!, /its group's disk \/b is busy: the most free space with no other group of meta-group 3/);
  });

  it("its group's disk full: the next disk, and why says so", () => {
    const infos = [d('/a', 1, 0.5, has(9)), d('/b', 2, 300, has(0)), d('/c', 3, 200, has(0))];
    const pick = chooseDir(infos, G, new Set(), g);
    assert.equal(pick.dir, '/b');
    assert.match(pick.why!, /^its group's disk \/a is full: the most free space/);
  });

  it('a new group goes where no other group of its meta-group is, before more free space', () => {
    const infos = [d('/a', 1, 900, has(0, 2)), d('/b', 2, 100, has(0, 0)), d('/c', 3, 300, has(0, 1))];
    const pick = chooseDir(infos, G, new Set(), g);
    assert.equal(pick.dir, '/b');
    assert.equal(pick.why, 'the most free space with no other group of meta-group 3');
    // Every disk holds that meta-group: the most free space, and why says so.
    const all = [d('/a', 1, 900, has(0, 2)), d('/c', 3, 300, has(0, 1))];
    assert.equal(chooseDir(all, G, new Set(), g).dir, '/a');
    assert.match(chooseDir(all, G, new Set(), g).why!, /every disk with room holds meta-group 3 already/);
    // The clean disk is busy: the rule picks among the idle ones.
    assert.equal(chooseDir(infos, G, new Set([2]), g).dir, '/a');
  });

  it('--replot: a full disk holding the group makes room there, before a full disk without it', () => {
    const infos = [
      d('/a', 1, 0.1, { ...has(0), freeableBytes: 500 * G }),
      d('/b', 2, 0, { ...has(3), freeableBytes: 20 * G }),
    ];
    const pick = chooseDir(infos, G, new Set(), g);
    assert.equal(pick.dir, '/b');
    assert.equal(pick.needsRoom, G);
    assert.equal(pick.why, 'holds 3 plot(s) of its group; PoS1 plots give way');
    assert.equal(chooseDir(infos, G, new Set()).dir, '/a', 'without a group: the one that needs the least freed');
  });
});

describe("chooseDir with chia's default plots: groups of one in meta-group 0", () => {
  const G = GiB;
  // What groupOf gives a chia 3.0 plot: plot index 0, meta-group 0, a fresh key per plot.
  const single = { key: 'cd'.repeat(16), meta: 0, single: true };
  const meta0 = (sameMeta: number, extra: Partial<DirInfo> = {}): Partial<DirInfo> => ({
    groupPlots: 0,
    sameMeta,
    ...extra,
  });

  it('with free space: the most free space, not the disk with no PoS2 plot yet', () => {
    const infos = [d('/a', 1, 100, meta0(0)), d('/b', 2, 900, meta0(4000))];
    const pick = chooseDir(infos, G, new Set(), single);
    assert.equal(pick.dir, '/b');
    assert.equal(pick.why, 'the most free space');
    // A group that may have more plots, or another meta-group, keeps the CHIP-49 rule.
    assert.equal(chooseDir(infos, G, new Set(), { ...single, single: undefined }).dir, '/a');
    assert.equal(chooseDir(infos, G, new Set(), { ...single, meta: 1 }).dir, '/a');
  });

  it('--replot: the disk whose replot has begun makes room before a disk not begun', () => {
    // Three full disks of PoS1 plots; /b has begun (holds 300 PoS2 plots), /a and /c have not.
    const infos = [
      d('/a', 1, 0.5, meta0(0, { freeableBytes: 900 * G })),
      d('/b', 2, 0.2, meta0(300, { freeableBytes: 600 * G })),
      d('/c', 3, 0.6, meta0(0, { freeableBytes: 900 * G })),
    ];
    const pick = chooseDir(infos, G, new Set(), single);
    assert.equal(pick.dir, '/b');
    assert.equal(pick.why, 'the most free space among disks whose replot has begun; PoS1 plots give way');
    // Taken literally, the meta-group rule would begin the replot of another disk.
    const literal = chooseDir(infos, G, new Set(), { ...single, single: undefined });
    assert.notEqual(literal.dir, '/b');
    // The begun disk busy: the next one begins (a plot never waits for a replot's disk).
    assert.equal(chooseDir(infos, G, new Set([2]), single).dir, '/c');
    // None begun: the one that needs the least freed.
    const none = infos.map((i) => ({ ...i, sameMeta: 0 }));
    assert.equal(chooseDir(none, G, new Set(), single).dir, '/c');
  });
});

describe('chooseDir with PoS2 group files of 30-120 GB', () => {
  const GB = 1e9;
  const at = (dir: string, dev: number, freeBytes: number, extra: Partial<DirInfo> = {}): DirInfo => ({
    ...d(dir, dev, 0, extra),
    freeBytes,
    totalBytes: 20_000 * GB,
  });
  const group = { key: 'ef'.repeat(16), meta: 7 };

  it('a group file lands whole on the one disk it fits; a disk with less free than its size is never chosen', () => {
    const size = 60 * GB;
    // /a is clean of meta-group 7 and /c is idle, but only /b has room for the whole file.
    const infos = [
      at('/a', 1, size - 1, { sameMeta: 0 }),
      at('/b', 2, size + 4096, { sameMeta: 3 }),
      at('/c', 3, 5 * GB),
    ];
    assert.equal(chooseDir(infos, size, new Set(), group).dir, '/b');
    assert.equal(chooseDir(infos, size, new Set()).dir, '/b');
    // /b busy: the file waits for it (PF_BUSY) rather than go where it does not fit.
    assert.equal(
      code(() => chooseDir(infos, size, new Set([2]), group)),
      'PF_BUSY',
    );
    // 120 GB fits nowhere: PF_NO_SPACE, with the sizes in the message.
    assert.equal(
      code(() => chooseDir(infos, 120 * GB, new Set(), group)),
      'PF_NO_SPACE',
    );
  });

  it('--replot: a full disk makes room for a whole group file only where its PoS1 plots free enough', () => {
    const size = 120 * GB;
    const infos = [
      at('/a', 1, 10 * GB, { freeableBytes: 100 * GB }), // 110 GB at most: never
      at('/b', 2, 1 * GB, { freeableBytes: 202 * GB }),
    ];
    const pick = chooseDir(infos, size, new Set(), group);
    assert.equal(pick.dir, '/b');
    assert.equal(pick.needsRoom, size - 1 * GB);
  });
});
