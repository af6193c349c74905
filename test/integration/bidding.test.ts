/** Discovery and bidding against a real nats-server; the files still travel over TCP. */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, NatsConnection, RequestStrategy } from 'nats';
import { decodeBus, encodeBus, subjects } from '../../src/bus/bus-messages.js';
import { connectNats } from '../../src/bus/connect.js';
import { linkDown } from '../../src/bus/link.js';
import { PlotferryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { bidDelayMs } from '../../src/farm/bid.js';
import { Harvester, HarvesterOptions } from '../../src/farm/harvester-daemon.js';
import { sendByBidding } from '../../src/plotter/bidding.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { sendFile } from '../../src/transfer/sender.js';
import { ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { startListener, TOKEN, waitFor } from '../helpers/listener.js';
import { freePorts, PORT_RANGES } from '../helpers/ports.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';

const MiB = 2 ** 20;

describe('bidding', () => {
  let server: NatsServer;
  const conns: NatsConnection[] = [];
  const harvesters: Harvester[] = [];
  const dirs: string[] = [];
  let src: string;

  const nats = async () => {
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    conns.push(nc);
    return nc;
  };
  const harvester = async (id: string, opts: Partial<HarvesterOptions> & { base?: string } = {}) => {
    const dir = await tmpDir(`pf-${id}-`, opts.base);
    dirs.push(dir);
    const h = await startTestHarvester({
      nc: await nats(),
      id,
      dirs: [dir],
      ...opts,
    });
    harvesters.push(h);
    return { h, dir };
  };

  before(async () => {
    server = await startNatsServer();
    src = await tmpDir();
  });
  after(async () => {
    for (const h of harvesters) await h.close();
    for (const nc of conns) await nc.close();
    await server.stop();
    for (const d of [src, ...dirs]) await fsp.rm(d, { recursive: true, force: true });
  });

  it('announces, takes the first bid, claims and delivers byte-exact', async () => {
    const { dir } = await harvester('h-one');
    const file = path.join(src, 'bid-one.plot');
    writePlot(file, 3 * MiB + 5);
    const r = await sendByBidding({ nc: await nats(), plotter: 'plotter-1', file, bidTimeoutMs: 1_000 });
    assert.equal(r.harvester, 'h-one');
    assert.equal(r.remotePath, path.join(dir, 'bid-one.plot'));
    assert.equal(await sha256(r.remotePath), await sha256(file));
    assert.ok(fs.existsSync(file), 'the library never deletes the source');
    await waitFor(() => harvesters[0]!.activeTransfers === 0, 5_000, 'the claim to close');
    await harvesters.pop()!.close();
  });

  it('a fuller harvester bids later and loses', async (t) => {
    const shm = fs.statfsSync('/dev/shm');
    const tmp = fs.statfsSync(os.tmpdir());
    const delay = (s: fs.StatsFs) => bidDelayMs(0, s.bavail * s.bsize, s.blocks * s.bsize);
    if (Math.abs(delay(shm) - delay(tmp)) < 10) return t.skip('/dev/shm and the temp dir are about as full here');
    const emptier = delay(shm) < delay(tmp) ? 'h-shm' : 'h-tmp';
    const a = await harvester('h-shm', { base: '/dev/shm' });
    const b = await harvester('h-tmp', { base: os.tmpdir() });
    for (let i = 0; i < 3; i++) {
      const file = path.join(src, `spread-${i}.plot`);
      writePlot(file, 100_000);
      const r = await sendByBidding({ nc: await nats(), plotter: 'plotter-1', file });
      assert.equal(r.harvester, emptier, `plot ${i} went to the emptier harvester`);
    }
    await waitFor(() => a.h.activeTransfers + b.h.activeTransfers === 0, 5_000, 'claims to close');
    await harvesters.pop()!.close();
    await harvesters.pop()!.close();
  });

  it('with no harvester: PF_NO_BID at once, source intact', async () => {
    const file = path.join(src, 'nobody.plot');
    writePlot(file, 100);
    await assert.rejects(
      sendByBidding({ nc: await nats(), plotter: 'plotter-1', file, bidTimeoutMs: 300, tries: 1 }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_NO_BID',
    );
    assert.ok(fs.existsSync(file));
  });

  it('a harvester without room says so: PF_NO_SPACE naming it, not retried; to an old plotter it stays silent', async () => {
    await harvester('h-small', { reserveBytes: 2 ** 50 });
    const file = path.join(src, 'too-big.plot');
    writePlot(file, 100);
    const nc = await nats();
    const retries: string[] = [];
    await assert.rejects(
      sendByBidding({
        nc,
        plotter: 'plotter-1',
        file,
        bidTimeoutMs: 400,
        tries: 3,
        onRetry: (e) => retries.push(e.code),
      }),
      (e: unknown) =>
        e instanceof PlotferryError && e.code === 'PF_NO_SPACE' && /h-small has room for at most/.test(e.message),
    );
    assert.deepEqual(retries, [], 'nobody has room: trying again cannot help');
    // An announcement without answerAll (a plotter of an earlier version) gets no decline.
    const replies = await nc.requestMany(
      subjects('plotferry').announce,
      new TextEncoder().encode(
        JSON.stringify({
          kind: 'announce',
          v: 1,
          id: 'old1',
          name: 'too-big.plot',
          size: 10,
          plotter: 'p',
          exclude: [],
        }),
      ),
      { strategy: RequestStrategy.Timer, maxWait: 300 },
    );
    const got: string[] = [];
    for await (const m of replies) got.push(new TextDecoder().decode(m.data));
    assert.deepEqual(got, []);
    await harvesters.pop()!.close();
  });

  it('NATS down: the plot fails as PF_NATS (the cause), not as PF_NO_BID', async () => {
    const own = await startNatsServer();
    const nc = await connectNats(own.url, 'plotter-down', silentLogger());
    conns.push(nc);
    const file = path.join(src, 'nats-down.plot');
    writePlot(file, 100);
    await own.stop();
    await waitFor(() => linkDown(nc) !== undefined, 10_000, 'the disconnect to be seen');
    await assert.rejects(
      sendByBidding({ nc, plotter: 'plotter-1', file, bidTimeoutMs: 300, tries: 1 }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_NATS' && /unreachable/.test(e.message),
    );
    assert.ok(fs.existsSync(file));
  });

  it('a sweep while NATS is down: every plot fails as PF_NATS, sources kept, the rest not offered one by one', async () => {
    const own = await startNatsServer();
    const nc = await connectNats(own.url, 'plotter-sweep-down', silentLogger());
    conns.push(nc);
    const dir = await tmpDir('pf-down-');
    dirs.push(dir);
    for (let i = 0; i < 5; i++) writePlot(path.join(dir, `down-${i}.plot`), 100);
    await own.stop();
    await waitFor(() => linkDown(nc) !== undefined, 10_000, 'the disconnect to be seen');
    const items = await sweep({
      nc,
      dirs: [dir],
      plotter: 'p-down',
      minAgeMs: 0,
      concurrency: 1,
      bidTimeoutMs: 200,
      hasTimeoutMs: 100,
      tries: 2,
      backoffMs: 10,
      log: silentLogger(),
    });
    assert.equal(items.length, 5);
    for (const it of items) assert.equal(it.error?.code, 'PF_NATS', `${it.name}: ${JSON.stringify(it.error)}`);
    assert.match(items[4]!.error!.message, /^not offered/);
    assert.equal(ls(dir).filter((n) => n.endsWith('.plot')).length, 5, 'every source kept');
  });

  /** A bare responder as harvester `id`: declines `excluded` while the plotter skips it, bids otherwise. */
  const bidsUnlessExcluded = (nc: NatsConnection, id: string) =>
    nc.subscribe(subjects('plotferry').announce, {
      callback: (_e, m) => {
        const a = decodeBus(m.data, ['announce']);
        m.respond(
          encodeBus(
            a.exclude.includes(id)
              ? { kind: 'decline', v: 1, id: a.id, harvester: id, reason: 'excluded', freeBytes: 0 }
              : { kind: 'bid', v: 1, id: a.id, harvester: id, freeBytes: 1e9, activeTransfers: 0, busy: false },
          ),
        );
      },
    });

  it('the only harvester fails the plot (PF_DISK_FULL): that is the reported cause, not PF_NO_BID', async () => {
    // A responder that bids, then refuses the claim as its disk filled up, then declines.
    const nc = await nats();
    const s = subjects('plotferry');
    let claims = 0;
    const subs = [
      bidsUnlessExcluded(nc, 'h-fills'),
      nc.subscribe(s.claim('h-fills'), {
        callback: (_e, m) => {
          claims++;
          const c = JSON.parse(new TextDecoder().decode(m.data)) as { id: string };
          m.respond(
            encodeBus({ kind: 'refused', v: 1, id: c.id, code: 'PF_DISK_FULL', message: 'writing /d1: ENOSPC' }),
          );
        },
      }),
    ];
    const file = path.join(src, 'fills.plot');
    writePlot(file, 100);
    try {
      await assert.rejects(
        sendByBidding({ nc: await nats(), plotter: 'plotter-1', file, bidTimeoutMs: 300, tries: 4, backoffMs: 10 }),
        (e: unknown) =>
          e instanceof PlotferryError &&
          e.code === 'PF_DISK_FULL' &&
          /ENOSPC.*no other harvester took it/.test(e.message),
      );
      // Tries 1 and 3 claim; 2 and 4 find only its "excluded" decline. After try 2 it is asked
      // again (nobody else took the plot); after try 4 the tries are spent.
      assert.equal(claims, 2);
    } finally {
      for (const sub of subs) sub.unsubscribe();
    }
  });

  it('the only harvester failed the plot once (PF_IO) and nobody else bids: it is asked again and takes it', async () => {
    // A responder that skips the plot while excluded, bids otherwise; its first claim fails
    // (a write error), its second hands out a real listener. Before, the exclusion was a ban:
    // the plot failed with PF_IO though the harvester could take it.
    const nc = await nats();
    const s = subjects('plotferry');
    const dir = await tmpDir('pf-once-');
    dirs.push(dir);
    const real = await startListener({ dirs: [dir] });
    let claims = 0;
    const subs = [
      bidsUnlessExcluded(nc, 'h-once'),
      nc.subscribe(s.claim('h-once'), {
        callback: (_e, m) => {
          const c = decodeBus(m.data, ['claim']);
          m.respond(
            encodeBus(
              ++claims === 1
                ? { kind: 'refused', v: 1, id: c.id, code: 'PF_IO', message: 'writing /d1: EIO' }
                : {
                    kind: 'claimed',
                    v: 1,
                    id: c.id,
                    host: '127.0.0.1',
                    port: real.port,
                    token: TOKEN,
                    expiresInMs: 30_000,
                  },
            ),
          );
        },
      }),
    ];
    const file = path.join(src, 'once.plot');
    writePlot(file, 1000);
    const retries: string[] = [];
    try {
      const r = await sendByBidding({
        nc: await nats(),
        plotter: 'plotter-1',
        file,
        bidTimeoutMs: 300,
        tries: 4,
        backoffMs: 10,
        onRetry: (e) => retries.push(e.message),
      });
      assert.equal(r.harvester, 'h-once');
      assert.equal(r.attempts, 3, 'failed, found no other harvester, then delivered');
      assert.equal(claims, 2);
      assert.equal(await sha256(path.join(dir, 'once.plot')), await sha256(file));
      assert.match(retries[1] ?? '', /no other harvester took it: asking h-once again/);
    } finally {
      for (const sub of subs) sub.unsubscribe();
      await real.close();
    }
  });

  it('a harvester that lost its last disk between bid and claim (PF_NO_DISK): the plot goes to another', async () => {
    // A responder that bids, then, by the time the claim comes, has no usable disk (a write
    // failed there meanwhile). Only then does a real harvester appear.
    const nc = await nats();
    const s = subjects('plotferry');
    let real: ReturnType<typeof harvester> | undefined;
    const subs = [
      bidsUnlessExcluded(nc, 'h-lost'),
      nc.subscribe(s.claim('h-lost'), {
        callback: (_e, m) => {
          const c = decodeBus(m.data, ['claim']);
          real ??= harvester('h-takes-over');
          real.then(
            () =>
              m.respond(
                encodeBus({
                  kind: 'refused',
                  v: 1,
                  id: c.id,
                  code: 'PF_NO_DISK',
                  message: 'no receiving directory can be used (/d1: out of rotation after a failed write)',
                }),
              ),
            // Left unanswered: the test awaits `real`, which reports why it did not start.
            () => undefined,
          );
        },
      }),
    ];
    const file = path.join(src, 'lost-disk.plot');
    writePlot(file, 100);
    try {
      const r = await sendByBidding({ nc: await nats(), plotter: 'plotter-1', file, tries: 3, backoffMs: 10 });
      assert.equal(r.harvester, 'h-takes-over');
      assert.equal(r.attempts, 2);
      assert.equal(await sha256(path.join((await real!).dir, 'lost-disk.plot')), await sha256(file));
    } finally {
      for (const sub of subs) sub.unsubscribe();
      await harvesters.pop()?.close();
    }
  });

  it('malformed announcements and claims are ignored; the harvester keeps serving', async () => {
    const { h } = await harvester('h-robust');
    const nc = await nats();
    const s = subjects('plotferry');
    const junk = [
      '',
      'not json',
      '[]',
      '{"v":1,"kind":"announce","id":"x","name":"../../etc/passwd","size":1,"plotter":"p"}',
      '{"v":99,"kind":"claim"}',
      JSON.stringify({ v: 1, kind: 'claim', id: 'x', name: 'a.plot', size: -1, plotter: 'p' }),
      'x'.repeat(70_000),
    ];
    for (const j of junk) {
      nc.publish(s.announce, Buffer.from(j));
      nc.publish(s.claim('h-robust'), Buffer.from(j));
      nc.publish(s.heartbeat('h-robust'), Buffer.from(j));
    }
    // A claim no disk can hold is refused with the reason, not answered with a port.
    const bad = await nc.request(
      s.claim('h-robust'),
      encodeBus({ kind: 'claim', v: 1, id: 'abc', name: 'ok.plot', size: 2 ** 52, plotter: 'p' }),
      { timeout: 2000 },
    );
    assert.match(Buffer.from(bad.data).toString(), /"kind":"refused".*PF_NO_SPACE/);
    await nc.flush();
    const file = path.join(src, 'after-junk.plot');
    writePlot(file, 1000);
    const r = await sendByBidding({ nc, plotter: 'plotter-1', file });
    assert.equal(r.harvester, 'h-robust');
    await waitFor(() => h.activeTransfers === 0, 5_000, 'the claim to close');
    await harvesters.pop()!.close();
  });

  it('claims listen on --port-range and stop at --max-transfers', async () => {
    const probe = await freePorts(1, PORT_RANGES.bidding);
    const d2 = await tmpDir('pf-h-max-b-', os.tmpdir());
    dirs.push(d2);
    await harvester('h-limits', {
      portRange: [probe, probe],
      maxTransfers: 1,
      dirs: [await tmpDir('pf-h-max-a-'), d2],
    });
    dirs.push(harvesters.at(-1)!.disks.dirs[0]!);
    const nc = await nats();
    const s = subjects('plotferry');
    const ask = async (id: string, name: string) =>
      decodeBus(
        (
          await nc.request(s.claim('h-limits'), encodeBus({ kind: 'claim', v: 1, id, name, size: 10, plotter: 'p' }), {
            timeout: 2000,
          })
        ).data,
        ['claimed', 'refused'],
      );
    const c1 = await ask('m1', 'one.plot');
    assert.ok(c1.kind === 'claimed', JSON.stringify(c1));
    assert.equal(c1.port, probe, 'the claim listens on the one port of the range');
    // A second disk is free, but the harvester is at its limit of one transfer.
    const c2 = await ask('m2', 'two.plot');
    assert.ok(c2.kind === 'refused', JSON.stringify(c2));
    assert.equal(c2.code, 'PF_BUSY');
    assert.match(c2.message, /max-transfers/);
    await harvesters.pop()!.close(0);
  });

  it('while every disk with room is busy, a plotter waits (busy bids) instead of failing', async () => {
    await harvester('h-busy-one');
    const nc = await nats();
    const s = subjects('plotferry');
    const holder = path.join(src, 'holder.plot');
    writePlot(holder, 4096);
    // Another plotter's claim holds the only disk.
    const c1 = decodeBus(
      (
        await nc.request(
          s.claim('h-busy-one'),
          encodeBus({ kind: 'claim', v: 1, id: 'hold', name: 'holder.plot', size: 4096, plotter: 'other' }),
          { timeout: 2000 },
        )
      ).data,
      ['claimed', 'refused'],
    );
    assert.ok(c1.kind === 'claimed', JSON.stringify(c1));
    const waiting = path.join(src, 'waiting.plot');
    writePlot(waiting, 2048);
    // Never frees within the wait: PF_BUSY (not PF_NO_BID: there is room, just not now).
    await assert.rejects(
      sendByBidding({ nc, plotter: 'plotter-1', file: waiting, bidTimeoutMs: 400, busyWaitMs: 1_000 }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_BUSY',
    );
    // Frees while it waits: it goes. It is waiting once it announces the plot a second time
    // (busy bids to the first, then a busy poll).
    let announced = 0;
    const watch = nc.subscribe(s.announce, {
      callback: (_e, m) => {
        if (decodeBus(m.data, ['announce']).name === 'waiting.plot') announced++;
      },
    });
    await nc.flush();
    let settled = false;
    const pending = sendByBidding({ nc, plotter: 'plotter-1', file: waiting, bidTimeoutMs: 400, busyWaitMs: 20_000 });
    pending.then(
      () => (settled = true),
      () => (settled = true), // its error is the test's, through `await pending` below
    );
    await waitFor(() => announced >= 2, 10_000, 'the plotter to announce again while every disk is busy');
    watch.unsubscribe();
    assert.equal(settled, false, 'it waits, neither sent nor failed, while the disk is busy');
    await sendFile({ host: '127.0.0.1', port: c1.port, token: c1.token, file: holder });
    const r = await pending;
    assert.equal(r.harvester, 'h-busy-one');
    assert.equal(r.attempts, 1, 'waiting used up no try');
    await harvesters.pop()!.close();
  });

  it('junk answered to an announcement, before the real bid, does not make the plotter fail', async () => {
    const { h } = await harvester('h-real');
    const rogue = await nats();
    rogue.subscribe(subjects('plotferry').announce, {
      callback: (_e, m) => m.respond(Buffer.from('{"v":1,"kind":"bid","junk":true}')),
    });
    rogue.subscribe(subjects('plotferry').announce, { callback: (_e, m) => m.respond(Buffer.from('not json at all')) });
    await rogue.flush();
    const file = path.join(src, 'despite-junk.plot');
    writePlot(file, 1000);
    const r = await sendByBidding({ nc: await nats(), plotter: 'plotter-1', file });
    assert.equal(r.harvester, 'h-real');
    await waitFor(() => h.activeTransfers === 0, 5_000, 'the claim to close');
    await rogue.close();
    await harvesters.pop()!.close();
  });

  it('a claim is refused to a wrong token and stays usable; an unused claim expires and frees its disk', async () => {
    const { h, dir } = await harvester('h-claims', { claimTtlMs: 500 });
    const nc = await nats();
    const s = subjects('plotferry');
    const file = path.join(src, 'claimed.plot');
    writePlot(file, 5000);
    const ask = async (id: string) =>
      decodeBus(
        (
          await nc.request(
            s.claim('h-claims'),
            encodeBus({ kind: 'claim', v: 1, id, name: 'claimed.plot', size: 5000, plotter: 'p' }),
            { timeout: 2000 },
          )
        ).data,
        ['claimed', 'refused'],
      );
    const c1 = await ask('c1');
    assert.ok(c1.kind === 'claimed', JSON.stringify(c1));
    // Same disk, so a second claim must wait: the first holds the write slot.
    const c2 = await ask('c2');
    assert.ok(c2.kind === 'refused', JSON.stringify(c2));
    assert.equal(c2.code, 'PF_BUSY');
    await assert.rejects(
      sendFile({ host: '127.0.0.1', port: c1.port, token: 'guess', file }),
      (e: unknown) => (e as PlotferryError).code === 'PF_AUTH',
    );
    const r = await sendFile({ host: '127.0.0.1', port: c1.port, token: c1.token, file });
    assert.equal(await sha256(r.remotePath), await sha256(file));
    fs.rmSync(r.remotePath);
    // An unused claim expires, and the disk takes the next one.
    const c3 = await ask('c3');
    assert.equal(c3.kind, 'claimed');
    await waitFor(() => h.activeTransfers === 0, 3_000, 'the unused claim to expire');
    assert.deepEqual(ls(dir), []);
    assert.equal((await ask('c4')).kind, 'claimed');
    await waitFor(() => h.activeTransfers === 0, 3_000, 'the second unused claim to expire');
    await harvesters.pop()!.close();
  });
});
