/**
 * A receiving directory is the disk it was: an unmount is not a new empty disk. Regression: after
 * `umount` of a disk under a running harvester, it re-created its lock in the bare mount point on
 * `/` and wrote the next plots there, with no warning; `status` kept counting the vanished plots,
 * and after a remount the plots written meanwhile were hidden under the mount.
 *
 * A tmpfs mounted again is a new filesystem (a new st_dev), unlike a disk: each "disk" here is a
 * tmpfs kept mounted aside and bind-mounted onto the receiving directory, so unmounting the bind
 * and binding it again brings the same filesystem back, as remounting a disk does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';

import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PlotferryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { registry, useRole } from '../../src/core/prom-series.js';
import { createdOn } from '../../src/storage/fsio.js';
import { Notifier, setNotifier } from '../../src/core/notify.js';
import { collectHeartbeats, formatStatus } from '../../src/plotter/farm-status.js';
import { sendFile } from '../../src/transfer/sender.js';
import { RECEIVER_LOCK } from '../../src/wire/names.js';
import { startCli } from '../helpers/cli.js';
import { isRoot, lsAll, sha256, tmpDir, writeRandomFile, writeSamplePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { startListener, TOKEN, waitFor } from '../helpers/listener.js';
import { captureLog } from '../helpers/log.js';
import { startWebhook } from '../helpers/webhook.js';
import { natsSuite } from '../helpers/nats-server.js';

const MiB = 2 ** 20;

describe('a receiving directory is the disk it was', () => {
  const { nats, cleanup } = natsSuite();
  after(() => {
    setNotifier(undefined);
  });

  /** Temporary directories on the root filesystem (where /tmp is on most machines). */
  const dir = async (label: string) => {
    const d = await tmpDir(label, '/tmp');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    return d;
  };

  /**
   * A disk: a tmpfs of `mb` MiB kept mounted aside, bound onto a directory. unmount() and
   * mount() take it away from the directory and bring the same filesystem back.
   */
  const disk = async (label: string, mb: number) => {
    const aside = await dir(`${label}aside-`);
    const at = await dir(label);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', aside]);
    let bound = false;
    const d = {
      aside,
      at,
      mount() {
        execFileSync('mount', ['--bind', aside, at]);
        bound = true;
      },
      /** umount(8); a directory read at that moment (a scan, the partials' expiry) makes it EBUSY: again. */
      async unmount() {
        await waitFor(
          () => {
            try {
              execFileSync('umount', [at], { stdio: 'ignore' });
              return true;
            } catch {
              return false;
            }
          },
          5_000,
          `${at} to be unmounted`,
        );
        bound = false;
      },
    };
    d.mount();
    // Pushed after the rm of both directories: cleanups run last first.
    cleanup.push(() => {
      if (bound) execFileSync('umount', [at]);
      execFileSync('umount', [aside]);
    });
    return d;
  };

  /** A webhook receiver, and a notifier posting to it. */
  const webhook = async () => {
    const wh = await startWebhook();
    cleanup.push(() => wh.close());
    const { url, bodies } = wh;
    setNotifier(new Notifier({ urls: [url], log: silentLogger() }));
    return bodies;
  };

  it('an unmounted disk leaves the rotation at once: nothing written in its bare mount point, no lock; back, it rejoins', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts tmpfs disks');
    const big = await disk('pf-mnt-big-', 48);
    const small = await disk('pf-mnt-small-', 24);
    const src = await dir('pf-mnt-src-');
    const hook = await webhook();
    const { log, lines } = captureLog();
    // The receiver's defaults: no --allow-root-fs.
    const l = await startListener({ dirs: [big.at, small.at], allowRootFs: false, log });
    cleanup.push(() => l.close());
    const send = async (name: string) => {
      const file = path.join(src, name);
      writeRandomFile(file, MiB);
      const r = await sendFile({ host: '127.0.0.1', port: l.port, token: TOKEN, file });
      assert.equal(await sha256(r.remotePath), await sha256(file));
      return path.dirname(r.remotePath);
    };
    assert.equal(await send('a.plot'), big.at, 'the disk with the most free space');
    const lock = fs.readFileSync(path.join(big.at, RECEIVER_LOCK), 'utf8');

    await big.unmount();
    assert.deepEqual(lsAll(big.at), [], 'the bare mount point');
    assert.equal(await send('b.plot'), small.at, 'the next plot goes to the other disk, not to the bare mount point');
    assert.equal(await send('c.plot'), small.at);
    const [gone] = await l.listener.disks.snapshot();
    assert.equal(gone!.gone, true);
    assert.match(
      gone!.unusable ?? '',
      /PF_DISK_GONE.*is on (the root )?filesystem .*not on filesystem .* where it joined the rotation/,
    );
    assert.deepEqual(lsAll(big.at), [], 'nothing was written in the bare mount point, and no lock re-created there');
    const warn = lines.filter((x) => x.code === 'PF_DISK_GONE');
    assert.equal(warn.length, 1, 'said once');
    assert.equal(warn[0]!.level, 40);
    assert.equal(warn[0]!.dir, big.at);
    await waitFor(() => hook.some((b) => b.event === 'disk-gone'), 5_000, 'the webhook');
    assert.match(
      String(hook.find((b) => b.event === 'disk-gone')!.message),
      new RegExp(`${big.at} is on .*filesystem`),
    );
    useRole('harvester'); // the series a harvester's --metrics serves
    assert.match(
      (await registry.getSingleMetricAsString('plotferry_disk_state')) ?? '',
      new RegExp(`plotferry_disk_state\\{dir="${big.at}",state="not-mounted"\\} 1\\n`),
    );
    assert.match(
      (await registry.getSingleMetricAsString('plotferry_disk_gone')) ?? '',
      new RegExp(`plotferry_disk_gone\\{dir="${big.at}"\\} 1\\n.*\\{dir="${small.at}"\\} 0`),
    );

    // The same filesystem back: it rejoins by itself, with its plot and our lock as they were.
    big.mount();
    assert.equal(await send('d.plot'), big.at, 'back in rotation');
    assert.deepEqual(
      lsAll(big.at).filter((f) => f.endsWith('.plot')),
      ['a.plot', 'd.plot'],
    );
    assert.equal(fs.readFileSync(path.join(big.at, RECEIVER_LOCK), 'utf8'), lock, 'the same claim');
    assert.ok(lines.some((x) => String(x.msg).startsWith(`disk back: ${big.at}`)));
    await waitFor(() => hook.some((b) => b.event === 'disk-back'), 5_000, 'the webhook saying it is back');
  });

  it('another filesystem mounted there is not taken for it: out of rotation until its own is back', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts tmpfs disks');
    const d = await disk('pf-mnt-other-', 16);
    const l = await startListener({ dirs: [d.at], allowRootFs: false });
    cleanup.push(() => l.close());
    await d.unmount();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', d.at]);
    try {
      const [other] = await l.listener.disks.snapshot();
      assert.equal(other!.gone, true);
      assert.match(other!.unusable ?? '', /PF_DISK_GONE\): is on filesystem \d+:\d+, not on filesystem/);
      await assert.rejects(l.listener.disks.reserve(1), (e: PlotferryError) => e.code === 'PF_NO_DISK');
      assert.deepEqual(lsAll(d.at), [], 'no lock, nothing written on the stranger');
    } finally {
      execFileSync('umount', [d.at]);
    }
    d.mount();
    const [back] = await l.listener.disks.snapshot();
    assert.equal(back!.unusable, undefined, back!.unusable);
  });

  it('the same filesystem back under another device number (a USB disk that came back as another sdX) rejoins by its lock', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts tmpfs disks');
    const d = await disk('pf-mnt-renum-', 16);
    const l = await startListener({ dirs: [d.at], allowRootFs: false });
    cleanup.push(() => l.close());
    const [before] = await l.listener.disks.snapshot();
    await d.unmount();
    assert.equal((await l.listener.disks.snapshot())[0]!.gone, true);
    // Its content, this receiver's lock included, on a new tmpfs: a new st_dev.
    const clone = await dir('pf-mnt-clone-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', clone]);
    try {
      execFileSync('cp', ['-a', `${d.aside}/.`, clone]);
      execFileSync('mount', ['--bind', clone, d.at]);
      try {
        const [back] = await l.listener.disks.snapshot();
        assert.equal(back!.unusable, undefined, back!.unusable);
        assert.notEqual(back!.dev, before!.dev, 'another device number');
        const r = await l.listener.disks.reserve(1);
        assert.equal(r.dir, d.at);
        r.release();
      } finally {
        await l.close();
        execFileSync('umount', [d.at]);
      }
    } finally {
      execFileSync('umount', [clone]);
    }
  });

  it("status: a gone disk's plots are not counted, a disk out of rotation's still are; back, they count again", async (t) => {
    if (!isRoot) return t.skip('needs root: mounts tmpfs disks');
    const a = await disk('pf-mnt-st-a-', 24);
    const b = await disk('pf-mnt-st-b-', 24);
    for (const [d, n] of [
      [a, 3],
      [b, 2],
    ] as const)
      for (let i = 0; i < n; i++) writeSamplePlot(path.join(d.at, `plot-k32-${i}.plot`), MiB, 32);
    const h = await startTestHarvester({
      nc: await nats(),
      id: 'mnt-status',
      prefix: 'mnt',
      dirs: [a.at, b.at],
      allowRootFs: false,
    });
    cleanup.push(() => h.close());
    const beat = async () => {
      const [hb] = await collectHeartbeats(await nats(), 'mnt', 3_000, silentLogger());
      return { hb: hb!, text: formatStatus([hb!]) };
    };
    const plotsOf = (hb: Awaited<ReturnType<typeof beat>>['hb'], d: string) => hb.dirs.find((x) => x.dir === d)!;
    assert.match((await beat()).text, /plots 5 /);

    await a.unmount();
    // b fails a write: out of rotation, its plots are still there.
    h.disks.markFailed(fs.statSync(b.at).dev, b.at, new PlotferryError('PF_IO', 'writing x: EIO'));
    const { hb, text } = await beat();
    assert.equal(plotsOf(hb, a.at).gone, true);
    assert.equal(plotsOf(hb, a.at).plots, 0);
    assert.equal(plotsOf(hb, b.at).plots, 2, 'out of rotation, still counted');
    assert.match(plotsOf(hb, b.at).unusable ?? '', /out of rotation/);
    assert.match(text, /^mnt-status .* plots 2 /);
    assert.match(text, new RegExp(`\\n  ${a.at}  \\[disk gone \\(PF_DISK_GONE\\)`));
    assert.match(text, new RegExp(`\\n  ${b.at}  .* 2 plots .*\\[out of rotation`));

    a.mount();
    await waitFor(
      async () => (await beat()).hb.dirs.find((x) => x.dir === a.at)!.plots === 3,
      15_000,
      'a counted again',
    );
    assert.match((await beat()).text, /plots 5 /);
  });

  // Found by a farmer's trial: a disk that joined after the start (remounted writable, mounted
  // late) was in rotation at once, but its plots were counted only at the next reconciliation
  // scan (10 min): status said 0, and a plot of a group it held went elsewhere.
  it('a disk that joins after the start: its plots are counted as it joins, not 10 minutes later', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts tmpfs disks');
    const a = await disk('pf-mnt-late-a-', 16);
    const late = await disk('pf-mnt-late-b-', 16);
    for (let i = 0; i < 2; i++) writeSamplePlot(path.join(late.at, `plot-k32-late-${i}.plot`), MiB, 32);
    execFileSync('mount', ['-o', 'remount,ro', late.aside]);
    cleanup.push(() => void execFileSync('mount', ['-o', 'remount,rw', late.aside]));
    const h = await startTestHarvester({ nc: await nats(), id: 'mnt-late', prefix: 'mntlate', dirs: [a.at, late.at] });
    cleanup.push(() => h.close());
    const on = async (d: string) => {
      const [hb] = await collectHeartbeats(await nats(), 'mntlate', 3_000, silentLogger());
      return hb?.dirs.find((x) => x.dir === d);
    };
    assert.match((await on(late.at))?.unusable ?? '', /EROFS/);
    execFileSync('mount', ['-o', 'remount,rw', late.aside]);
    await waitFor(async () => (await on(late.at))?.plots === 2, 15_000, 'the disk that joined, counted');
  });

  // The last gap: a disk unmounted between the choice of its directory and the creation of the
  // temporary file there would have the file created in the bare mount point.
  it('a file created after its disk went is told apart from one on the disk chosen', async (t) => {
    const onDisk = await dir('pf-mnt-created-');
    const chosen = fs.statSync(onDisk).dev;
    const file = path.join(onDisk, 'f');
    const fd = fs.openSync(file, 'wx');
    try {
      assert.equal(await createdOn(fd, onDisk, chosen), true);
      const other = fs.statSync('/proc').dev;
      if (other === chosen) return t.skip('no second filesystem to tell apart');
      assert.equal(await createdOn(fd, onDisk, other), false, 'created on another filesystem than the one chosen');
    } finally {
      fs.closeSync(fd);
    }
  });

  it('the shipped harvester unit and env file do not turn the root filesystem check off', () => {
    const contrib = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../contrib/systemd');
    const unit = fs.readFileSync(path.join(contrib, 'plotferry-harvester.service'), 'utf8');
    const env = fs.readFileSync(path.join(contrib, 'plotferry.env'), 'utf8');
    // Its disks are mount points under /mnt, named in the env file.
    assert.match(unit, /^ExecStart=.* harvester$/m);
    assert.match(env, /^PLOTFERRY_HARVESTER_DIR=\/mnt\/\S+$/m);
    for (const f of ['plotferry-harvester.service', 'plotferry.env'])
      assert.doesNotMatch(
        fs.readFileSync(path.join(contrib, f), 'utf8').replace(/^#.*$/gm, ''),
        /allow-root-fs|ALLOW_ROOT_FS/i,
        f,
      );
  });

  it('at start, a --dir on the root filesystem is skipped unless --allow-root-fs: an unmounted disk never fills /', async (t) => {
    const bare = await dir('pf-mnt-bare-');
    if (fs.statSync(bare).dev !== fs.statSync('/').dev) return t.skip('/tmp is not on the root filesystem here');
    const rx = startCli(['listen', '--dir', bare, '--port', '0', '--token', TOKEN, '--host', '127.0.0.1'], {
      PLOTFERRY_ALLOW_ROOT_FS: '',
    });
    try {
      await waitFor(() => rx.stderr().includes('listening'), 10_000, 'the listener');
      assert.match(rx.stderr(), /on the root filesystem \(its disk is not mounted\?\).*--allow-root-fs/);
      assert.deepEqual(lsAll(bare), [], 'no lock taken there');
    } finally {
      rx.child.kill('SIGTERM');
      await rx.done;
    }
    const ok = startCli(['listen', '--allow-root-fs', '--dir', bare, '--port', '0', '--token', TOKEN]);
    try {
      await waitFor(() => ok.stderr().includes('listening'), 10_000, 'the listener');
      assert.deepEqual(lsAll(bare), [RECEIVER_LOCK], 'with --allow-root-fs it is used');
    } finally {
      ok.child.kill('SIGTERM');
      await ok.done;
    }
  });
});
