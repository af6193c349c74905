/**
 * `--nats a,b` is a server list: a process connects to any live
 * one and fails over to another. Before, the string went to nats.js as one URL, so only one
 * server was tried, and a start with it down failed although another was up.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectNats, natsServers } from '../../src/bus/connect.js';
import { linkDown } from '../../src/bus/link.js';
import { PlotferryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { waitFor } from '../helpers/listener.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';
import fs from 'node:fs';
import { runCliExpectingExit } from '../helpers/cli.js';
import { tmpDir } from '../helpers/files.js';

describe('a NATS server list', () => {
  const servers: NatsServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('parses a,b,c and refuses an empty entry', () => {
    assert.deepEqual(natsServers('nats://a:4222, nats://b:4222,nats://c:4222'), [
      'nats://a:4222',
      'nats://b:4222',
      'nats://c:4222',
    ]);
    const refused = (list: string, which: RegExp) =>
      assert.throws(
        () => natsServers(list),
        (e: unknown) => e instanceof PlotferryError && e.code === 'PF_CONFIG' && which.test(e.message),
      );
    refused('nats://a:4222,,nats://b:4222', /entry 2 of 3, ""/);
    refused('nats://a:4222,http://b:80', /entry 2 of 2, "http:\/\/b:80"/);
    refused('nats//a:4222', /entry 1 of 1/);
    assert.deepEqual(natsServers('tls://u:p@n1:4222,n2:4222,[::1]:4222'), [
      'tls://u:p@n1:4222',
      'n2:4222',
      '[::1]:4222',
    ]);
  });

  // Found by a farmer's trial: a malformed list was wrapped as PF_CONNECTION ("is nats-server
  // running there?"), so `harvester` and `sweep --watch` retried it for ever under systemd.
  it('a --nats that is not a server list is PF_CONFIG at once (exit 2), for a daemon too', async () => {
    const d = await tmpDir('pf-nats-bad-');
    try {
      for (const args of [
        ['harvester', '--nats', 'nats://127.0.0.1:1 nats://127.0.0.1:2', '--dir', d, '--allow-root-fs'],
        ['sweep', '--watch', '--nats', 'http://127.0.0.1:4222', d],
        ['status', '--nats', 'nats//127.0.0.1:4222'],
      ]) {
        const r = await runCliExpectingExit(args, 15_000);
        assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.slice(-1000)}`);
        assert.match(r.stderr, /PF_CONFIG: --nats: entry 1 of 1/);
      }
    } finally {
      await fs.promises.rm(d, { recursive: true, force: true });
    }
  });

  it('connects while a listed server is down, first or last in the list', async () => {
    const a = await startNatsServer();
    const b = await startNatsServer();
    servers.push(a, b);
    await a.stop();
    for (const list of [`${a.url},${b.url}`, `${b.url},${a.url}`]) {
      const nc = await connectNats(list, 'list-test', silentLogger());
      try {
        assert.equal(nc.getServer(), `127.0.0.1:${b.port}`, list);
      } finally {
        await nc.close();
      }
    }
  });

  it('fails over to another listed server when the one in use dies, and serves there', async () => {
    const a = await startNatsServer();
    const b = await startNatsServer();
    servers.push(a, b);
    const nc = await connectNats(`${a.url},${b.url}`, 'failover-test', silentLogger());
    try {
      const first = nc.getServer();
      const [dying, other] = first === `127.0.0.1:${a.port}` ? [a, b] : [b, a];
      await dying.stop();
      await waitFor(
        () => linkDown(nc) === undefined && nc.getServer() === `127.0.0.1:${other.port}`,
        30_000,
        'the failover',
      );
      const sub = nc.subscribe('echo', { callback: (_e, m) => m.respond(m.data) });
      const r = await nc.request('echo', new TextEncoder().encode('hi'), { timeout: 5_000 });
      assert.equal(new TextDecoder().decode(r.data), 'hi');
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
  });
});
