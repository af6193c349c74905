/**
 * Bad input at the listener: each is answered with a clear error (where the connection still
 * stands), leaves nothing on disk, and the next honest transfer succeeds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { sendFile } from '../../src/transfer/sender.js';
import { encodeFrame, FrameType } from '../../src/wire/frame.js';
import { encodeMessage } from '../../src/wire/wire-messages.js';
import { isRoot, ls, sha256, tmpDir, writeRandomFile, writeSamplePlot } from '../helpers/files.js';
import { PlotferryError } from '../../src/core/errors.js';
import { startListener, TOKEN, useFixture, waitFor } from '../helpers/listener.js';
import { RawClient } from '../helpers/raw.js';

const MiB = 2 ** 20;
const hello = (over: Record<string, unknown> = {}) =>
  encodeMessage({ type: 'hello', token: TOKEN, name: 'x.plot', size: 1000, hash: 'xxh64', ...over } as never);

describe('hostile input', () => {
  // No resume here: these check that a failure keeps nothing (resume.test.ts covers keeping).
  const fx = useFixture({ headerTimeoutMs: 1_000, idleTimeoutMs: 1_000, partialTtlMs: 0 });
  let good: string;
  before(() => {
    good = path.join(fx.src, 'good.plot');
    writeRandomFile(good, 2 * MiB + 3);
  });
  afterEach(async () => {
    // After every bad input: nothing on disk, and an honest transfer goes through.
    assert.deepEqual(ls(fx.dst), []);
    const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file: good });
    assert.equal(await sha256(r.remotePath), await sha256(good));
    assert.equal((await fx.l.nextOutcome()).ok, true);
    fs.rmSync(r.remotePath);
  });

  /** Sends `bytes`, expects an ERROR with `code`, and the listener's outcome to say the same. */
  async function refused(bytes: Buffer, code: string): Promise<void> {
    const c = await RawClient.connect(fx.l.port);
    await c.write(bytes);
    const m = await c.next();
    assert.equal(m?.type, 'error');
    assert.equal(m?.type === 'error' && m.code, code);
    const o = await fx.l.nextOutcome();
    assert.equal(!o.ok && o.error.code, code);
    c.destroy();
  }

  it('wrong token: PF_AUTH', () => refused(hello({ token: 'guess' }), 'PF_AUTH'));
  it('missing (empty) token: PF_AUTH', () => refused(hello({ token: '' }), 'PF_AUTH'));
  it('a token that is a prefix of the right one: PF_AUTH', () =>
    refused(hello({ token: TOKEN.slice(0, -1) }), 'PF_AUTH'));
  it('garbage bytes: PF_PROTOCOL', () => refused(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'PF_PROTOCOL'));
  it('another protocol version: PF_VERSION', () => refused(Buffer.from([0x50, 0x46, 9, 1, 0, 0, 0, 0]), 'PF_VERSION'));
  it('an oversized header: PF_HEADER_TOO_LARGE', () => {
    const h = Buffer.from([0x50, 0x46, 1, 1, 0, 0, 0, 0]);
    h.writeUInt32BE(1 << 30, 4);
    return refused(h, 'PF_HEADER_TOO_LARGE');
  });
  it('a header that is not JSON: PF_PROTOCOL', () =>
    refused(encodeFrame(FrameType.HELLO, Buffer.from('{nope')), 'PF_PROTOCOL'));
  it('a TRAILER where HELLO is due: PF_PROTOCOL', () =>
    refused(encodeMessage({ type: 'trailer', hash: '0000000000000000' }), 'PF_PROTOCOL'));
  it('a negative size: PF_PROTOCOL', () => refused(hello({ size: -5 }), 'PF_PROTOCOL'));
  it('an unknown hash: PF_UNSUPPORTED_HASH', () => refused(hello({ hash: 'crc32' }), 'PF_UNSUPPORTED_HASH'));

  for (const name of ['../../x', '../x.plot', 'a/b.plot', '/etc/cron.d/evil', '.hidden.plot', 'x\u0000y.plot', '..']) {
    it(`path-traversal or hidden name ${JSON.stringify(name)}: PF_BAD_NAME`, async () => {
      await refused(hello({ name }), 'PF_BAD_NAME');
      assert.equal(fs.existsSync(path.resolve(fx.dst, name)) && name !== '..', false);
    });
  }

  // Regression: this name was stored and took the disk out of rotation.
  for (const name of ['plotferry.disable', 'PLOTFERRY.DISABLE']) {
    it(`a control file name ${name}: PF_BAD_NAME, the disk stays in rotation`, async () => {
      await refused(hello({ name }), 'PF_BAD_NAME');
      assert.equal(fs.existsSync(path.join(fx.dst, name)), false);
    });
  }

  it('a stream that ends early: PF_SHORT_STREAM, temporary file removed', async () => {
    const c = await RawClient.connect(fx.l.port);
    await c.write(hello({ name: 'short.plot', size: 4 * MiB }));
    assert.equal((await c.next())?.type, 'accept');
    await c.write(Buffer.alloc(MiB, 7));
    await waitFor(() => ls(fx.dst).some((f) => f.endsWith('.partial')), 5_000, 'the temporary file');
    c.end();
    const o = await fx.l.nextOutcome();
    assert.equal(!o.ok && o.error.code, 'PF_SHORT_STREAM');
    assert.match(!o.ok ? o.error.message : '', /after 1048576 of 4194304 bytes/);
    c.destroy();
  });

  it('a stream longer than declared: PF_PROTOCOL, nothing kept', async () => {
    const c = await RawClient.connect(fx.l.port);
    await c.write(hello({ name: 'long.plot', size: 1000 }));
    assert.equal((await c.next())?.type, 'accept');
    await c.write(Buffer.alloc(1010, 1));
    const m = await c.next();
    assert.equal(m?.type === 'error' && m.code, 'PF_PROTOCOL');
    assert.match(m?.type === 'error' ? m.message : '', /longer than declared/);
    const o = await fx.l.nextOutcome();
    assert.equal(o.ok, false);
    c.destroy();
  });

  it('a wrong trailer hash from the sender itself: PF_HASH_MISMATCH', async () => {
    const c = await RawClient.connect(fx.l.port);
    await c.write(hello({ name: 'liar.plot', size: 10 }));
    assert.equal((await c.next())?.type, 'accept');
    await c.write(Buffer.alloc(10, 1));
    await c.write(encodeMessage({ type: 'trailer', hash: 'deadbeefdeadbeef' }));
    const m = await c.next();
    assert.equal(m?.type === 'error' && m.code, 'PF_HASH_MISMATCH');
    await fx.l.nextOutcome();
    c.destroy();
  });

  it('silence after connecting: dropped after the header timeout', async () => {
    const c = await RawClient.connect(fx.l.port);
    const m = await c.next(5_000);
    assert.equal(m?.type === 'error' && m.code, 'PF_TIMEOUT');
    await fx.l.nextOutcome();
    c.destroy();
  });

  it('silence mid-stream: dropped after the idle timeout, temporary file removed', async () => {
    const c = await RawClient.connect(fx.l.port);
    await c.write(hello({ name: 'stall.plot', size: 2 * MiB }));
    assert.equal((await c.next())?.type, 'accept');
    await c.write(Buffer.alloc(1000));
    const m = await c.next(5_000);
    assert.equal(m?.type === 'error' && m.code, 'PF_TIMEOUT');
    await fx.l.nextOutcome();
    c.destroy();
  });

  it('senders that vanish right after their header leak no write slot', async () => {
    // A leaked slot would leave the disk "busy", and every later transfer would get PF_BUSY.
    for (let i = 0; i < 30; i++) {
      const c = await RawClient.connect(fx.l.port);
      c.socket.write(hello({ name: `vanish-${i}.plot`, size: 1000 }));
      c.destroy();
    }
    for (let i = 0; i < 30; i++) assert.equal((await fx.l.nextOutcome()).ok, false);
    assert.equal(fx.l.listener.activeTransfers, 0);
    // afterEach sends a real file: PF_BUSY there if a slot leaked.
  });

  it('a connect-and-close probe is not an error', async () => {
    const c = await RawClient.connect(fx.l.port);
    c.end();
    const o = await fx.l.nextOutcome();
    assert.equal(!o.ok && o.quiet, true);
  });
});

describe('repeated wrong tokens', () => {
  const fx = useFixture({ authThrottle: { maxFailures: 3, windowMs: 10_000, blockMs: 1_000 } });
  const authError = (re: RegExp) => (e: unknown) =>
    e instanceof PlotferryError && e.code === 'PF_AUTH' && re.test(e.message);

  it('block the address for a while, even with the right token, then it may try again', async () => {
    const file = path.join(fx.src, 'after-block.plot');
    writeRandomFile(file, 100_000);
    const send = (token: string) => sendFile({ host: '127.0.0.1', port: fx.l.port, token, file });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(send(`guess-${i}`), authError(/: wrong token$/));
      await fx.l.nextOutcome();
    }
    await assert.rejects(send(TOKEN), authError(/too many wrong tokens from .*127\.0\.0\.1: refused for another 1 s/));
    await fx.l.nextOutcome();
    assert.deepEqual(ls(fx.dst), []);
    await new Promise((r) => setTimeout(r, 1_100));
    await send(TOKEN);
    assert.equal((await fx.l.nextOutcome()).ok, true);
    assert.deepEqual(ls(fx.dst), ['after-block.plot']);
  });
});

describe('--verify-plot-header', () => {
  const fx = useFixture({ verifyPlotHeader: true });
  const notAPlot = (e: unknown) => e instanceof PlotferryError && e.code === 'PF_NOT_A_PLOT';

  it('takes a file that starts like a plot, refuses others before writing them, keeps serving', async () => {
    const plot = path.join(fx.src, 'plot-k32-ok.plot');
    writeSamplePlot(plot, 3 * MiB + 1);
    const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file: plot });
    assert.equal(await sha256(r.remotePath), await sha256(plot));
    assert.equal((await fx.l.nextOutcome()).ok, true);

    // Random bytes: refused once the first buffer arrives, before it is written.
    const junk = path.join(fx.src, 'backup.plot');
    writeRandomFile(junk, 3 * MiB);
    await assert.rejects(sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file: junk }), notAPlot);
    const o = await fx.l.nextOutcome();
    assert.equal(!o.ok && o.error.code, 'PF_NOT_A_PLOT');
    // Smaller than the first buffer: the whole file is checked at its end.
    const small = path.join(fx.src, 'small.plot');
    writeRandomFile(small, 5000);
    await assert.rejects(sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file: small }), notAPlot);
    await fx.l.nextOutcome();
    // Too short for any header: refused from the declared size, before ACCEPT.
    const tiny = path.join(fx.src, 'tiny.plot');
    writeRandomFile(tiny, 0);
    await assert.rejects(sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file: tiny }), notAPlot);
    await fx.l.nextOutcome();

    assert.deepEqual(ls(fx.dst), ['plot-k32-ok.plot'], 'no refused file, whole or partial');
    for (const f of [junk, small, tiny]) assert.ok(fs.existsSync(f), 'sources are kept');
    const again = path.join(fx.src, 'plot-k32-again.plot');
    writeSamplePlot(again, 2 * MiB);
    await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file: again });
    assert.equal((await fx.l.nextOutcome()).ok, true);
  });
});

describe('a disk that fills up mid-transfer', () => {
  it('answers PF_DISK_FULL, removes the temporary file, keeps serving', async (t) => {
    if (!isRoot) return t.skip('needs root to mount a size-limited tmpfs');
    const mnt = await tmpDir('pf-small-', '/tmp');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    } catch {
      await fsp.rm(mnt, { recursive: true, force: true });
      return t.skip('mount -t tmpfs is not allowed here');
    }
    const l = await startListener({ dirs: [mnt] });
    try {
      const c = await RawClient.connect(l.port);
      await c.write(hello({ name: 'full.plot', size: 6 * MiB }));
      assert.equal((await c.next())?.type, 'accept');
      // Space that was free at ACCEPT is taken by someone else meanwhile.
      fs.writeFileSync(path.join(mnt, 'other-writer'), Buffer.alloc(5 * MiB));
      await c.write(Buffer.alloc(6 * MiB, 3));
      const m = await c.next();
      assert.equal(m?.type === 'error' && m.code, 'PF_DISK_FULL');
      const o = await l.nextOutcome();
      assert.equal(!o.ok && o.error.code, 'PF_DISK_FULL');
      c.destroy();
      assert.deepEqual(ls(mnt), ['other-writer'], 'temporary file removed');
      fs.rmSync(path.join(mnt, 'other-writer'));
      // Keeps serving: a file that fits goes through.
      const src = await tmpDir();
      const f = path.join(src, 'fits.plot');
      writeRandomFile(f, 3 * MiB);
      const r = await sendFile({ host: '127.0.0.1', port: l.port, token: TOKEN, file: f });
      assert.equal(await sha256(r.remotePath), await sha256(f));
      await fsp.rm(src, { recursive: true, force: true });
    } finally {
      await l.close();
      execFileSync('umount', [mnt]);
      await fsp.rm(mnt, { recursive: true, force: true });
    }
  });
});
