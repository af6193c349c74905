/**
 * `--notify`: a JSON POST to a webhook, deduplicated, retried, and never in
 * the transfer path. Against local HTTP receivers: one that answers, one that hangs, one that
 * answers 500.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { connect } from 'nats';
import pino from 'pino';
import { PlotferryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { Notifier, setNotifier } from '../../src/core/notify.js';
import { sweep } from '../../src/plotter/sweep.js';
import { DiskSet } from '../../src/storage/disks.js';
import { notifyDiskEvent } from '../../src/transfer/disk-notices.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { startNatsServer } from '../helpers/nats-server.js';

interface Hook {
  url: string;
  bodies: Record<string, unknown>[];
  hits: number;
  close(): Promise<void>;
}

/** A webhook receiver: `mode` ok (200), hang (never answers), fail (500). */
async function hook(mode: 'ok' | 'hang' | 'fail'): Promise<Hook> {
  const h = { bodies: [] as Record<string, unknown>[], hits: 0 };
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      h.hits++;
      h.bodies.push(JSON.parse(data) as Record<string, unknown>);
      if (mode === 'hang') return void open.add(res);
      res.writeHead(mode === 'ok' ? 200 : 500).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    ...h,
    get bodies() {
      return h.bodies;
    },
    get hits() {
      return h.hits;
    },
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook/secret-token`,
    close: () =>
      new Promise<void>((r) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('notify', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    setNotifier(undefined);
    for (const c of cleanup.reverse()) await c();
  });

  it('posts one JSON message per condition per interval, readable by Gotify, Slack and Discord', async () => {
    const ok = await hook('ok');
    cleanup.push(() => ok.close());
    const n = new Notifier({ urls: [ok.url], log: silentLogger(), intervalMs: 60_000 });
    n.notify('disk-full:/mnt/a', 'warning', 'a disk is nearly full', '/mnt/a is 96% full');
    n.notify('disk-full:/mnt/a', 'warning', 'a disk is nearly full', '/mnt/a is 97% full'); // the same condition
    n.notify('disk-full:/mnt/b', 'warning', 'a disk is nearly full', '/mnt/b is 99% full');
    await n.flush();
    assert.equal(ok.hits, 2);
    const b = ok.bodies[0]!;
    assert.equal(b.title, 'plotferry: a disk is nearly full');
    assert.equal(b.message, '/mnt/a is 96% full');
    assert.equal(b.text, 'plotferry: a disk is nearly full: /mnt/a is 96% full'); // Slack-compatible
    assert.equal(b.content, b.text); // Discord
    assert.equal(typeof b.priority, 'number'); // Gotify
    assert.deepEqual([b.event, b.severity], ['disk-full', 'warning']);
  });

  it('a webhook that answers 500 is retried with back-off, then the log says it was not delivered', async () => {
    const fail = await hook('fail');
    cleanup.push(() => fail.close());
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const n = new Notifier({ urls: [fail.url], log, backoffMs: [10, 10] });
    n.notify('plot-failed:PF_IO', 'warning', 'a plot was not moved', 'x');
    await n.flush();
    assert.equal(fail.hits, 3, 'the first try and 2 retries');
    assert.match(lines.join(''), /notification not delivered \(HTTP 500\)/);
    assert.doesNotMatch(lines.join(''), /secret-token/, 'the URL path (often a secret) stays out of the log');
  });

  it('a hanging webhook slows nothing: a sweep that fails its plots returns while the messages wait', async () => {
    const hang = await hook('hang');
    cleanup.push(() => hang.close());
    const n = new Notifier({ urls: [hang.url], log: silentLogger(), timeoutMs: 60_000, backoffMs: [] });
    setNotifier(n);
    const nats = await startNatsServer();
    cleanup.push(() => nats.stop());
    const src = await tmpDir('pf-notify-src-');
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    for (let i = 0; i < 3; i++) writePlot(path.join(src, `plot-k28-n${i}.plot2`), 1000);
    const nc = await connect({ servers: nats.url });
    cleanup.push(() => nc.close());
    // No harvester at all: every plot fails (PF_NO_BID), and each failure notifies.
    const items = await sweep({
      nc,
      dirs: [src],
      plotter: 'p-notify',
      minAgeMs: 0,
      tries: 1,
      bidTimeoutMs: 100,
      hasTimeoutMs: 50,
      log: silentLogger(),
    });
    assert.deepEqual(
      items.map((i) => i.status),
      ['failed', 'failed', 'failed'],
    );
    await waitFor(() => hang.hits === 1, 10_000, 'the webhook to be called');
    // The sweep is done and the one message (deduplicated: "the farm has no room") still hangs.
    let flushed = false;
    void n.flush().then(() => (flushed = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(flushed, false, 'the message is still under way');
    assert.equal(hang.bodies[0]!.event, 'farm-no-room');
    setNotifier(undefined);
  });

  it('a disk that fails a write is notified', async () => {
    const ok = await hook('ok');
    cleanup.push(() => ok.close());
    const n = new Notifier({ urls: [ok.url], log: silentLogger() });
    setNotifier(n);
    const d = await tmpDir('pf-notify-disk-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    new DiskSet([d], { log: silentLogger(), onEvent: notifyDiskEvent }).markFailed(
      1,
      d,
      new PlotferryError('PF_IO', 'writing x: EIO'),
    );
    await n.flush();
    setNotifier(undefined);
    assert.equal(ok.bodies[0]!.event, 'disk-failed');
    assert.match(String(ok.bodies[0]!.message), /failed a write \(writing x: EIO\).*dmesg, smartctl/);
  });

  it('--notify that is not an http(s) URL is refused at the edge (exit 2)', async () => {
    const r = await runCli(['sweep', '--dry-run', '--notify', 'ftp://x', '/nonexistent']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /PF_CONFIG: --notify "ftp:\/\/x" is not an http\(s\) URL/);
  });
});
