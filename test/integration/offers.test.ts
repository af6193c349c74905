/**
 * Bids that carry their own claim (farm/offers.ts): a `direct` announce gets bids with
 * an offer, the plotter connects at once and its HELLO claims. Real nats-server, a real harvester.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createInbox, NatsConnection } from 'nats';
import { decodeBus, encodeBus, subjects } from '../../src/bus/bus-messages.js';
import { PlotferryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { FrameType } from '../../src/wire/frame.js';
import { sendByBidding } from '../../src/plotter/bidding.js';
import { sendFile } from '../../src/transfer/sender.js';
import type { HarvesterOptions } from '../../src/farm/harvester-daemon.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { captureLog } from '../helpers/log.js';
import { sha256, tmpDir, writePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { natsSuite } from '../helpers/nats-server.js';
import { freePorts, PORT_RANGES } from '../helpers/ports.js';

/**
 * Listens on 127.0.0.1 at `ports`, forwards to 127.0.0.2 at the same port, and holds every
 * RESULT frame back `ms` (a harvester whose fsync and rename take that long).
 */
async function resultDelayer(ports: number[], ms: number): Promise<{ close(): Promise<void> }> {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  for (const port of ports) {
    const server = net.createServer((c) => {
      const up = net.connect(port, '127.0.0.2');
      for (const s of [c, up]) {
        sockets.add(s);
        s.on('error', () => undefined);
      }
      // The harvester ends its connection right after RESULT: the plotter's side is closed only
      // once the held-back RESULT has gone to it (closing at once lost it, and the plot was
      // retried, which is another test).
      let held = 0;
      let upClosed = false;
      const closeIfDone = () => upClosed && held === 0 && c.end();
      up.on('close', () => ((upClosed = true), closeIfDone()));
      c.on('close', () => up.destroy());
      c.pipe(up);
      let back = Buffer.alloc(0);
      up.on('data', (chunk: Buffer) => {
        back = Buffer.concat([back, chunk]);
        while (back.length >= 8 && back.length >= 8 + back.readUInt32BE(4)) {
          const frame = back.subarray(0, 8 + back.readUInt32BE(4));
          back = back.subarray(frame.length);
          if (frame[3] === FrameType.RESULT) {
            held++;
            setTimeout(() => (c.write(frame), held--, closeIfDone()), ms);
          } else c.write(frame);
        }
      });
    });
    await new Promise<void>((res) => server.listen(port, '127.0.0.1', () => res()));
    servers.push(server);
  }
  return {
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

describe('offers', () => {
  const { nats, cleanup } = natsSuite();
  const setup = async (prefix: string, id: string, more: Partial<HarvesterOptions> = {}) => {
    const dir = await tmpDir(`pf-offer-${id}-`);
    const src = await tmpDir(`pf-offer-src-`);
    cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    const h = await startTestHarvester({ nc: await nats(), id, dirs: [dir], prefix, ...more });
    cleanup.push(() => h.close());
    return { h, dir, src };
  };
  /** The bid `announce` brings back from the one harvester. */
  const bidFor = async (nc: NatsConnection, prefix: string, name: string, size: number, direct: boolean) => {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { max: 1 });
    nc.publish(
      subjects(prefix).announce,
      encodeBus({
        kind: 'announce',
        v: 1,
        id: `a${Math.random().toString(16).slice(2, 10)}`,
        name,
        size,
        plotter: 'p',
        exclude: [],
        answerAll: true,
        ...(direct ? { direct: true } : {}),
      }),
      { reply: inbox },
    );
    for await (const m of sub) return decodeBus(m.data, ['bid']);
    throw new Error('no bid');
  };

  it('a direct bid is claimed by the HELLO: no claim crosses NATS, the plot lands verified', async () => {
    const prefix = 'off1';
    const { h, dir, src } = await setup(prefix, 'ho1');
    const claims = { n: 0 };
    const watcher = await nats();
    watcher.subscribe(`${prefix}.claim.>`, { callback: () => void claims.n++ });
    await watcher.flush();
    const file = path.join(src, 'plot-k28-offer.plot2');
    writePlot(file, 300_000);
    const sum = await sha256(file);
    const r = await sendByBidding({ nc: await nats(), plotter: 'p1', prefix, file });
    assert.equal(r.harvester, 'ho1');
    assert.equal(await sha256(path.join(dir, 'plot-k28-offer.plot2')), sum);
    await waitFor(() => h.activeTransfers === 0, 5_000, 'the transfer to be counted as ended');
    await watcher.flush();
    assert.equal(claims.n, 0, 'the HELLO was the claim');
  });

  it('a harvester receives with write-behind (--flush-every): synced while it arrives, logged with the final sync', async () => {
    const prefix = 'offwb';
    const cap = captureLog();
    const { dir, src } = await setup(prefix, 'howb', { flushEvery: 1024 * 1024, log: cap.log });
    const file = path.join(src, 'plot-k28-wb.plot2');
    writePlot(file, 4 * 1024 * 1024 + 99);
    await sendByBidding({ nc: await nats(), plotter: 'p1', prefix, file });
    assert.equal(await sha256(path.join(dir, 'plot-k28-wb.plot2')), await sha256(file));
    await waitFor(() => cap.lines.some((l) => l.msg === 'stored'), 5_000, 'the stored line');
    const stored = cap.lines.find((l) => l.msg === 'stored')!;
    assert.ok(Number(stored.flushes) >= 1, `flushes: ${String(stored.flushes)}`);
    assert.equal(typeof stored.syncMs, 'number', 'the final sync is timed');
  });

  it('--concurrency 1: the next plot is announced and sent while the last one waits for its verdict', async () => {
    const prefix = 'off3';
    const base = await freePorts(4, PORT_RANGES.offers, ['127.0.0.1', '127.0.0.2']);
    const ports = [base, base + 1, base + 2, base + 3];
    const proxy = await resultDelayer(ports, 1_500);
    cleanup.push(() => proxy.close());
    const dirs = [await tmpDir('pf-offer-d1-'), await tmpDir('pf-offer-d2-', os.tmpdir())];
    for (const d of dirs) cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    const h = await startTestHarvester({
      nc: await nats(),
      id: 'ho3',
      dirs,
      prefix,
      listenHost: '127.0.0.2',
      advertiseHost: '127.0.0.1',
      portRange: [ports[0]!, ports[3]!],
    });
    cleanup.push(() => h.close());
    const src = await tmpDir('pf-offer-src-');
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    for (const i of [0, 1]) writePlot(path.join(src, `plot-k28-slot-${i}.plot2`), 50_000);
    const events: string[] = [];
    const items = await sweep({
      nc: await nats(),
      dirs: [src],
      plotter: 'p3',
      prefix,
      minAgeMs: 0,
      concurrency: 1,
      log: silentLogger(),
      onStart: (c) => (events.push(`start ${c.name}`), () => undefined),
      onDone: (i) => void events.push(`done ${i.name}`),
    });
    assert.deepEqual(
      items.map((i) => i.status),
      ['sent', 'sent'],
    );
    // The second plot started before the first one's (held back) RESULT came. Which RESULT comes
    // first after that is not the point: both are held 1.5 s, and plot 0's finish may take as
    // long as plot 1's whole transfer (its directory's first file), so they can come 2 ms apart.
    assert.ok(
      events.indexOf('start plot-k28-slot-1.plot2') >= 0 &&
        events.indexOf('start plot-k28-slot-1.plot2') < events.indexOf('done plot-k28-slot-0.plot2'),
      `the second plot went while the first one's RESULT was held back: ${events.join(', ')}`,
    );
    assert.deepEqual(
      fs.readdirSync(src).filter((f) => !f.startsWith('.')),
      [],
      'both sources removed after RESULT',
    );
  });

  it('an offer goes only to a plotter that asks for it, is used once, and checks token and name', async () => {
    const prefix = 'off2';
    const { dir, src } = await setup(prefix, 'ho2');
    const nc = await nats();
    const file = path.join(src, 'plot-k28-once.plot2');
    writePlot(file, 5_000);
    const old = await bidFor(nc, prefix, 'plot-k28-once.plot2', 5_000, false);
    assert.equal(old.offer, undefined, 'an older plotter (no `direct`) claims as before');

    const b = await bidFor(nc, prefix, 'plot-k28-once.plot2', 5_000, true);
    assert.ok(b.offer, 'a direct announce gets an offer');
    const { host, port, token } = b.offer;
    const send = (o: { token?: string; offer?: string; name?: string }) =>
      sendFile({ file, host, port, token: o.token ?? token, offer: o.offer ?? b.id, name: o.name });
    const code = (e: unknown) => (e instanceof PlotferryError ? e.code : String(e));
    await assert.rejects(send({ token: 'ff'.repeat(16) }), (e) => code(e) === 'PF_AUTH');
    await assert.rejects(send({ name: 'plot-k28-other.plot2' }), (e) => code(e) === 'PF_REFUSED');
    await assert.rejects(send({ offer: 'nosuchoffer' }), (e) => code(e) === 'PF_BUSY');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => !f.startsWith('.')),
      [],
      'refused HELLOs wrote nothing',
    );
    // None of those used the offer up: the right token and name take the plot, once.
    const r = await send({});
    assert.equal(r.remotePath, path.join(dir, 'plot-k28-once.plot2'));
    await assert.rejects(send({}), (e) => code(e) === 'PF_BUSY', 'an offer is used once');
  });
});
