/** Defects a review found, each with the test that failed before its fix. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import fs, { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { connect } from 'nats';
import { PlotferryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { sendByBidding } from '../../src/plotter/bidding.js';
import { publish } from '../../src/storage/publish.js';
import { createReceiverServer } from '../../src/transfer/receive/intake.js';
import { ReceiveSession } from '../../src/transfer/receive/session.js';
import { sendFile } from '../../src/transfer/sender.js';
import { isRoot, tmpDir, writePlot } from '../helpers/files.js';
import { TOKEN, useFixture } from '../helpers/listener.js';
import { startNatsServer } from '../helpers/nats-server.js';

describe('review defects', () => {
  const fx = useFixture();
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  // Regression: any non-PlotferryError became PF_INTERNAL whose message was the stack trace, and
  // that went to the sender.
  it('a bug on the receiver reaches the sender as a fixed message, never a stack trace', async () => {
    const server = createReceiverServer((socket) => {
      socket.resume();
      const s = new ReceiveSession(socket, {
        token: TOKEN,
        log: silentLogger(),
        inflightNames: new Set(),
        headerTimeoutMs: 5_000,
        idleTimeoutMs: 5_000,
        isShuttingDown: () => false,
        place: () => {
          throw new TypeError("Cannot read properties of undefined (reading 'dir')");
        },
      });
      socket.on('data', (c: Buffer) => s.onRead(c, c.length));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => server.close(() => r())));
    const file = path.join(fx.src, 'bug.plot');
    writePlot(file, 1000);
    const port = (server.address() as net.AddressInfo).port;
    const e = await sendFile({ host: '127.0.0.1', port, token: TOKEN, file }).then(
      () => assert.fail('sent'),
      (err: unknown) => err as PlotferryError,
    );
    assert.equal(e.code, 'PF_INTERNAL');
    assert.doesNotMatch(e.message, /TypeError|\n\s+at |reading 'dir'/, 'no stack, no internals');
    assert.match(e.message, /internal error on the receiver/);
  });

  // Regression: every connection added an abort listener to the run's shared signal and never
  // removed it; fifteen files in one `send` printed MaxListenersExceededWarning.
  it('a signal shared by many transfers keeps no listener once they are done', async () => {
    const abort = new AbortController();
    const file = path.join(fx.src, 'many.plot');
    writePlot(file, 100);
    for (let i = 0; i < 15; i++) {
      const r = await sendFile({
        host: '127.0.0.1',
        port: fx.l.port,
        token: TOKEN,
        file,
        signal: abort.signal,
        name: `many-${i}.plot`,
      });
      assert.equal(r.bytes, 100);
      await fx.l.nextOutcome();
    }
    assert.equal(getEventListeners(abort.signal, 'abort').length, 0);
  });

  // Regression: the bidding back-off slept through Ctrl-C, for up to 30 s.
  it('Ctrl-C during the bidding back-off ends it at once', { timeout: 20_000 }, async () => {
    const server = await startNatsServer();
    cleanup.push(() => server.stop());
    const nc = await connect({ servers: server.url });
    cleanup.push(() => nc.close());
    const file = path.join(fx.src, 'nobody.plot');
    writePlot(file, 100);
    const abort = new AbortController();
    // Nobody bids, so it backs off 60 s before its next try; without the fix this outlives the
    // test's timeout.
    const sending = sendByBidding({
      nc,
      plotter: 'p',
      file,
      bidTimeoutMs: 100,
      tries: 3,
      backoffMs: 60_000,
      signal: abort.signal,
      onRetry: () => abort.abort(),
    });
    await assert.rejects(sending, (e: unknown) => e instanceof PlotferryError && e.code === 'PF_ABORTED');
  });

  // Regression: link(2) and unlink(2) of the temporary name shared one try, so a plot already
  // under its final name was reported as failed when only the unlink failed (a disk remounted
  // read-only that instant), and the plotter sent it again elsewhere: it landed twice.
  it('a plot linked to its final name is published even when its temporary name cannot be removed', async (t) => {
    if (!isRoot) return t.skip('needs root: an append-only directory (chattr +a) refuses the unlink');
    // ext4 (not tmpfs) supports chattr.
    const dir = await tmpDir('pf-append-', '/var/tmp');
    const temp = path.join(dir, '.plotferry-x.plot.0011aabb.partial');
    fs.writeFileSync(temp, 'plot bytes');
    try {
      execFileSync('chattr', ['+a', dir]);
    } catch {
      await fsp.rm(dir, { recursive: true, force: true });
      return t.skip('this file system has no chattr +a');
    }
    try {
      await publish(temp, path.join(dir, 'x.plot'));
      assert.equal(fs.readFileSync(path.join(dir, 'x.plot'), 'utf8'), 'plot bytes');
    } finally {
      execFileSync('chattr', ['-a', dir]);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
