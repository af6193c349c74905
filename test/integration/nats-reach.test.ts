/**
 * A harvester or a `sweep --watch` that cannot reach NATS moves no plot. It said so only in its
 * log: no webhook for minutes, and nothing in its /metrics. Here a real nats-server is stopped
 * and restarted under the connection a watching sweep makes (connectNatsRetrying), with the
 * alert's delay made small; a real HTTP receiver takes the webhooks and /metrics is scraped.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { NatsConnection } from 'nats';
import { connectNatsRetrying } from '../../src/bus/connect.js';
import { watchNatsReach } from '../../src/bus/nats-reach.js';
import { silentLogger } from '../../src/core/log.js';
import { serveMetrics } from '../../src/core/metrics-server.js';
import { Notifier, setNotifier } from '../../src/core/notify.js';
import { waitFor } from '../helpers/listener.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { startWebhook } from '../helpers/webhook.js';

describe('NATS out of reach', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    setNotifier(undefined);
    for (const c of cleanup.reverse()) await c();
  });

  it('a watching sweep says so by webhook and in plotferry_nats_connected, at start and after a disconnect', async () => {
    const hook = await startWebhook();
    cleanup.push(() => hook.close());
    // intervalMs 0: the second outage is said too (a farmer's --notify-interval would hold it).
    setNotifier(new Notifier({ urls: [hook.url], log: silentLogger(), host: 'p-reach', intervalMs: 0 }));
    cleanup.push(watchNatsReach('sweep --watch', 300));
    const m = await serveMetrics('127.0.0.1', 0, silentLogger(), 'sweep');
    cleanup.push(() => m.close());
    const connected = async () => {
      const text = await (await fetch(`http://127.0.0.1:${m.port}/metrics`)).text();
      return Number(/^plotferry_nats_connected (\d+)$/m.exec(text)?.[1]);
    };
    const nats = await startNatsServer();
    cleanup.push(() => nats.stop());
    await nats.stop();

    const events = () => hook.bodies.map((b) => b.event);
    const stop = new AbortController();
    cleanup.push(() => stop.abort());
    const connecting = connectNatsRetrying(nats.url, 'p-reach', silentLogger(), {}, stop.signal, 100);
    await waitFor(() => events().includes('nats-unreachable'), 15_000, 'the unreachable webhook at start');
    const first = hook.bodies.find((b) => b.event === 'nats-unreachable')!;
    assert.equal(first.severity, 'warning');
    assert.match(
      String(first.message),
      /^p-reach: this sweep --watch has not reached NATS \(nats:\/\/127\.0\.0\.1:\d+\)/,
    );
    assert.equal(await connected(), 0);

    await nats.restart();
    const nc = (await connecting) as NatsConnection;
    cleanup.push(() => nc.close());
    await waitFor(() => events().includes('nats-reachable'), 15_000, 'the reachable webhook');
    assert.equal(await connected(), 1);
    assert.deepEqual(events(), ['nats-unreachable', 'nats-reachable'], 'each said once');

    // Lost at run time: said again, once the outage has lasted.
    await nats.stop();
    await waitFor(() => events().length >= 3, 15_000, 'the unreachable webhook after a disconnect');
    assert.equal(events()[2], 'nats-unreachable');
    assert.equal(await connected(), 0);
    await nats.restart();
    await waitFor(() => events().length >= 4, 15_000, 'the reachable webhook after the restart');
    assert.deepEqual(events(), ['nats-unreachable', 'nats-reachable', 'nats-unreachable', 'nats-reachable']);
  });
});
