/**
 * Plots written by Chia's own plotters (chiapos k18 PoS1, pos2-chip k18/k20 PoS2;
 * ../shared/fixtures/real-plots), through a real sweep, a real harvester and nats-server: every
 * copy byte-exact, `status` counting both kinds, and a replot onto a full disk of real PoS1 plots.
 * Skipped, saying why, where the fixtures are absent. The fixtures are read-only: each test sends
 * copies. All their PoS2 plots carry pos2-chip's zero memo, so they form one group per strength
 * (real chia memos differ per plot).
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { writeSamplePlot } from '../../src/demo/sample.js';
import type { Harvester, HarvesterOptions } from '../../src/farm/harvester-daemon.js';
import { collectHeartbeats, formatStatus } from '../../src/plotter/farm-status.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { isRoot, sha256, tmpDir, tmpfsDisk } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { captureLog } from '../helpers/log.js';
import { natsSuite } from '../helpers/nats-server.js';
import { realPlots, type RealPlot } from '../helpers/real-plots.js';

const KiB = 1024;
const real = realPlots();
const pos1 = real.plots.filter((p) => p.pos === 1);
const pos2 = real.plots.filter((p) => p.pos === 2);

describe('real plots', { skip: real.skip }, () => {
  const suite = natsSuite();
  const { nats, cleanup } = suite;

  /** Copies of `plots` in a new directory (mtimes a day apart, oldest first), with their sha256. */
  async function copies(label: string, plots: readonly RealPlot[], base?: string) {
    const dir = base ?? (await tmpDir(`pf-real-${label}-`));
    if (!base) cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const sums = new Map<string, string>();
    const t0 = Date.now() / 1000 - 86_400 * 100;
    for (const [i, p] of plots.entries()) {
      const f = path.join(dir, p.name);
      await fsp.copyFile(p.file, f);
      await fsp.chmod(f, 0o644);
      fs.utimesSync(f, t0 + i * 86_400, t0 + i * 86_400);
      sums.set(p.name, await sha256(p.file));
    }
    return { dir, sums };
  }

  async function harvester(dirs: string[], id: string, extra: Partial<HarvesterOptions> = {}) {
    const c = captureLog();
    const h: Harvester = await startTestHarvester({ nc: await nats(), id, dirs, prefix: id, log: c.log, ...extra });
    cleanup.push(() => h.close());
    return c;
  }

  async function sweepAll(src: string, prefix: string) {
    return sweep({
      nc: await nats(),
      dirs: [src],
      plotter: `p-${prefix}`,
      prefix,
      minAgeMs: 0,
      concurrency: 2,
      log: silentLogger(),
    });
  }

  it('a sweep by default moves real PoS2 plots and a group file, every copy byte-exact; status counts both kinds', async () => {
    const { dir: src, sums } = await copies('src', pos2);
    // No group file has been published yet: a sample one, with a chunk index as pos2-chip writes it.
    const gplot = 'plot-k18-group-0000.gplot';
    writeSamplePlot(path.join(src, gplot), 96 * KiB, 18, 'pos2-group', { groupSize: 1 });
    sums.set(gplot, await sha256(path.join(src, gplot)));
    const { dir: disk } = await copies('disk', pos1);
    await harvester([disk], 'real1');
    const items = await sweepAll(src, 'real1');
    assert.deepEqual(
      items.map((i) => [path.basename(i.file), i.status]).sort(),
      [...sums.keys()].map((n) => [n, 'sent']).sort(),
      JSON.stringify(items.map((i) => i.error)),
    );
    for (const [n, sum] of sums) assert.equal(await sha256(path.join(disk, n)), sum, `${n} byte-exact`);
    assert.deepEqual(fs.readdirSync(src), [], 'every source removed after its copy was verified');

    const beats = await collectHeartbeats(await nats(), 'real1', 3_000, silentLogger());
    const d = beats[0]!.dirs[0]!;
    const bytes = (ps: readonly RealPlot[]) => ps.reduce((a, p) => a + p.size, 0);
    assert.deepEqual(
      [d.pos1Plots, d.pos1Bytes, d.pos2Plots, d.pos2Bytes],
      [pos1.length, bytes(pos1), pos2.length + 1, bytes(pos2) + 96 * KiB],
    );
    // One group per strength among the real plots (their memos are all zero), and the group file's.
    const strengths = new Set(pos2.map((p) => fs.readFileSync(p.file).subarray(0, 64)[38])).size;
    assert.equal(d.groups, strengths + 1);
    assert.match(
      formatStatus(beats),
      new RegExp(`farm: PoS1 ${pos1.length} plots .* PoS2 ${pos2.length + 1} plots`),
      formatStatus(beats),
    );
  });

  it(
    '--replot: real PoS1 plots give way to real PoS2 plots, oldest first, and only as many as needed',
    { skip: !isRoot && 'needs root (a tmpfs of fixed size as the full disk)' },
    async () => {
      // The four k18 PoS1 plots take ~15.3 MiB of a 16 MiB disk: full for the PoS2 arrivals.
      const disk = await tmpfsDisk('pf-real-replot-', 16, cleanup);
      const { sums: pos1Sums } = await copies('p1', pos1, disk);
      const oldestFirst = pos1.map((p) => p.name); // copies() dates them in this order
      const { dir: src, sums } = await copies('arrivals', pos2);
      const c = await harvester([disk], 'real2', { reserveBytes: 256 * KiB, replot: { order: 'oldest' } });
      const items = await sweepAll(src, 'real2');
      assert.deepEqual(
        items.map((i) => i.status),
        pos2.map(() => 'sent'),
        JSON.stringify(items.map((i) => i.error)),
      );
      for (const [n, sum] of sums) assert.equal(await sha256(path.join(disk, n)), sum, `${n} byte-exact`);
      const deleted = c.lines.filter((l) => typeof l.deleted === 'string').map((l) => path.basename(String(l.deleted)));
      // 6 arrivals of ~4.1 MiB in all: two PoS1 plots must go, and the oldest go first.
      assert.ok(deleted.length >= 1 && deleted.length <= 2, `deleted: ${deleted.join(', ')}`);
      assert.deepEqual(deleted, oldestFirst.slice(0, deleted.length));
      for (const l of c.lines.filter((l) => typeof l.deleted === 'string'))
        assert.match(String(l.msg), /PoS1 chiapos-v1 k18/);
      // The PoS1 plots that stayed are untouched.
      for (const n of oldestFirst.slice(deleted.length))
        assert.equal(await sha256(path.join(disk, n)), pos1Sums.get(n), `${n} kept whole`);
      const s = fs.statfsSync(disk);
      assert.ok(s.bavail * s.bsize >= 256 * KiB, 'the reserve is still free');
    },
  );
});
