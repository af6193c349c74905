/** `speedtest --nats`: harvesters found on a real nats-server open one-time speedtest listeners. */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, NatsConnection } from 'nats';
import { decodeBus, encodeBus, subjects } from '../../src/bus/bus-messages.js';
import { PlotferryError } from '../../src/core/errors.js';
import { Harvester } from '../../src/farm/harvester-daemon.js';
import { silentLogger } from '../../src/core/log.js';
import { speedtestHarvesters } from '../../src/plotter/harvester-speedtest.js';
import { sendFile } from '../../src/transfer/sender.js';
import { SpeedtestListener } from '../../src/transfer/speedtest-listener.js';
import { runSpeedtest, speedtestBudget } from '../../src/transfer/speedtest-sender.js';
import { encodeMessage } from '../../src/wire/wire-messages.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { ls, tmpDir, writePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';
import { RawClient } from '../helpers/raw.js';

describe('speedtest over NATS', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const harvesters: Harvester[] = [];
  const conns: NatsConnection[] = [];
  const dirs: string[] = [];
  const log = silentLogger();

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    for (const id of ['st-a', 'st-b']) {
      const dir = await tmpDir(`pf-${id}-`);
      dirs.push(dir);
      const hnc = await connect({ servers: server.url });
      conns.push(hnc);
      harvesters.push(
        await startTestHarvester({
          nc: hnc,
          id,
          dirs: [dir],
          log,
        }),
      );
    }
  });
  after(async () => {
    for (const h of harvesters) await h.close();
    for (const c of [nc, ...conns]) await c.close();
    await server.stop();
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });

  const opts = { prefix: 'plotferry', plotter: 'p1', seconds: 0.3, streams: 2, log };

  it('finds every live harvester and tests each, writing nothing', async () => {
    const rs = await speedtestHarvesters({ ...opts, nc, harvesters: [] });
    assert.deepEqual(
      rs.map((r) => r.harvester),
      ['st-a', 'st-b'],
    );
    for (const r of rs) {
      assert.ok(r.ok, !r.ok ? r.error.message : '');
      assert.equal(r.streams.length, 2);
      assert.ok(r.bytes > 0 && r.gbps > 0);
    }
    for (const d of dirs) assert.deepEqual(ls(d), [], 'a speedtest writes nothing');
  });

  it('refuses a test longer than a harvester takes, and an unknown harvester times out', async () => {
    const [tooLong] = await speedtestHarvesters({ ...opts, nc, harvesters: ['st-a'], seconds: 61 });
    assert.equal(!tooLong!.ok && tooLong!.error.code, 'PF_CONFIG');
    const [ghost] = await speedtestHarvesters({ ...opts, nc, harvesters: ['st-ghost'], requestTimeoutMs: 300 });
    assert.equal(!ghost!.ok && ghost!.error.code, 'PF_TIMEOUT');
    assert.match(!ghost!.ok ? ghost!.error.message : '', /st-ghost/);
  });

  it("a claim's listener takes its file, not a speedtest", async () => {
    const id = 'c1';
    const reply = await nc.request(
      subjects('plotferry').claim('st-a'),
      encodeBus({ kind: 'claim', v: 1, id, name: 'claimed.plot', size: 10, plotter: 'p1' }),
      { timeout: 2_000 },
    );
    const claimed = decodeBus(reply.data, ['claimed']);
    await assert.rejects(
      runSpeedtest({ host: claimed.host, port: claimed.port, token: claimed.token, seconds: 0.1, streams: 1 }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_REFUSED' && /not a speedtest/.test(e.message),
    );
  });

  it('CLI: --nats --json prints one object per harvester', async () => {
    const r = await runCli(['speedtest', '--nats', server.url, '--harvester', 'st-b', '--seconds', '0.3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout) as { ok: boolean; harvester: string; gbps: number }[];
    assert.deepEqual(
      lines.map((l) => [l.ok, l.harvester]),
      [[true, 'st-b']],
    );
    assert.ok(lines[0]!.gbps > 0);
    // A failure has the shape send and sweep use: { ok: false, ..., error: { code, message, hint } }.
    const ghost = await runCli([
      'speedtest',
      '--nats',
      server.url,
      '--harvester',
      'st-ghost',
      '--seconds',
      '0.3',
      '--json',
    ]);
    assert.equal(ghost.code, 1);
    const [g] = jsonLines(ghost.stdout) as { ok: boolean; harvester: string; error: { code: string; hint: string } }[];
    assert.deepEqual([g!.ok, g!.harvester, g!.error.code], [false, 'st-ghost', 'PF_TIMEOUT']);
    assert.ok(g!.error.hint.length > 0);
    const none = await runCli(['speedtest', '--seconds', '1']);
    assert.equal(none.code, 2, 'a usage error');
    assert.match(none.stderr, /--to HOST:PORT .* or --nats URL/);
  });
});

describe('speedtest listener', () => {
  const log = silentLogger();
  const TOKEN = 'one-time';
  const open = (streams: number, ttlMs = 5_000) =>
    SpeedtestListener.open({ token: TOKEN, seconds: 0.2, streams, host: '127.0.0.1', portRange: [0, 0], ttlMs, log });

  it('a wrong token does not use up a stream; it closes once every stream ended', async () => {
    const l = await open(1);
    await assert.rejects(
      runSpeedtest({ host: '127.0.0.1', port: l.port, token: 'guess', seconds: 0.1, streams: 1 }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_AUTH',
    );
    const r = await runSpeedtest({ host: '127.0.0.1', port: l.port, token: TOKEN, seconds: 0.2, streams: 1 });
    const o = await l.done;
    assert.deepEqual(o, { streams: 1, bytes: r.bytes, reason: 'done' });
    await assert.rejects(
      runSpeedtest({ host: '127.0.0.1', port: l.port, token: TOKEN, seconds: 0.1, streams: 1 }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_CONNECTION',
      'closed after its streams',
    );
  });

  it('refuses a file, and a budget over the seconds it was opened for', async () => {
    const l = await open(2);
    const dir = await tmpDir();
    try {
      const file = path.join(dir, 'x.plot');
      writePlot(file, 1000);
      await assert.rejects(
        sendFile({ host: '127.0.0.1', port: l.port, token: TOKEN, file }),
        (e: unknown) =>
          e instanceof PlotferryError && e.code === 'PF_REFUSED' && /speedtest, not a file/.test(e.message),
      );
      const c = await RawClient.connect(l.port);
      await c.write(
        encodeMessage({
          type: 'hello',
          token: TOKEN,
          name: 'speedtest',
          size: speedtestBudget(0.2) + 1,
          hash: 'xxh64',
          mode: 'speedtest',
        }),
      );
      const m = await c.next();
      // A refusal by policy, not a peer that does not speak the protocol.
      assert.equal(m?.type === 'error' && m.code, 'PF_REFUSED');
      c.destroy();
      assert.deepEqual(await l.done, { streams: 2, bytes: 0, reason: 'done' });
    } finally {
      l.abort();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('expires when nobody comes', async () => {
    const l = await open(1, 200);
    assert.equal((await l.done).reason, 'expired');
    await waitFor(
      async () =>
        !(await RawClient.connect(l.port).then(
          (c) => (c.destroy(), true),
          () => false,
        )),
      2_000,
      'closed',
    );
  });
});
