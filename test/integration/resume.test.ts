/**
 * Resume: a partial copy continues, in direct mode and through bidding; the whole-file hash is
 * still checked; a bad or expired partial never ends up under a final name.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, NatsConnection, RequestStrategy } from 'nats';
import { decodeBus, encodeBus, subjects } from '../../src/bus/bus-messages.js';
import { PlotferryError } from '../../src/core/errors.js';
import { Harvester } from '../../src/farm/harvester-daemon.js';
import { sendByBidding } from '../../src/plotter/bidding.js';
import { partialPathFor } from '../../src/storage/hidden-names.js';
import { sendWithRetry } from '../../src/transfer/retry.js';
import { sendFile } from '../../src/transfer/sender.js';
import { ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { startListener, TOKEN, useFixture, waitFor } from '../helpers/listener.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';

const MiB = 2 ** 20;

/** Writes the first `bytes` of `file` as the partial copy a broken transfer would leave. */
function plantPartial(dir: string, file: string, bytes: number): string {
  const size = fs.statSync(file).size;
  const p = partialPathFor(dir, path.basename(file), size);
  fs.writeFileSync(p, fs.readFileSync(file).subarray(0, bytes));
  return p;
}

describe('resume (direct)', () => {
  const fx = useFixture();

  it('sends only the tail of a partial copy, and the result is byte-exact', async () => {
    const file = path.join(fx.src, 'tail.plot');
    writePlot(file, 6 * MiB + 123);
    plantPartial(fx.dst, file, 4 * MiB);
    const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file });
    assert.equal(r.resumedFrom, 4 * MiB);
    assert.equal(r.bytesSent, 2 * MiB + 123);
    assert.equal(await sha256(r.remotePath), await sha256(file));
    assert.deepEqual(ls(fx.dst), ['tail.plot'], 'the partial copy became the file');
    await fx.l.nextOutcome();
  });

  it('a partial copy at an offset that is not a buffer multiple, and one holding every byte', async () => {
    for (const [name, keep] of [
      ['odd.plot', 1_234_567],
      ['all.plot', 3 * MiB],
    ] as const) {
      const file = path.join(fx.src, name);
      writePlot(file, 3 * MiB);
      plantPartial(fx.dst, file, keep);
      const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file });
      assert.equal(r.resumedFrom, keep);
      assert.equal(await sha256(r.remotePath), await sha256(file));
      await fx.l.nextOutcome();
    }
  });

  it('a corrupted partial copy fails the hash and is dropped; the retry sends it all', async () => {
    const file = path.join(fx.src, 'bad-prefix.plot');
    writePlot(file, 5 * MiB);
    const p = plantPartial(fx.dst, file, 3 * MiB);
    const fd = fs.openSync(p, 'r+');
    // A bit rotted on the harvester's disk: flipped, not set (a fixed byte was already there in
    // one random plot of 256, and the test failed once in CI).
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 1_000_000);
    fs.writeSync(fd, Buffer.from([b[0]! ^ 0x01]), 0, 1, 1_000_000);
    fs.closeSync(fd);
    await assert.rejects(
      sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_HASH_MISMATCH',
    );
    await fx.l.nextOutcome();
    assert.deepEqual(
      ls(fx.dst).filter((f) => f.includes('bad-prefix')),
      [],
      'neither a final file nor the bad partial copy',
    );
    const r = await sendWithRetry({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file }, { retries: 1 });
    assert.equal(r.resumedFrom, 0);
    assert.equal(await sha256(r.remotePath), await sha256(file));
    await fx.l.nextOutcome();
  });

  it('a sender that does not resume starts from the beginning; the partial copy is left to expire', async () => {
    const file = path.join(fx.src, 'no-resume.plot');
    writePlot(file, 2 * MiB);
    const p = plantPartial(fx.dst, file, MiB);
    const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file, resume: false });
    assert.equal(r.resumedFrom, 0);
    assert.equal(await sha256(r.remotePath), await sha256(file));
    assert.ok(fs.existsSync(p));
    await fx.l.nextOutcome();
  });
});

describe('resume: expiry', () => {
  it('a partial copy older than --partial-ttl is removed, and not resumed from', async () => {
    const src = await tmpDir();
    const dst = await tmpDir();
    const file = path.join(src, 'old.plot');
    writePlot(file, 2 * MiB);
    const stale = plantPartial(dst, file, MiB);
    const old = Date.now() / 1000 - 10;
    fs.utimesSync(stale, old, old);
    const l = await startListener({ dirs: [dst], partialTtlMs: 5_000 });
    try {
      await waitFor(() => !fs.existsSync(stale), 5_000, 'the expired partial copy to go');
      const fresh = plantPartial(dst, file, MiB);
      const r = await sendFile({ host: '127.0.0.1', port: l.port, token: TOKEN, file });
      assert.equal(r.resumedFrom, MiB, 'a fresh one is used');
      assert.ok(!fs.existsSync(fresh));
    } finally {
      await l.close();
      for (const d of [src, dst]) await fsp.rm(d, { recursive: true, force: true });
    }
  });
});

describe('resume through bidding', () => {
  let server: NatsServer;
  const conns: NatsConnection[] = [];
  const harvesters: Harvester[] = [];
  const dirs: string[] = [];
  let src: string;
  const nats = async () => {
    const nc = await connect({ servers: server.url });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    server = await startNatsServer();
    src = await tmpDir();
    for (const id of ['rb-a', 'rb-b']) {
      const dir = await tmpDir(`pf-${id}-`);
      dirs.push(dir);
      harvesters.push(
        await startTestHarvester({
          nc: await nats(),
          id,
          prefix: 'rb',
          dirs: [dir],
        }),
      );
    }
  });
  after(async () => {
    for (const h of harvesters) await h.close();
    for (const nc of conns) await nc.close();
    await server.stop();
    for (const d of [src, ...dirs]) await fsp.rm(d, { recursive: true, force: true });
  });

  it('the harvester holding a partial copy bids at once, even when excluded, and gets only the tail', async () => {
    const file = path.join(src, 'held.plot');
    writePlot(file, 4 * MiB);
    plantPartial(dirs[1]!, file, 3 * MiB); // rb-b holds 3 MiB of it
    const nc = await nats();
    // The plotter skipped rb-b after it failed this plot; it bids all the same, saying how much it holds.
    const bids = [];
    for await (const m of await nc.requestMany(
      subjects('rb').announce,
      encodeBus({
        kind: 'announce',
        v: 1,
        id: 'x1',
        name: 'held.plot',
        size: 4 * MiB,
        plotter: 'p',
        exclude: ['rb-b'],
      }),
      { strategy: RequestStrategy.Timer, maxWait: 400 },
    ))
      bids.push(decodeBus(m.data, ['bid']));
    // Both may bid at once (rb-a's disk is nearly empty): which arrives first is not the point.
    assert.deepEqual(bids.map((b) => [b.harvester, b.resumeFrom]).sort(), [
      ['rb-a', undefined],
      ['rb-b', 3 * MiB],
    ]);
    const r = await sendByBidding({ nc, plotter: 'p', prefix: 'rb', file, bidTimeoutMs: 1_000 });
    assert.equal(r.harvester, 'rb-b');
    assert.equal(r.resumedFrom, 3 * MiB);
    assert.equal(await sha256(r.remotePath), await sha256(file));
    assert.deepEqual(ls(dirs[1]!), ['held.plot']);
    assert.deepEqual(ls(dirs[0]!), []);
  });
});

describe('resume: PROGRESS while the receiver re-hashes', () => {
  it("keeps the sender's idle timer from firing", async () => {
    const { default: net } = await import('node:net');
    const { StreamReader } = await import('../../src/wire/frame.js');
    const { decodeMessage, encodeMessage } = await import('../../src/wire/wire-messages.js');
    const src = await tmpDir();
    const file = path.join(src, 'slow-rehash.plot');
    const size = 80 * MiB;
    const offset = 8 * MiB;
    writePlot(file, size);
    let dataBytes = 0;
    // A receiver that holds 8 MiB and takes 1.5 s to "re-hash" them, not reading the socket
    // meanwhile, with PROGRESS every 150 ms; the sender's idle limit is 400 ms.
    const server = net.createServer((s) => {
      const reader = new StreamReader();
      let phase: 'hello' | 'data' | 'trailer' = 'hello';
      s.on('data', (c: Buffer) => {
        reader.push(c);
        if (phase === 'hello') {
          const f = reader.readFrame();
          if (!f) return;
          assert.equal(decodeMessage(f).type, 'hello');
          phase = 'data';
          s.write(encodeMessage({ type: 'accept', offset }));
          s.pause();
          const beat = setInterval(() => s.write(encodeMessage({ type: 'progress', bytes: 0 })), 150);
          setTimeout(() => {
            clearInterval(beat);
            s.resume();
          }, 1_500);
        }
        if (phase === 'data') {
          for (
            let raw = reader.readRaw(size - offset - dataBytes);
            raw;
            raw = reader.readRaw(size - offset - dataBytes)
          )
            dataBytes += raw.length;
          if (dataBytes === size - offset) phase = 'trailer';
        }
        if (phase === 'trailer') {
          const f = reader.readFrame();
          if (!f) return;
          const t = decodeMessage(f);
          if (t.type === 'trailer') s.end(encodeMessage({ type: 'result', hash: t.hash, bytes: size, path: '/x' }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as import('node:net').AddressInfo).port;
      const r = await sendFile({ host: '127.0.0.1', port, token: TOKEN, file, idleTimeoutMs: 400 });
      assert.equal(r.resumedFrom, offset);
      assert.equal(dataBytes, size - offset, 'only the tail crossed');
    } finally {
      server.close();
      await fsp.rm(src, { recursive: true, force: true });
    }
  });
});
