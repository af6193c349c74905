/**
 * Two harvesters given one --id, on one real nats-server: each says so, in its log (naming the
 * other's host) and by a notification, once per other harvester. Before, only `status` said it;
 * the harvesters themselves stayed quiet while plotters could not tell their bids apart.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { describe, it } from 'node:test';
import { subjects } from '../../src/bus/bus-messages.js';
import { silentLogger } from '../../src/core/log.js';
import { Notifier, setNotifier } from '../../src/core/notify.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { tmpDir } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { captureLog } from '../helpers/log.js';
import { natsSuite } from '../helpers/nats-server.js';
import { startWebhook } from '../helpers/webhook.js';

describe('two harvesters under one --id', () => {
  const { nats, cleanup } = natsSuite();

  it('each logs an error naming the other host and notifies once, saying to give each its own --id', async () => {
    const hook = await startWebhook();
    cleanup.push(() => hook.close());
    const n = new Notifier({ urls: [hook.url], log: silentLogger(), host: 'farm' });
    setNotifier(n);
    cleanup.push(() => setNotifier(undefined));
    const start = async (host: string) => {
      const d = await tmpDir('pf-twin-');
      cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
      const c = captureLog();
      const h = await startTestHarvester({
        nc: await nats(),
        id: 'twin',
        dirs: [d],
        prefix: 'clash',
        advertiseHost: host,
        heartbeatMs: 100,
        log: c.log,
      });
      cleanup.push(() => h.close());
      return { c, d, errors: () => c.lines.filter((l) => l.level === 50).map((l) => String(l.msg)) };
    };
    const a = await start('10.0.0.1');
    const b = await start('10.0.0.2');
    await waitFor(() => a.errors().length > 0 && b.errors().length > 0, 10_000, 'both harvesters to say it');
    assert.match(a.errors()[0]!, /another harvester runs with --id twin on 10\.0\.0\.2 \(disks .*pf-twin-/);
    assert.ok(a.errors()[0]!.includes(b.d), a.errors()[0]);
    assert.match(b.errors()[0]!, /another harvester runs with --id twin on 10\.0\.0\.1 /);
    assert.match(a.errors()[0]!, /give each harvester its own --id/);
    // Said once per other harvester, however many heartbeats follow.
    const nc = await nats();
    let beats = 0;
    nc.subscribe(subjects('clash').heartbeat('twin'), { callback: () => beats++ });
    await waitFor(() => beats >= 10, 10_000, 'more heartbeats');
    assert.equal(a.errors().length, 1, a.errors().join('\n'));
    assert.equal(b.errors().length, 1, b.errors().join('\n'));
    await n.flush();
    assert.equal(hook.bodies.length, 2, JSON.stringify(hook.bodies));
    for (const body of hook.bodies) {
      assert.equal(body.severity, 'critical');
      assert.match(String(body.title), /two harvesters share the id twin/);
      assert.match(String(body.message), /^farm: another harvester runs with --id twin on 10\.0\.0\.[12].*own --id/);
    }
  });

  it('one harvester alone hears only its own heartbeats: nothing said', async () => {
    const d = await tmpDir('pf-single-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    const c = captureLog();
    const h = await startTestHarvester({
      nc: await nats(),
      id: 'solo',
      dirs: [d],
      prefix: 'solo',
      heartbeatMs: 100,
      log: c.log,
    });
    cleanup.push(() => h.close());
    const nc = await nats();
    let beats = 0;
    nc.subscribe(subjects('solo').heartbeat('solo'), { callback: () => beats++ });
    await waitFor(() => beats >= 5, 10_000, 'its heartbeats');
    assert.deepEqual(
      c.lines.filter((l) => (l.level as number) >= 40).map((l) => l.msg),
      [],
    );
  });
});
