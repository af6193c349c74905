/**
 * Transfers through a real listener on loopback: byte-exact delivery, the final name only
 * after verification, and the source untouched on failure.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { sendFile } from '../../src/transfer/sender.js';
import { sendWithRetry } from '../../src/transfer/retry.js';
import { ls, lsAll, sha256, tmpDir, writeRandomFile } from '../helpers/files.js';
import { startListener, TOKEN, useFixture, waitFor } from '../helpers/listener.js';
import { startProxy } from '../helpers/proxy.js';

const MiB = 2 ** 20;

async function rejectsWith(p: Promise<unknown>, code: string): Promise<PlotferryError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PlotferryError, `expected a PlotferryError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

for (const userBuffers of [true, false]) {
  describe(`byte-exact transfers (${userBuffers ? 'user-buffer' : 'stream'} intake)`, () => {
    const fx = useFixture({ userBuffers });

    const sizes: [string, number][] = [
      ['0 B', 0],
      ['1 B', 1],
      // not a multiple of either side's buffer, and larger than one sender pool round
      ['5 MiB + 12345 B', 5 * MiB + 12345],
      ...(userBuffers ? ([['300 MiB', 300 * MiB]] as [string, number][]) : []),
    ];
    for (const [label, size] of sizes) {
      it(`moves ${label} unchanged, hashes equal on both ends`, async () => {
        const name = `size-${size}.plot`;
        const file = path.join(fx.src, name);
        writeRandomFile(file, size);
        const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file });
        const o = await fx.l.nextOutcome();
        assert.equal(o.ok, true);
        assert.equal(r.bytes, size);
        assert.equal(r.remotePath, path.join(fx.dst, name));
        assert.equal(o.ok && o.hash, r.hash);
        assert.equal(fs.statSync(r.remotePath).size, size);
        assert.equal(await sha256(r.remotePath), await sha256(file));
        assert.deepEqual(
          ls(fx.dst).filter((f) => f.startsWith('.')),
          [],
          'no temporary file left',
        );
        assert.equal(fx.l.listener.intakeMode, userBuffers ? 'user-buffer' : 'stream');
        // Alone in the process: the first write runs on the event loop (disk-writer.ts). A later
        // one may move to the thread pool when a write was slow (a busy machine): 'both'.
        if (size === 0) assert.equal(o.ok && o.writes, undefined);
        else assert.ok(o.ok && (o.writes === 'loop' || o.writes === 'both'), `writes: ${o.ok && o.writes}`);
      });
    }
  });
}

describe('write-behind (--flush-every)', () => {
  const fx = useFixture({ flushEvery: MiB });
  const plain = useFixture();

  it('a file larger than the step is synced while it arrives, and lands byte-exact', async () => {
    const file = path.join(fx.src, 'wb.plot');
    writeRandomFile(file, 6 * MiB + 777);
    const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file });
    const o = await fx.l.nextOutcome();
    assert.ok(o.ok);
    // 6 MiB in 1 MiB steps, one flush at a time per file: at least one, at most six.
    assert.ok((o.flushes ?? 0) >= 1 && (o.flushes ?? 0) <= 6, `flushes: ${o.flushes}`);
    assert.equal(await sha256(r.remotePath), await sha256(file));
  });

  it('by default (64M) a smaller file is synced once, at the end', async () => {
    const file = path.join(plain.src, 'wb-small.plot');
    writeRandomFile(file, 6 * MiB);
    await sendFile({ host: '127.0.0.1', port: plain.l.port, token: TOKEN, file });
    const o = await plain.l.nextOutcome();
    assert.ok(o.ok);
    assert.equal(o.flushes, undefined);
  });
});

describe('failures leave no final file and the source intact', () => {
  const fx = useFixture();

  it('detects one byte flipped in transit (PF_HASH_MISMATCH), then serves the next transfer', async () => {
    const file = path.join(fx.src, 'flip.plot');
    writeRandomFile(file, 3 * MiB);
    const before = await sha256(file);
    // 1 MiB into the stream: well inside the file data, past the header.
    const proxy = await startProxy({ targetPort: fx.l.port, flipAt: MiB });
    try {
      await rejectsWith(sendFile({ host: '127.0.0.1', port: proxy.port, token: TOKEN, file }), 'PF_HASH_MISMATCH');
    } finally {
      await proxy.close();
    }
    const o = await fx.l.nextOutcome();
    assert.equal(!o.ok && o.error.code, 'PF_HASH_MISMATCH');
    assert.deepEqual(ls(fx.dst), [], 'neither final nor temporary file');
    assert.equal(await sha256(file), before, 'source intact');
    const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file });
    assert.equal(await sha256(r.remotePath), before);
    assert.equal((await fx.l.nextOutcome()).ok, true);
  });

  it('never overwrites an existing file of the same name (PF_EXISTS)', async () => {
    const file = path.join(fx.src, 'exists.plot');
    writeRandomFile(file, 1000);
    fs.writeFileSync(path.join(fx.dst, 'exists.plot'), 'precious');
    await rejectsWith(sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file }), 'PF_EXISTS');
    assert.equal(fs.readFileSync(path.join(fx.dst, 'exists.plot'), 'utf8'), 'precious');
    assert.equal((await fx.l.nextOutcome()).ok, false);
  });

  it('refuses a file larger than any disk before a byte is sent (PF_NO_SPACE)', async () => {
    // Its own directory: a second receiver on fx.dst is refused (PF_DIR_IN_USE).
    const own = await tmpDir();
    const l2 = await startListener({ dirs: [own], reserveBytes: 2 ** 50 });
    try {
      const file = path.join(fx.src, 'big.plot');
      writeRandomFile(file, 10);
      await rejectsWith(sendFile({ host: '127.0.0.1', port: l2.port, token: TOKEN, file }), 'PF_NO_SPACE');
      const o = await l2.nextOutcome();
      assert.equal(!o.ok && o.bytes, 0);
    } finally {
      await l2.close();
      await fsp.rm(own, { recursive: true, force: true });
    }
  });

  it('skips a directory holding plotferry.disable (only that one: PF_NO_DISK, not PF_NO_SPACE)', async () => {
    const other = await tmpDir();
    fs.writeFileSync(path.join(other, 'plotferry.disable'), '');
    const l2 = await startListener({ dirs: [other] });
    try {
      const file = path.join(fx.src, 'disabled.plot');
      writeRandomFile(file, 10);
      const e = await rejectsWith(sendFile({ host: '127.0.0.1', port: l2.port, token: TOKEN, file }), 'PF_NO_DISK');
      assert.match(e.message, /plotferry\.disable/);
    } finally {
      await l2.close();
      await fsp.rm(other, { recursive: true, force: true });
    }
  });

  // A farmer's trial: `touch plotferry.disabled` on a disk about to be pulled left it in rotation.
  it('a file named like plotferry.disable (plotferry.disabled) also disables, and says to rename it', async () => {
    const other = await tmpDir();
    fs.writeFileSync(path.join(other, 'plotferry.disabled'), '');
    const l2 = await startListener({ dirs: [other] });
    try {
      const file = path.join(fx.src, 'lookalike.plot');
      writeRandomFile(file, 10);
      const e = await rejectsWith(sendFile({ host: '127.0.0.1', port: l2.port, token: TOKEN, file }), 'PF_NO_DISK');
      assert.match(e.message, /plotferry\.disabled \(read as plotferry\.disable; rename it to that\)/);
    } finally {
      await l2.close();
      await fsp.rm(other, { recursive: true, force: true });
    }
  });

  it('says what is wrong with a source that is not there (PF_SOURCE)', async () => {
    await rejectsWith(
      sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file: path.join(fx.src, 'missing.plot') }),
      'PF_SOURCE',
    );
  });

  it('reports a listener that is not there as PF_CONNECTION', async () => {
    const file = path.join(fx.src, 'nobody.plot');
    writeRandomFile(file, 10);
    const own = await tmpDir();
    const closed = await startListener({ dirs: [own] });
    const port = closed.port;
    await closed.close();
    await fsp.rm(own, { recursive: true, force: true });
    await rejectsWith(sendFile({ host: '127.0.0.1', port, token: TOKEN, file }), 'PF_CONNECTION');
  });
});

describe('placement', () => {
  it('writes two files at once to directories on two filesystems', async (t) => {
    // /dev/shm and the temp dir are different filesystems on most Linux machines.
    const a = await tmpDir('pf-a-', '/dev/shm');
    const b = await tmpDir('pf-b-', os.tmpdir());
    if (fs.statSync(a).dev === fs.statSync(b).dev) {
      t.skip('/dev/shm and the temp dir share a filesystem here');
      return;
    }
    const src = await tmpDir();
    const l = await startListener({ dirs: [a, b] });
    // Throttled, so the two transfers surely overlap.
    const proxy = await startProxy({ targetPort: l.port, rateBytesPerSec: 8 * MiB });
    try {
      const files = ['one.plot', 'two.plot'].map((n) => {
        const f = path.join(src, n);
        writeRandomFile(f, 4 * MiB);
        return f;
      });
      let peak = 0;
      const timer = setInterval(() => (peak = Math.max(peak, l.listener.activeTransfers)), 10);
      const results = await Promise.all(
        files.map((file) => sendFile({ host: '127.0.0.1', port: proxy.port, token: TOKEN, file })),
      );
      clearInterval(timer);
      assert.equal(peak, 2, 'both transfers ran at once');
      // Two sessions writing at once: neither may block the loop, so the thread pool takes writes.
      const writes = [await l.nextOutcome(), await l.nextOutcome()].map((o) => o.ok && o.writes);
      for (const w of writes) assert.ok(w === 'pool' || w === 'both', `writes: ${w}`);
      const dirs = results.map((r) => path.dirname(r.remotePath)).sort();
      assert.deepEqual(dirs, [a, b].sort(), 'one file on each filesystem');
    } finally {
      await proxy.close();
      await l.close();
      for (const d of [a, b, src]) await fsp.rm(d, { recursive: true, force: true });
    }
  });

  it('queues a second file for a busy single filesystem instead of writing two at once', async () => {
    const dst = await tmpDir();
    const src = await tmpDir();
    const l = await startListener({ dirs: [dst] });
    const proxy = await startProxy({ targetPort: l.port, rateBytesPerSec: 16 * MiB });
    try {
      const slow = path.join(src, 'slow.plot');
      const fast = path.join(src, 'fast.plot');
      writeRandomFile(slow, 4 * MiB);
      writeRandomFile(fast, 10);
      const first = sendFile({ host: '127.0.0.1', port: proxy.port, token: TOKEN, file: slow });
      // Wait on the state itself (the first file holds the disk's write slot), not on a sleep.
      await waitFor(() => l.listener.disks.activeWrites > 0, 10_000, 'the first transfer to hold the disk');
      await rejectsWith(sendFile({ host: '127.0.0.1', port: l.port, token: TOKEN, file: fast }), 'PF_BUSY');
      await first;
    } finally {
      await proxy.close();
      await l.close();
      for (const d of [dst, src]) await fsp.rm(d, { recursive: true, force: true });
    }
  });
});

describe('a source that changes while it is sent', () => {
  const fx = useFixture();

  it('is refused (PF_SOURCE_CHANGED) and never appears under its final name', async () => {
    const file = path.join(fx.src, 'growing.plot');
    writeRandomFile(file, 32 * MiB);
    // Slow the stream down so the file grows while it is still being read (the sender reads a
    // few MiB ahead of the socket).
    const proxy = await startProxy({ targetPort: fx.l.port, rateBytesPerSec: 16 * MiB });
    try {
      const sending = sendFile({ host: '127.0.0.1', port: proxy.port, token: TOKEN, file });
      // The transfer is under way (its temporary file exists), not merely started 100 ms ago.
      await waitFor(() => lsAll(fx.dst).some((f) => f.endsWith('.partial')), 10_000, 'the transfer to start');
      fs.appendFileSync(file, Buffer.alloc(4096, 1)); // the plotter was still writing it
      await rejectsWith(sending, 'PF_SOURCE_CHANGED');
    } finally {
      await proxy.close();
    }
    const o = await fx.l.nextOutcome();
    assert.equal(o.ok, false);
    // The good bytes of the old size may be kept for a resume (hidden, never a final name);
    // a later send of the grown file does not match them.
    assert.deepEqual(
      ls(fx.dst).filter((f) => !f.endsWith('.resume')),
      [],
      'no final file, no temporary file',
    );
  });
});

describe('a receiver whose only disk is busy (send --to)', () => {
  it('is asked again until its disk is free, using up no retry, and the wait is reported once, not at each poll', async () => {
    const dst = await tmpDir();
    const src = await tmpDir();
    const l = await startListener({ dirs: [dst] });
    try {
      const file = path.join(src, 'waits.plot');
      writeRandomFile(file, 10);
      const slot = await l.listener.disks.reserveFor(10); // another file is being written there
      const reports: string[] = [];
      const sending = sendWithRetry(
        { host: '127.0.0.1', port: l.port, token: TOKEN, file },
        { retries: 0, busyWaitMs: 60_000, onRetry: (e) => reports.push(e.code) },
      );
      const busy = () => l.outcomes.filter((o) => !o.ok && o.error.code === 'PF_BUSY').length;
      await waitFor(() => busy() >= 3, 10_000, 'the receiver to be asked three times');
      slot.release();
      const r = await sending;
      assert.equal(r.bytes, 10);
      // Each poll used to be reported (a log line every 2 s for up to --busy-wait's 30 min).
      assert.deepEqual(reports, ['PF_BUSY']);
    } finally {
      await l.close();
      for (const d of [dst, src]) await fsp.rm(d, { recursive: true, force: true });
    }
  });
});
