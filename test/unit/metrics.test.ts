/** The metric names: Prometheus conventions, and the shipped Grafana dashboard uses only real ones. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { registry } from '../../src/core/metrics.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('metrics', () => {
  const names = registry.getMetricsAsArray().map((m) => m.name);

  it('are plotferry_ names in base units, counters ending in _total, no plot name as a label', () => {
    for (const m of registry.getMetricsAsArray()) {
      assert.match(m.name, /^plotferry_[a-z0-9_]+$/);
      // prom-client's process and Node.js metrics keep their own (bounded) labels.
      if (/^plotferry_(process|nodejs)_/.test(m.name)) continue;
      if (String(m.type) === 'counter') assert.match(m.name, /_total$/, m.name);
      const labels = (m as unknown as { labelNames?: string[] }).labelNames ?? [];
      for (const l of labels) assert.ok(['outcome', 'code', 'dir', 'direction'].includes(l), `${m.name} label ${l}`);
    }
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
