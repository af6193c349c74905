/**
 * Receiving directories are used and cleaned only by the receiver that holds them, and a disk
 * that fails a write leaves the rotation.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { sendFile } from '../../src/transfer/sender.js';
import { encodeOwner, selfOwner } from '../../src/storage/owner.js';
import { RECEIVER_LOCK } from '../../src/wire/names.js';
import { runCli, runCliExpectingExit, startCli } from '../helpers/cli.js';
import { isRoot, ls, lsAll, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { startListener, TOKEN, waitFor } from '../helpers/listener.js';
import { startProxy } from '../helpers/proxy.js';

const MiB = 2 ** 20;

describe('receiving directories', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  const dir = async (label = 'pf-claim-') => {
    const d = await tmpDir(label);
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    return d;
  };
  /** A small disk of its own (root). */
  const mount = async (label: string, size: string) => {
    const d = await tmpDir(label, '/tmp');
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', d]);
    cleanup.push(async () => {
      execFileSync('umount', [d]);
      await fsp.rm(d, { recursive: true, force: true });
    });
    return d;
  };

  // Regression: a second `listen` on the directory of a running transfer removed its live
  // .partial at start ("left by an earlier run"); the transfer then failed at its last step
  // (PF_IO ENOENT ... link) with all its bytes lost.
  it('a second receiver on a directory with a transfer under way is refused and touches nothing', async () => {
    const src = await dir();
    const recv = await dir();
    const file = path.join(src, 'live.plot');
    writePlot(file, 6 * MiB);
    const sum = await sha256(file);
    const l = await startListener({ dirs: [recv] });
    cleanup.push(() => l.close());
    // Hold the transfer nearly still while the second receivers start (each takes a second or
    // more on a busy machine), then let it finish.
    const slow = await startProxy({ targetPort: l.port, rateBytesPerSec: 128 * 1024 });
    cleanup.push(() => slow.close());
    const sending = sendFile({ host: '127.0.0.1', port: slow.port, token: TOKEN, file });
    await waitFor(() => lsAll(recv).some((f) => f.endsWith('.partial')), 10_000, 'the live temporary file');
    for (const cmd of [
      ['listen', '--dir', recv, '--port', '0', '--token', TOKEN],
      ['harvester', '--nats', 'nats://127.0.0.1:1', '--dir', recv],
    ]) {
      const r = await runCliExpectingExit(cmd);
      assert.equal(r.code, 1, `${cmd[0]}: ${r.stderr}`);
      assert.match(r.stderr, /PF_DIR_IN_USE: .* is served by another plotferry: listen \(pid \d+/);
      assert.ok(
        lsAll(recv).some((f) => f.endsWith('.partial')),
        `${cmd[0]} left the live temporary file alone`,
      );
    }
    slow.setRate(undefined);
    const result = await sending;
    assert.equal(await sha256(result.remotePath), sum, 'the first transfer finished, byte-exact');
  });

  it("a directory a dead receiver held is taken over, and that receiver's leftovers are removed", async () => {
    const recv = await dir();
    const dead = { ...selfOwner('listen'), pid: 999_999_999 };
    fs.writeFileSync(path.join(recv, RECEIVER_LOCK), encodeOwner(dead));
    fs.writeFileSync(path.join(recv, '.plotferry-x.plot.0123abcd.partial'), 'crash leftover');
    const l = await startListener({ dirs: [recv] });
    try {
      assert.deepEqual(ls(recv), [], 'the leftover is gone');
      assert.ok(fs.readFileSync(path.join(recv, RECEIVER_LOCK), 'utf8').includes(`"pid":${process.pid}`));
    } finally {
      await l.close();
    }
    assert.deepEqual(lsAll(recv), [], 'the claim is released on close');
  });

  // Found by the fault suite: after a directory vanished and came back (a disk unmounted and
  // mounted again), the receiver's claim was gone with the old directory, and a second receiver
  // took the new one.
  it('a directory that vanished and came back is claimed again', async () => {
    const parent = await dir();
    const recv = path.join(parent, 'disk');
    fs.mkdirSync(recv);
    const l = await startListener({ dirs: [recv] });
    try {
      fs.renameSync(recv, `${recv}.gone`);
      fs.mkdirSync(recv);
      await l.listener.disks.snapshot(); // what every bid and heartbeat does
      assert.ok(fs.existsSync(path.join(recv, RECEIVER_LOCK)), 'claimed again');
      const r = await runCliExpectingExit(['listen', '--dir', recv, '--port', '0', '--token', TOKEN]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /PF_DIR_IN_USE/);
    } finally {
      await l.close();
    }
  });

  // A disk mounted over a directory in use hides what was written there: it is not taken for
  // that directory (nothing is written on it, no lock), which comes back once it is unmounted.
  it('a disk mounted over a claimed directory is not claimed; unmounted, the directory is back', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts a tmpfs');
    const recv = await dir();
    const l = await startListener({ dirs: [recv] });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', recv]);
      try {
        const [mounted] = await l.listener.disks.snapshot();
        assert.match(mounted!.unusable ?? '', /PF_DISK_GONE/);
        assert.deepEqual(lsAll(recv), [], 'nothing written on the disk mounted over it');
      } finally {
        execFileSync('umount', [recv]);
      }
      // Our own lock from before the mount is there again: the directory is back, as it was.
      const [again] = await l.listener.disks.snapshot();
      assert.equal(again!.unusable, undefined, again!.unusable);
    } finally {
      await l.close();
    }
    assert.deepEqual(lsAll(recv), [], 'every claim released at close');
  });

  it('one directory named twice (a symlink) is used once, not as two disks', async () => {
    const recv = await dir();
    const alias = path.join(await dir(), 'alias');
    fs.symlinkSync(recv, alias);
    const l = await startListener({ dirs: [recv, alias] });
    try {
      const infos = await l.listener.disks.snapshot();
      assert.equal(infos[0]!.unusable, undefined);
      assert.match(infos[1]!.unusable ?? '', /the same directory as/);
    } finally {
      await l.close();
    }
  });

  // Regression: with `--dir ro50 --dir rw30` and ro50 remounted read-only (as the kernel does
  // after disk errors), every send failed with PF_IO EROFS on ro50; rw30 was never tried.
  it('a disk remounted read-only leaves the rotation; the plot goes to the other disk', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts small tmpfs disks');
    const ro50 = await mount('pf-ro50-', '50m');
    const rw30 = await mount('pf-rw30-', '30m');
    const src = await dir();
    const l = await startListener({ dirs: [ro50, rw30] });
    cleanup.push(() => l.close());
    execFileSync('mount', ['-o', 'remount,ro', ro50]);
    cleanup.push(() => void execFileSync('mount', ['-o', 'remount,rw', ro50]));
    for (const n of ['a', 'b']) {
      const file = path.join(src, `${n}.plot`);
      writePlot(file, MiB);
      const r = await sendFile({ host: '127.0.0.1', port: l.port, token: TOKEN, file });
      assert.equal(path.dirname(r.remotePath), rw30, `${n}: on the writable disk`);
      assert.equal(await sha256(r.remotePath), await sha256(file));
    }
    const [ro] = await l.listener.disks.snapshot();
    assert.match(ro!.unusable ?? '', /out of rotation until .* after a failed write .*EROFS/);
  });

  it('the same through the CLI: `send` succeeds and the log says which disk left the rotation', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts small tmpfs disks');
    const d = await mount('pf-ro-cli-', '50m');
    const rw = await mount('pf-rw-cli-', '30m');
    const src = await dir();
    const rx = startCli(['listen', '--dir', d, '--dir', rw, '--port', '0', '--token', TOKEN, '--host', '127.0.0.1']);
    try {
      const port = await waitFor(() => /"port":(\d+)/.exec(rx.stderr())?.[1], 10_000, 'the listening line');
      execFileSync('mount', ['-o', 'remount,ro', d]);
      const file = path.join(src, 'c.plot');
      writePlot(file, 100_000);
      const r = await runCli(['send', '--to', `127.0.0.1:${port}`, '--token', TOKEN, file]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(ls(rw), ['c.plot']);
      await waitFor(() => /disk out of rotation/.test(rx.stderr()), 5_000, 'the log line');
      assert.match(rx.stderr(), new RegExp(`"dir":"${d}".*EROFS|EROFS.*"dir":"${d}"`));
      // Stopping with a read-only disk: its lock cannot be removed, and that is no error (it was
      // "unexpected error: EROFS", exit 1, and a harvester so stopped never exited).
      rx.child.kill('SIGTERM');
      const end = await rx.done;
      assert.equal(end.code, 0, rx.stderr());
      assert.doesNotMatch(rx.stderr(), /unexpected error/);
    } finally {
      rx.child.kill('SIGTERM');
      await rx.done;
      execFileSync('mount', ['-o', 'remount,rw', d]);
    }
  });
});
