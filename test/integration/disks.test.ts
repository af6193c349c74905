/** The disk set against real file systems: mount checks, disable markers, vanished disks. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DiskSet } from '../../src/storage/disks.js';
import { DISABLE_FILE } from '../../src/wire/names.js';
import type { PlotferryError } from '../../src/core/errors.js';
import { isRoot, tmpDir } from '../helpers/files.js';

describe('disk set', () => {
  it('with requireMount, skips a directory whose disk is not mounted, and takes it once it is', async (t) => {
    const parent = await tmpDir('pf-mnt-', '/tmp');
    const dir = path.join(parent, 'disk1');
    fs.mkdirSync(dir);
    try {
      const disks = new DiskSet([dir], { requireMount: true, allowRootFs: true });
      const [before] = await disks.snapshot();
      assert.match(before!.unusable ?? '', /not a mount point/);
      await assert.rejects(disks.reserve(1), /not a mount point/);
      assert.equal(
        (await new DiskSet([dir], { allowRootFs: true }).snapshot())[0]!.unusable,
        undefined,
        'without the option it is used',
      );
      if (!isRoot) return t.skip('mounting a tmpfs needs root; the unmounted case was checked');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
      try {
        const [after] = await disks.snapshot();
        assert.equal(after!.unusable, undefined, 'mounted: usable, without a restart');
        const r = await disks.reserve(1000);
        assert.equal(r.dir, dir);
        r.release();
      } finally {
        execFileSync('umount', [dir]);
      }
    } finally {
      await fsp.rm(parent, { recursive: true, force: true });
    }
  });

  it('sees a disk disabled, removed and added back without a restart', async () => {
    const a = await tmpDir();
    const fresh = new DiskSet([a], { allowRootFs: true });
    const r = await fresh.reserve(1);
    assert.equal(r.dir, a);
    r.release();
    fs.writeFileSync(path.join(a, DISABLE_FILE), '');
    await assert.rejects(fresh.reserve(1), /disabled/);
    fs.rmSync(path.join(a, DISABLE_FILE));
    fs.rmSync(a, { recursive: true });
    await assert.rejects(fresh.reserve(1), /PF_DISK_GONE\): does not exist any more/);
    fs.mkdirSync(a);
    assert.equal((await fresh.reserve(1)).dir, a);
    await fsp.rm(a, { recursive: true, force: true });
  });

  it('a partial copy pins the file to its disk, unless that disk cannot take it any more', async () => {
    // Two directories on one filesystem here, so "busy" is shared: each case reserves afresh.
    const a = await tmpDir();
    const b = await tmpDir();
    try {
      const disks = new DiskSet([a, b], { allowRootFs: true });
      const partial = { dir: b, bytes: 500 };
      const r1 = await disks.reserveFor(1000, partial);
      assert.equal(r1.dir, b, "on the partial copy's disk");
      await assert.rejects(disks.reserveFor(1000, partial), (e: PlotferryError) => e.code === 'PF_BUSY');
      r1.release();
      fs.writeFileSync(path.join(b, DISABLE_FILE), '');
      const r2 = await disks.reserveFor(1000, partial);
      assert.equal(r2.dir, a, 'its disk was disabled: anywhere the whole file fits');
      r2.release();
      assert.equal((await disks.chooseFor(1000, partial)).dir, a);
    } finally {
      for (const d of [a, b]) await fsp.rm(d, { recursive: true, force: true });
    }
  });
});
