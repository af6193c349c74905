/**
 * `--metrics`: a real Prometheus (Debian's `prometheus`, started here on a
 * port of its own) scrapes a harvester during a sweep; the values read back through
 * Prometheus's HTTP API must equal what was sent. Skipped when prometheus is not installed
 * (`.ci/run` installs it).
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { connect } from 'nats';
import { serveMetrics } from '../../src/core/metrics-server.js';
import { silentLogger } from '../../src/core/log.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { runCliExpectingExit, startCli } from '../helpers/cli.js';
import { isRoot, tmpDir, tmpfsDisk, writePlot, writeSamplePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { waitFor } from '../helpers/listener.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { freePorts, PORT_RANGES } from '../helpers/ports.js';

const prometheus = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();

describe('metrics', { skip: !prometheus && 'prometheus is not installed (apt-get install prometheus)' }, () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  /** A real Prometheus scraping 127.0.0.1:`port` every second; its instant queries, first value. */
  const startPrometheus = async (port: number, work: string) => {
    const webPort = await freePorts(1, PORT_RANGES.metrics);
    fs.writeFileSync(
      path.join(work, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: plotferry\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
    );
    const prom: ChildProcess = spawn(
      prometheus,
      [
        `--config.file=${path.join(work, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(work, 'data')}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
      ],
      { stdio: 'ignore' },
    );
    cleanup.push(
      () => new Promise<void>((r) => (prom.exitCode !== null ? r() : (prom.once('exit', () => r()), prom.kill()))),
    );
    const query = async (q: string): Promise<number | undefined> => {
      const r = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`).catch(
        () => undefined,
      );
      if (!r?.ok) return undefined;
      const j = (await r.json()) as { data: { result: { value: [number, string] }[] } };
      return j.data.result[0] ? Number(j.data.result[0].value[1]) : undefined;
    };
    return query;
  };

  /**
   * A harvester (`id`, over `dirs`) on its own nats-server, its metrics served, and a real
   * Prometheus scraping them (its files in `work`): the server, and Prometheus' queries.
   */
  const scrapedHarvester = async (id: string, dirs: string[], work: string) => {
    const nats = await startNatsServer();
    cleanup.push(() => nats.stop());
    const hnc = await connect({ servers: nats.url });
    const h = await startTestHarvester({ nc: hnc, id, dirs });
    cleanup.push(async () => {
      await h.close();
      await hnc.close();
    });
    const m = await serveMetrics('127.0.0.1', 0, silentLogger(), 'harvester');
    cleanup.push(() => m.close());
    return { nats, query: await startPrometheus(m.port, work) };
  };

  it('Prometheus scrapes a harvester during a sweep and reads what was sent', async () => {
    const disk = await tmpDir('pf-metrics-disk-');
    const src = await tmpDir('pf-metrics-src-');
    const work = await tmpDir('pf-metrics-prom-');
    cleanup.push(() =>
      Promise.all([disk, src, work].map((d) => fsp.rm(d, { recursive: true, force: true }))).then(() => undefined),
    );
    const { nats, query } = await scrapedHarvester('h-metrics', [disk], work);
    await waitFor(async () => (await query('up{job="plotferry"}')) === 1, 60_000, 'Prometheus to scrape the harvester');

    // What a sweep sends: 5 PoS2 plots of known sizes.
    const sizes = [300_000, 400_001, 512_345, 700_000, 1_048_576];
    sizes.forEach((n, i) => writeSamplePlot(path.join(src, `plot-k28-m${i}.plot2`), n, 28, 'pos2-v1'));
    const before = (await query('sum(plotferry_received_bytes_total{outcome="ok"})')) ?? 0;
    const beforePlots = (await query('sum(plotferry_received_plots_total{outcome="ok"})')) ?? 0;
    const nc = await connect({ servers: nats.url });
    cleanup.push(() => nc.close());
    const items = await sweep({
      nc,
      dirs: [src],
      plotter: 'p-metrics',
      minAgeMs: 0,
      concurrency: 2,
      log: silentLogger(),
    });
    assert.deepEqual(
      items.map((i) => i.status),
      Array(5).fill('sent'),
    );
    const total = sizes.reduce((a, b) => a + b, 0);
    // Read through Prometheus: its scrapes must come to the bytes and plots sent.
    await waitFor(
      async () => (await query('sum(plotferry_received_bytes_total{outcome="ok"})')) === before + total,
      60_000,
      'Prometheus to see the bytes received',
    );
    assert.equal(await query('sum(plotferry_received_plots_total{outcome="ok"})'), beforePlots + 5);
    assert.ok(((await query('plotferry_bids_won_total')) ?? 0) >= 5);
    assert.equal(await query('plotferry_transfer_duration_seconds_count{direction="receive"}'), beforePlots + 5);
    assert.equal(await query(`plotferry_final_sync_seconds_count{dir="${disk}"}`), beforePlots + 5);
    await waitFor(
      async () => (await query(`plotferry_disk_pos2_bytes{dir="${disk}"}`)) === total,
      60_000,
      'the disk gauge to show the PoS2 bytes',
    );
    assert.ok(((await query(`plotferry_disk_free_bytes{dir="${disk}"}`)) ?? 0) > 0);
    // prom-client's process and Node.js metrics, under the names Node dashboards read.
    assert.ok(((await query('process_resident_memory_bytes')) ?? 0) > 0, 'process memory');
    assert.ok(((await query('process_open_fds')) ?? 0) > 0, 'open fds');
    assert.ok((await query('nodejs_eventloop_lag_seconds')) !== undefined, 'event-loop lag');
  });

  it('a metrics port already taken is a clear start-up error (PF_PORT_IN_USE, exit 1)', async () => {
    const m = await serveMetrics('127.0.0.1', 0, silentLogger(), 'harvester');
    cleanup.push(() => m.close());
    const d = await tmpDir('pf-metrics-busy-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    const r = await runCliExpectingExit([
      'listen',
      '--dir',
      d,
      '--token',
      't',
      '--port',
      '0',
      '--metrics',
      `127.0.0.1:${m.port}`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`PF_PORT_IN_USE: --metrics 127\\.0\\.0\\.1:${m.port}`));
  });

  // A disk went read-only: the log said "PF_IO ... disk out of rotation" and the webhook fired,
  // but /metrics had no failure count and no state for the disk.
  it('a disk gone read-only shows in the failure counts and the disk state gauge', async (t) => {
    if (!isRoot) return t.skip('needs root: mounts a small tmpfs disk and remounts it read-only');
    const disks: (() => unknown)[] = [];
    cleanup.push(async () => {
      for (const c of disks.reverse()) await c();
    });
    const ro = await tmpfsDisk('pf-metrics-ro-', 16, disks);
    const off = await tmpfsDisk('pf-metrics-off-', 16, disks);
    fs.writeFileSync(path.join(off, 'plotferry.disable'), '');
    const src = await tmpDir('pf-metrics-rosrc-');
    const work = await tmpDir('pf-metrics-roprom-');
    cleanup.push(() =>
      Promise.all([src, work].map((d) => fsp.rm(d, { recursive: true, force: true }))).then(() => undefined),
    );
    const { nats, query } = await scrapedHarvester('h-metrics-ro', [ro, off], work);
    const state = (dir: string, st: string) => query(`plotferry_disk_state{dir="${dir}",state="${st}"}`);
    await waitFor(async () => (await state(ro, 'in-rotation')) === 1, 60_000, 'the disk in rotation');
    assert.equal(await state(off, 'disabled'), 1);
    assert.equal(await state(off, 'in-rotation'), 0);
    // Each series at 0 before any failure: one born at 1 by its first failure is a rise that
    // increase() never sees, and the documented alert missed the first failure of each kind.
    const diskPfIo = `plotferry_disk_failures_total{dir="${ro}",code="PF_IO"}`;
    await waitFor(async () => (await query(diskPfIo)) === 0, 60_000, 'the disk failure count at 0');
    const pfIoBefore = await query('plotferry_failures_total{code="PF_IO"}');
    assert.notEqual(pfIoBefore, undefined, 'plotferry_failures_total{code="PF_IO"} scraped before any failure');

    execFileSync('mount', ['-o', 'remount,ro', ro]);
    // Writable again before the harvester closes: it removes its lock there.
    cleanup.push(() => void execFileSync('mount', ['-o', 'remount,rw', ro]));
    writePlot(path.join(src, 'plot-k28-ro.plot2'), 100_000);
    const nc = await connect({ servers: nats.url });
    cleanup.push(() => nc.close());
    const items = await sweep({
      nc,
      dirs: [src],
      plotter: 'p-metrics-ro',
      minAgeMs: 0,
      tries: 1,
      bidTimeoutMs: 300,
      log: silentLogger(),
    });
    assert.equal(items[0]?.status, 'failed');
    await waitFor(async () => (await state(ro, 'failed')) === 1, 60_000, 'the disk out of rotation in the gauge');
    assert.equal(await state(ro, 'in-rotation'), 0);
    assert.equal(await query(`plotferry_disk_failures_total{dir="${ro}",code="PF_IO"}`), 1);
    assert.equal(
      await query('plotferry_failures_total{code="PF_IO"}'),
      (pfIoBefore ?? 0) + 1,
      'the receive that failed',
    );
    // The alert of docs/operations.md fires on this first failure.
    for (const q of [diskPfIo, 'plotferry_failures_total{code="PF_IO"}'])
      await waitFor(async () => ((await query(`increase(${q}[5m])`)) ?? 0) > 0, 60_000, `increase(${q}) > 0`);
  });

  // A plotter's sweep --watch exported the harvester's bids and replot counters as zeros.
  it('each endpoint serves its own role: sweep --watch and listen have no harvester series', async () => {
    const nats = await startNatsServer();
    cleanup.push(() => nats.stop());
    const d = await tmpDir('pf-metrics-roles-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    const scrape = async (args: string[]) => {
      const port = await freePorts(1, PORT_RANGES.metrics);
      const c = startCli([...args, '--metrics', `127.0.0.1:${port}`]);
      try {
        await waitFor(() => c.stderr().includes(`/metrics`), 15_000, `the endpoint (${c.stderr()})`);
        return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      } finally {
        c.child.kill('SIGTERM');
        await c.done;
      }
    };
    const series = (text: string) => new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]!));
    const sweepSeries = series(await scrape(['sweep', '--watch', '--nats', nats.url, d]));
    const listenSeries = series(
      await scrape(['listen', '--dir', d, '--token', 't', '--port', '0', '--host', '127.0.0.1']),
    );
    for (const s of [sweepSeries, listenSeries]) {
      for (const n of ['plotferry_bids_total', 'plotferry_bids_won_total', 'plotferry_replot_deleted_plots_total'])
        assert.ok(!s.has(n), n);
      assert.ok(s.has('plotferry_failures_total'));
      assert.ok(s.has('process_resident_memory_bytes') && s.has('nodejs_eventloop_lag_seconds'));
    }
    for (const n of ['plotferry_disk_free_bytes', 'plotferry_disk_state', 'plotferry_received_bytes_total'])
      assert.ok(!sweepSeries.has(n), `sweep: ${n}`);
    for (const n of ['plotferry_sent_bytes_total', 'plotferry_bid_latency_seconds']) {
      assert.ok(sweepSeries.has(n), `sweep: ${n}`);
      assert.ok(!listenSeries.has(n), `listen: ${n}`);
    }
    assert.ok(listenSeries.has('plotferry_disk_state'));
  });
});
