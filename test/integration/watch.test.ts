/**
 * `plotferry sweep --watch`: a plotter that keeps running, with a real nats-server and
 * harvesters bidding. Plots arrive while it runs; it is stopped with SIGTERM and killed with
 * SIGKILL mid-transfer; NATS restarts under it. Nothing may be lost or land twice.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, NatsConnection } from 'nats';
import { connectNats } from '../../src/bus/connect.js';
import { silentLogger } from '../../src/core/log.js';
import type { Harvester } from '../../src/farm/harvester-daemon.js';
import { watchSweep } from '../../src/plotter/watch.js';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { NO_GROUP, sampleHeader, sampleTables } from '../../src/demo/sample.js';
import { ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { waitFor } from '../helpers/listener.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';

const MiB = 2 ** 20;
const isPlot = (n: string) => n.endsWith('.plot') || n.endsWith('.plot2');

describe('sweep --watch', () => {
  let server: NatsServer;
  const conns: NatsConnection[] = [];
  const harvesters: Harvester[] = [];
  const made: string[] = [];
  const hdirs: string[] = [];

  const dir = async (label: string) => {
    const d = await tmpDir(`pf-w-${label}-`);
    made.push(d);
    return d;
  };
  /** Every plot the harvesters hold: name -> paths (more than one would be a plot landed twice). */
  const held = () => {
    const m = new Map<string, string[]>();
    for (const d of hdirs) for (const n of ls(d).filter(isPlot)) m.set(n, [...(m.get(n) ?? []), path.join(d, n)]);
    return m;
  };

  before(async () => {
    server = await startNatsServer();
    for (const id of ['hw-1', 'hw-2']) {
      const dirs = [await dir(`${id}-a`), await dir(`${id}-b`)];
      hdirs.push(...dirs);
      const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
      conns.push(nc);
      harvesters.push(await startTestHarvester({ nc, id, dirs }));
    }
  });
  after(async () => {
    for (const h of harvesters) await h.close();
    for (const nc of conns) await nc.close();
    await server.stop();
    for (const d of made) await fsp.rm(d, { recursive: true, force: true });
  });

  it('500 small plots, arriving while it runs: each lands once, byte-exact, sources gone, no timer per plot', async () => {
    const src = await dir('many');
    const sums = new Map<string, string>();
    const write = (i: number) => {
      const name = `plot-k28-w${String(i).padStart(3, '0')}.plot2`;
      // A whole plot as its header tells (a pos2 header with no memo, one chunk), different per i.
      const head = sampleHeader('pos2-v1', { ...NO_GROUP, id: Buffer.alloc(32, i & 0xff) });
      const data = Buffer.alloc(1024 + i);
      Buffer.concat([head, sampleTables('pos2-v1', head.length, data.length)]).copy(data);
      data.writeUInt32LE(i, data.length - 4);
      // Written under a temporary name and renamed in, as plotters finish a plot.
      fs.writeFileSync(path.join(src, `.${name}.tmp`), data);
      fs.renameSync(path.join(src, `.${name}.tmp`), path.join(src, name));
      sums.set(name, createHash('sha256').update(data).digest('hex'));
    };
    for (let i = 0; i < 250; i++) write(i);
    const nc = await connectNats(server.url, 'watch-test', silentLogger());
    conns.push(nc);
    const stop = new AbortController();
    let sent = 0;
    const running = watchSweep({
      nc,
      dirs: [src],
      plotter: 'pw',
      minAgeMs: 0,
      concurrency: 4,
      scanIntervalMs: 60_000, // longer than the test: arrivals must be seen by fs.watch
      log: silentLogger(),
      stop: stop.signal,
      onDone: (item) => {
        if (item.status === 'sent') sent++;
      },
    });
    await waitFor(() => sent >= 250, 120_000, 'the first 250 plots to move');
    for (let i = 250; i < 500; i++) write(i);
    await waitFor(() => sent >= 500, 120_000, 'the 250 that arrived later to move');
    // Idle now: the timers left are the process's few, not one per plot moved.
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.ok(timers < 50, `${timers} timers active after 500 plots`);
    stop.abort();
    const summary = await running;
    assert.deepEqual([summary.sent, summary.failures], [500, 0]);
    assert.deepEqual(ls(src).filter(isPlot), [], 'every source removed');
    const h = held();
    assert.equal(h.size, 500);
    for (const [name, paths] of h) {
      assert.equal(paths.length, 1, `${name} landed on ${paths.join(' and ')}`);
      assert.equal(await sha256(paths[0]!), sums.get(name), `${name} byte-exact`);
    }
    for (const d of hdirs) for (const n of ls(d).filter(isPlot)) fs.rmSync(path.join(d, n));
  });

  it('SIGTERM lets the plot in flight finish (exit 0); a second watcher on the same DIR is refused', async () => {
    const src = await dir('term');
    writePlot(path.join(src, 'plot-k28-term.plot2'), 24 * MiB);
    const sum = await sha256(path.join(src, 'plot-k28-term.plot2'));
    // --bwlimit keeps it in flight for ~3 s, long enough to signal it mid-transfer.
    const c = startCli([
      'sweep',
      '--watch',
      '--nats',
      server.url,
      '--min-age',
      '0',
      '--bwlimit',
      '8',
      '--json',
      '--log-level',
      'info',
      src,
    ]);
    await waitFor(
      () => {
        if (c.child.exitCode !== null) throw new Error(`the watcher exited: ${c.stderr()}`);
        return /"msg":"watching 1 directory/.test(c.stderr());
      },
      30_000,
      'the watcher to start',
    );
    const second = await runCli(['sweep', '--watch', '--nats', server.url, src]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /PF_DIR_IN_USE: .* is watched already by/);
    await waitFor(
      () =>
        held().has('plot-k28-term.plot2') ||
        hdirs.some((d) => fs.readdirSync(d).some((n) => n.includes('plot-k28-term'))),
      30_000,
      'the transfer to start',
    );
    c.child.kill('SIGTERM');
    const r = await c.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /stopping: no new plots/);
    const [item] = jsonLines(r.stdout);
    assert.equal(item?.status, 'sent');
    const p = held().get('plot-k28-term.plot2');
    assert.equal(p?.length, 1);
    assert.equal(await sha256(p[0]!), sum);
    assert.ok(!fs.existsSync(path.join(src, 'plot-k28-term.plot2')), 'source removed after it was stored');
    fs.rmSync(p[0]!);
  });

  it('SIGKILL mid-transfer loses nothing; the next start finishes it, resuming; NATS restarting under it is waited out', async () => {
    const src = await dir('kill');
    const file = path.join(src, 'plot-k28-kill.plot2');
    writePlot(file, 24 * MiB);
    const sum = await sha256(file);
    const argv = ['sweep', '--watch', '--nats', server.url, '--min-age', '0', '--json', '--scan-interval', '1', src];
    const c1 = startCli([...argv.slice(0, 2), '--bwlimit', '8', ...argv.slice(2)]);
    // Killed once part of the plot has arrived.
    await waitFor(
      () =>
        hdirs.some((d) =>
          fs.readdirSync(d).some((n) => n.includes('plot-k28-kill') && fs.statSync(path.join(d, n)).size > 2 * MiB),
        ),
      30_000,
      'part of the plot to arrive',
    );
    c1.child.kill('SIGKILL');
    await c1.done;
    assert.ok(fs.existsSync(file), 'the source is intact');
    assert.equal(held().has('plot-k28-kill.plot2'), false, 'no final name for a half-sent plot');

    // NATS goes away before the next start, and comes back while it waits.
    await server.stop();
    const c2 = startCli([...argv, '--log-level', 'info']);
    await waitFor(() => /cannot reach NATS|NATS/.test(c2.stderr()), 30_000, 'the watcher to say NATS is not there');
    await server.restart();
    await waitFor(() => held().has('plot-k28-kill.plot2') && !fs.existsSync(file), 60_000, 'the plot to be finished');
    c2.child.kill('SIGTERM');
    const r = await c2.done;
    assert.equal(r.code, 0, r.stderr);
    const [item] = jsonLines(r.stdout) as { status: string; resumedFrom?: number }[];
    assert.equal(item?.status, 'sent');
    assert.ok((item?.resumedFrom ?? 0) > 0, 'the good bytes from before the kill were kept and resumed from');
    const p = held().get('plot-k28-kill.plot2')!;
    assert.equal(p.length, 1);
    assert.equal(await sha256(p[0]!), sum);
  });
});
