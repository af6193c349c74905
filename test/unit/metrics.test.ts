/** The metric names: Prometheus conventions, and the shipped Grafana dashboard uses only real ones. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Metric } from 'prom-client';
import { countReceived, diskStateSamples, metrics } from '../../src/core/metrics.js';
import { allMetrics, metricsOf, series } from '../../src/core/prom-series.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('metrics', () => {
  const nameOf = (m: Metric) => (m as unknown as { name: string }).name;
  const names = allMetrics().map(nameOf);

  it('are plotferry_ names in base units, counters ending in _total, no plot name as a label', () => {
    for (const m of allMetrics()) {
      const { name, type, labelNames } = m as unknown as { name: string; type: string; labelNames?: string[] };
      assert.match(name, /^plotferry_[a-z0-9_]+$/);
      if (String(type) === 'counter') assert.match(name, /_total$/, name);
      for (const l of labelNames ?? [])
        assert.ok(['outcome', 'code', 'dir', 'direction', 'state'].includes(l), `${name} label ${l}`);
    }
  });

  // A plotter's sweep --watch exported the harvester's bids and replot counters as zeros.
  it('each role exports only its own series', () => {
    const of = (role: 'harvester' | 'listen' | 'sweep') => metricsOf(role).map(nameOf);
    const harvesterOnly = ['plotferry_bids_total', 'plotferry_bids_won_total', 'plotferry_replot_deleted_plots_total'];
    const receiverOnly = ['plotferry_received_bytes_total', 'plotferry_disk_free_bytes', 'plotferry_disk_state'];
    const sweepOnly = ['plotferry_sent_bytes_total', 'plotferry_sent_plots_total', 'plotferry_bid_latency_seconds'];
    for (const n of [...harvesterOnly, ...receiverOnly]) assert.ok(!of('sweep').includes(n), `sweep has ${n}`);
    for (const n of sweepOnly) {
      assert.ok(!of('harvester').includes(n), `harvester has ${n}`);
      assert.ok(!of('listen').includes(n), `listen has ${n}`);
    }
    for (const n of harvesterOnly) assert.ok(!of('listen').includes(n), `listen has ${n}`);
    for (const n of [...harvesterOnly, ...receiverOnly]) assert.ok(of('harvester').includes(n), n);
    for (const n of sweepOnly) assert.ok(of('sweep').includes(n), n);
    for (const role of ['harvester', 'listen', 'sweep'] as const)
      assert.ok(of(role).includes('plotferry_failures_total'), `${role}: failures by code`);
    // Every series belongs to some role.
    assert.deepEqual(new Set([...of('harvester'), ...of('listen'), ...of('sweep')]), new Set(names));
  });

  it("the disk state gauge: 1 for each directory's state, 0 for its other states", () => {
    const s = diskStateSamples([
      { dir: '/a', freeBytes: 1, totalBytes: 2, state: 'in-rotation' },
      { dir: '/b', freeBytes: 1, totalBytes: 2, state: 'failed' },
    ]);
    const on = s.filter((x) => x.value === 1).map((x) => `${x.dir}:${x.state}`);
    assert.deepEqual(on, ['/a:in-rotation', '/b:failed']);
    assert.equal(s.filter((x) => x.dir === '/b').length, 5, 'every state, so a change shows as 1 -> 0');
  });

  // Found by a farmer's trial: a healthy sweep left failures_total{code="PF_BUSY"} 1, and the
  // suggested alert (increase(plotferry_failures_total[1h]) > 0) fired.
  it('a busy refusal is not a failure; a refused transfer is', async () => {
    const failures = async (code: string) =>
      (await series.failures.get()).values.find((v) => v.labels.code === code)?.value ?? 0;
    const busy = await failures('PF_BUSY');
    countReceived(false, 0, undefined, 'PF_BUSY');
    assert.equal(await failures('PF_BUSY'), busy);
    const io = await failures('PF_IO');
    countReceived(false, 10, undefined, 'PF_IO');
    assert.equal(await failures('PF_IO'), io + 1);
  });

  it('counts go nowhere until the series are loaded, then to them (a cron sweep never loads prom-client)', async () => {
    const total = async () => (await series.authRefusals.get()).values.reduce((a, v) => a + v.value, 0);
    const before = await total();
    metrics.authRefusals.inc();
    assert.equal(await total(), before + 1, 'bound once prom-series.ts is loaded');
  });

  it('the Grafana dashboard queries only metrics that exist', () => {
    const dash = fs.readFileSync(path.join(root, 'contrib/grafana/plotferry-dashboard.json'), 'utf8');
    const used = new Set(
      [...dash.matchAll(/plotferry_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')),
    );
    assert.ok(used.size >= 8);
    for (const u of used) assert.ok(names.includes(u), `${u} is not a metric`);
  });
});
