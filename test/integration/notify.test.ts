/**
 * `--notify`: a JSON POST to a webhook, deduplicated, retried, and never in
 * the transfer path. Against local HTTP receivers: one that answers, one that hangs, one that
 * answers 500.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { decodeBus, subjects, type Heartbeat } from '../../src/bus/bus-messages.js';
import pino from 'pino';
import { PlotferryError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { Notifier, setNotifier } from '../../src/core/notify.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { DiskSet } from '../../src/storage/disks.js';
import { notifyDiskEvent } from '../../src/transfer/disk-notices.js';
import { runCli, startCli } from '../helpers/cli.js';
import { isRoot, tmpDir, tmpfsDisk, writePlot, writeSamplePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { startWebhook, type TestWebhook } from '../helpers/webhook.js';
import { waitFor } from '../helpers/listener.js';
import { startNatsServer } from '../helpers/nats-server.js';

interface Hook {
  url: string;
  bodies: Record<string, unknown>[];
  hits: number;
  close(): Promise<void>;
}

/** A webhook receiver: `mode` ok (200), hang (never answers), fail (500), fail-once (500, then 200). */
async function hook(mode: 'ok' | 'hang' | 'fail' | 'fail-once'): Promise<Hook> {
  const h = { bodies: [] as Record<string, unknown>[], hits: 0 };
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      h.hits++;
      h.bodies.push(JSON.parse(data) as Record<string, unknown>);
      if (mode === 'hang') return void open.add(res);
      res.writeHead(mode === 'ok' || (mode === 'fail-once' && h.hits > 1) ? 200 : 500).end();
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
    const n = new Notifier({ urls: [ok.url], log: silentLogger(), intervalMs: 60_000, host: 'h1' });
    n.notify('disk-full:/mnt/a', 'warning', 'a disk is nearly full', '/mnt/a is 96% full');
    n.notify('disk-full:/mnt/a', 'warning', 'a disk is nearly full', '/mnt/a is 97% full'); // the same condition
    n.notify('disk-full:/mnt/b', 'warning', 'a disk is nearly full', '/mnt/b is 99% full');
    await n.flush();
    assert.equal(ok.hits, 2);
    const b = ok.bodies[0]!;
    assert.equal(b.title, 'plotferry: a disk is nearly full');
    assert.equal(b.message, 'h1: /mnt/a is 96% full');
    assert.equal(b.text, 'plotferry: a disk is nearly full: h1: /mnt/a is 96% full'); // Slack-compatible
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

  /** Runs `args` until every hook holds `count` requests, then stops it. */
  const runUntilNotified = async (args: string[], env: NodeJS.ProcessEnv, hooks: TestWebhook[], count = 1) => {
    const c = startCli(args, env);
    try {
      await waitFor(() => hooks.every((h) => h.requests.length >= count), 15_000, 'a message at every webhook');
    } finally {
      c.child.kill('SIGTERM');
      await c.done;
    }
  };

  // PLOTFERRY_NOTIFY="URL1,URL2" was one POST to a path of "/a,http://...".
  // Found by a farmer's trial: a cron sweep ended during the first wait between tries, so a
  // webhook that failed once was never retried, and nothing was logged.
  it('a cron sweep retries a failed webhook before it exits', async () => {
    const h = await hook('fail-once');
    cleanup.push(() => h.close());
    const d = await tmpDir('pf-notify-cron-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    fs.writeFileSync(path.join(d, 'junk.plot'), 'not a plot'); // left for a human: notified
    const r = await runCli([
      'sweep',
      '--nats',
      'nats://127.0.0.1:1',
      '--dry-run',
      '--min-age',
      '0',
      '--notify',
      h.url,
      d,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(h.hits, 2, 'tried again after the 500');
    assert.doesNotMatch(r.stderr, /not delivered/);
  });

  it('several webhooks from PLOTFERRY_NOTIFY and from --config, as from the command line', async () => {
    const hooks = [await startWebhook(), await startWebhook()];
    cleanup.push(() => Promise.all(hooks.map((h) => h.close())).then(() => undefined));
    const d = await tmpDir('pf-notify-env-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    // A listener with no usable directory says so at start: the message each hook must get.
    const listen = ['listen', '--dir', path.join(d, 'missing'), '--token', 't', '--port', '0', '--host', '127.0.0.1'];
    await runUntilNotified(listen, { PLOTFERRY_NOTIFY: hooks.map((h) => h.url).join(',') }, hooks);
    for (const h of hooks) {
      assert.deepEqual(
        h.requests.map((r) => r.path),
        ['/hook'],
      );
      assert.equal(h.bodies[0]!.event, 'no-usable-disk');
    }
    const config = path.join(d, 'plotferry.json');
    fs.writeFileSync(config, JSON.stringify({ listen: { notify: hooks.map((h) => h.url) } }));
    await runUntilNotified([...listen, '--config', config], {}, hooks, 2);
    for (const h of hooks) assert.equal(h.requests.length, 2);
  });

  it('ntfy+http(s)://HOST/TOPIC: plain text to the topic, with Title, Priority and Tags', async () => {
    const h = await startWebhook();
    cleanup.push(() => h.close());
    const d = await tmpDir('pf-notify-ntfy-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    const topic = h.url.replace(/^http:\/\/(.*)\/hook$/, 'ntfy+http://$1/farm-alerts');
    await runUntilNotified(
      ['listen', '--dir', path.join(d, 'missing'), '--token', 't', '--port', '0', '--notify', topic],
      {},
      [h],
    );
    const r = h.requests[0]!;
    assert.equal(r.path, '/farm-alerts');
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.equal(r.headers.title, 'plotferry: a listener has no usable disk');
    assert.equal(r.headers.priority, '5');
    assert.equal(r.headers.tags, 'rotating_light,plotferry,no-usable-disk');
    assert.match(r.body, new RegExp(`^${os.hostname()}: no --dir of this listener can take a file`));
  });

  // The same harvester's messages began "h1: ..." (its --id) and "vm: ..." (the host name).
  it('one name for the host in every message: the harvester --id', async () => {
    const nats = await startNatsServer();
    cleanup.push(() => nats.stop());
    const h = await startWebhook();
    cleanup.push(() => h.close());
    const d = await tmpDir('pf-notify-id-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    fs.writeFileSync(path.join(d, 'plotferry.disable'), '');
    const c = startCli([
      'harvester',
      '--nats',
      nats.url,
      '--id',
      'h-one',
      '--host',
      '127.0.0.1',
      '--dir',
      d,
      '--notify',
      h.url,
    ]);
    try {
      const events = () => h.bodies.map((b) => b.event).sort();
      await waitFor(() => events().length >= 2, 15_000, `two messages (${c.stderr()})`);
      assert.deepEqual(events(), ['disk-disabled', 'no-usable-disk']);
      for (const b of h.bodies) {
        assert.equal(b.host, 'h-one');
        assert.match(String(b.message), /^h-one: /);
      }
    } finally {
      c.child.kill('SIGTERM');
      await c.done;
    }
  });

  // A disk not mounted when the harvester started sent no webhook (a warn line only), though
  // one unmounted at run time does.
  it('a disk not mounted at start is notified as gone, and as back when it is mounted', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts a tmpfs disk after the start');
    const nats = await startNatsServer();
    cleanup.push(() => nats.stop());
    const h = await startWebhook();
    cleanup.push(() => h.close());
    const disks: (() => unknown)[] = [];
    cleanup.push(async () => {
      for (const c of disks.reverse()) await c();
    });
    const mounted = await tmpfsDisk('pf-notify-mounted-', 16, disks);
    // A bare mount point on the root filesystem, as a disk that did not mount at boot leaves.
    const bare = await tmpDir('pf-notify-bare-', '/tmp');
    disks.push(() => fsp.rm(bare, { recursive: true, force: true }));
    const c = startCli(
      [
        ...['harvester', '--nats', nats.url, '--id', 'h-bare', '--host', '127.0.0.1'],
        ...['--dir', mounted, '--dir', bare, '--notify', h.url],
      ],
      { PLOTFERRY_ALLOW_ROOT_FS: '' },
    );
    try {
      const seen = (event: string) => h.bodies.find((b) => b.event === event);
      await waitFor(() => seen('disk-gone') !== undefined, 15_000, `the disk-gone webhook (${c.stderr()})`);
      assert.match(
        String(seen('disk-gone')!.message),
        new RegExp(`${bare} cannot be used since the start: on the root`),
      );
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', bare]);
      disks.push(() => execFileSync('umount', [bare]));
      await waitFor(() => seen('disk-back') !== undefined, 30_000, `the disk-back webhook (${c.stderr()})`);
      assert.match(String(seen('disk-back')!.message), new RegExp(`${bare} is back in rotation`));
      assert.equal(h.bodies.filter((b) => b.event === 'disk-gone').length, 1, 'said once');
    } finally {
      c.child.kill('SIGTERM');
      await c.done;
    }
  });

  /** The heartbeats of harvester `id`, as they come. */
  const heartbeats = (nc: NatsConnection, id: string) => {
    const seen: Heartbeat[] = [];
    nc.subscribe(subjects('plotferry').heartbeat(id), {
      callback: (err, m) => {
        if (!err) seen.push(decodeBus(m.data, ['heartbeat']));
      },
    });
    return seen;
  };

  // A --replot harvester said a disk was replotted, then 5 s later that the same disk, full of
  // PoS2 plots as meant, was "nearly full"; a --replot-dry-run one sent "nearly full" alone.
  for (const dryRun of [false, true])
    it(`--replot${dryRun ? '-dry-run' : ''}: a disk replotted is not "nearly full" too`, async () => {
      const nats = await startNatsServer();
      cleanup.push(() => nats.stop());
      const hook = await startWebhook();
      cleanup.push(() => hook.close());
      const n = new Notifier({ urls: [hook.url], log: silentLogger(), host: 'h-rp' });
      setNotifier(n);
      const d = await tmpDir('pf-notify-replot-');
      cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
      const pos1 = path.join(d, 'plot-k32-2026-01-01-00-00-aaaa.plot');
      writeSamplePlot(pos1, 100_000, 32, 'chiapos-v1');
      // Whatever this disk holds, it is "full" by --notify-full's measure.
      const f = fs.statfsSync(d);
      const usedPercent = (1 - f.bavail / f.blocks) * 100;
      const nc = await connect({ servers: nats.url });
      cleanup.push(() => nc.close());
      const seen = heartbeats(nc, 'h-rp');
      const h = await startTestHarvester({
        nc,
        id: 'h-rp',
        dirs: [d],
        replot: { dryRun },
        notifyFullPercent: Math.max(1, usedPercent / 2),
        heartbeatMs: 100,
        rescanMs: 100,
      });
      cleanup.push(() => h.close());
      await waitFor(() => seen.filter((b) => b.dirs[0]?.pos1Plots === 1).length >= 3, 10_000, 'heartbeats with PoS1');
      // A farmer (or the replot) removes the disk's last PoS1 plot: it is replotted.
      await fsp.rm(pos1);
      await waitFor(() => seen.filter((b) => b.dirs[0]?.pos1Plots === 0).length >= 3, 10_000, 'heartbeats after');
      await h.close();
      await n.flush();
      setNotifier(undefined);
      assert.deepEqual(
        hook.bodies.map((b) => b.event),
        ['replot-done'],
      );
    });
});
