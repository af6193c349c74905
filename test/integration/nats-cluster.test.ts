/**
 * A farm on a real 3-node NATS cluster: every process gets the server list.
 * While a sweep runs, the node that the plotter (and any harvester on it) is connected to is
 * killed. Every plot must arrive exactly once and byte-exact, and the sweep must finish
 * without a restart.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { NatsConnection } from 'nats';
import { connectNats } from '../../src/bus/connect.js';
import { silentLogger } from '../../src/core/log.js';
import type { Harvester } from '../../src/farm/harvester-daemon.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';
import { freePorts, PORT_RANGES } from '../helpers/ports.js';

const MiB = 2 ** 20;

describe('a NATS cluster', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('a sweep survives the death of the node in use: each plot once, byte-exact, no restart', async () => {
    const base = await freePorts(3, PORT_RANGES.cluster);
    const routes = [0, 1, 2].map((i) => `nats://127.0.0.1:${base + i}`);
    const nodes: NatsServer[] = [];
    for (let i = 0; i < 3; i++) {
      const others = routes.filter((_, j) => j !== i).join(',');
      nodes.push(await startNatsServer(['--cluster_name', 'farm', '--cluster', routes[i]!, '--routes', others]));
    }
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop())).then(() => undefined));
    const list = nodes.map((n) => n.url).join(',');
    const conns: NatsConnection[] = [];
    const nc = async (name: string) => {
      const c = await connectNats(list, name, silentLogger());
      conns.push(c);
      return c;
    };
    cleanup.push(() => Promise.all(conns.map((c) => c.close())).then(() => undefined));
    // Routes up: a message published on one node reaches a subscriber on each other one.
    const probe = await Promise.all(nodes.map((n) => connectNats(n.url, 'probe', silentLogger())));
    cleanup.push(() => Promise.all(probe.map((c) => c.close())).then(() => undefined));
    for (let tries = 0; ; tries++) {
      const sub = probe[1]!.subscribe('route.check', { callback: (_e, m) => m.respond(m.data) });
      const sub2 = probe[2]!.subscribe('route.check2', { callback: (_e, m) => m.respond(m.data) });
      await probe[1]!.flush();
      await probe[2]!.flush();
      const ok = await Promise.all([
        probe[0]!.request('route.check', new Uint8Array(1), { timeout: 500 }).then(
          () => true,
          () => false,
        ),
        probe[0]!.request('route.check2', new Uint8Array(1), { timeout: 500 }).then(
          () => true,
          () => false,
        ),
      ]);
      sub.unsubscribe();
      sub2.unsubscribe();
      if (ok.every(Boolean)) break;
      assert.ok(tries < 60, 'the cluster routes never came up');
    }

    const harvesters: { h: Harvester; nc: NatsConnection; dir: string }[] = [];
    for (const id of ['hc-1', 'hc-2']) {
      const dir = await tmpDir(`pf-cluster-${id}-`);
      cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
      const c = await nc(id);
      const h = await startTestHarvester({ nc: c, id, dirs: [dir], prefix: 'cl' });
      cleanup.push(() => h.close());
      harvesters.push({ h, nc: c, dir });
    }
    const src = await tmpDir('pf-cluster-src-');
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    const sums = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const f = path.join(src, `plot-k28-cl${String(i).padStart(2, '0')}.plot2`);
      writePlot(f, 2 * MiB + i);
      sums.set(path.basename(f), await sha256(f));
    }
    const plotter = await nc('plotter');
    let done = 0;
    let killed: string[] = [];
    const items = await sweep({
      nc: plotter,
      dirs: [src],
      plotter: 'p-cluster',
      prefix: 'cl',
      minAgeMs: 0,
      concurrency: 2,
      log: silentLogger(),
      onDone: (item) => {
        done++;
        if (done !== 5) return;
        // Kill the plotter's node, and the harvesters' nodes too, so long as one node stays up.
        const inUse = [plotter, ...harvesters.map((x) => x.nc)].map((c) => c.getServer());
        // The plotter's first: it is always among those killed.
        const victims = [...new Set(inUse)].filter((s) => s !== undefined);
        const keep = nodes.find((n) => !victims.includes(`127.0.0.1:${n.port}`));
        const toKill = keep ? victims : victims.slice(0, 2);
        killed = toKill;
        assert.equal(item.status, 'sent');
        for (const n of nodes) if (toKill.includes(`127.0.0.1:${n.port}`)) void n.stop();
      },
    });
    assert.ok(killed.length > 0, "the plotter's node was killed mid-sweep");
    assert.ok(nodes.filter((n) => n.pid === 0).length >= 1, 'and it is down');
    assert.deepEqual(
      items.map((i) => `${i.name} ${i.status}`).filter((s) => !s.endsWith(' sent')),
      [],
      JSON.stringify(items.filter((i) => i.status !== 'sent').map((i) => i.error)),
    );
    assert.equal(items.length, 20);
    // Exactly once, byte-exact, across both harvesters; every source gone.
    const where = new Map<string, string[]>();
    for (const { dir } of harvesters)
      for (const n of ls(dir)) where.set(n, [...(where.get(n) ?? []), path.join(dir, n)]);
    for (const [name, sum] of sums) {
      const at = where.get(name) ?? [];
      assert.equal(at.length, 1, `${name} is held ${at.length} times`);
      assert.equal(await sha256(at[0]!), sum);
    }
    assert.deepEqual(ls(src), []);
  });
});
