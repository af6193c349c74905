/**
 * Group-aware placement: the plots of one PoS2 plot group go to the disk that
 * holds that group while it has room (CHIP-48), across harvesters; when it fills, the next disk is
 * chosen and the logs and `status` say why. A plot whose group's disk is busy waits for it
 * instead of starting the group on a second disk. Real nats-server, two harvesters, tmpfs disks
 * of fixed size (root; skipped otherwise), real PoS2 headers sharing one memo.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import type { Harvester } from '../../src/farm/harvester-daemon.js';
import { collectHeartbeats, formatStatus } from '../../src/plotter/farm-status.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import type { ResultLine } from '../../src/plotter/result-line.js';
import { isRoot, sha256, tmpDir, tmpfsDisk, writeRandomFile, writeSamplePlot } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { captureLog } from '../helpers/log.js';
import { natsSuite } from '../helpers/nats-server.js';

const MiB = 2 ** 20;

describe('plot groups', { skip: !isRoot && 'needs root (tmpfs disks of fixed size)' }, () => {
  const suite = natsSuite();
  const { nats, cleanup } = suite;

  const disk = (label: string, mb: number) => tmpfsDisk(`pf-group-${label}-`, mb, cleanup);

  async function harvester(id: string, prefix: string, dirs: string[]) {
    const nc = await nats();
    const c = captureLog();
    const h: Harvester = await startTestHarvester({ nc, id, dirs, prefix, reserveBytes: MiB, log: c.log });
    cleanup.push(() => h.close());
    return c;
  }

  /** `n` plots of one group (one memo), `mb` MiB each, in a fresh source directory. */
  async function groupPlots(label: string, n: number, mb: number, memoByte: number, metaGroup: number) {
    const src = await tmpDir(`pf-group-src-${label}-`);
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    const sums = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const f = path.join(src, `plot-k28-${label}${String(i).padStart(2, '0')}.plot2`);
      writeSamplePlot(f, mb * MiB, 28, 'pos2-v1', { memo: Buffer.alloc(128, memoByte), metaGroup, plotIndex: i });
      sums.set(path.basename(f), await sha256(f));
    }
    return { src, sums };
  }

  async function sweepOnce(src: string, prefix: string, plotter: string, concurrency: number) {
    const nc = await nats();
    const c = captureLog();
    const items = await sweep({ nc, dirs: [src], plotter, prefix, minAgeMs: 0, concurrency, log: c.log });
    return { items, lines: c.lines };
  }

  const plotsIn = (d: string) => fs.readdirSync(d).filter((n) => n.endsWith('.plot2'));
  const free = (d: string) => {
    const s = fs.statfsSync(d);
    return s.bavail * s.bsize;
  };

  /** Every plot sent, sources gone, and each copy byte-exact on exactly one of `disks`. */
  async function landedOnce(items: ResultLine[], sums: Map<string, string>, disks: string[]) {
    assert.deepEqual(items.map((i) => `${i.name}:${i.status}`).sort(), [...sums.keys()].map((n) => `${n}:sent`).sort());
    for (const [name, sum] of sums) {
      const where = disks.filter((d) => fs.existsSync(path.join(d, name)));
      assert.equal(where.length, 1, `${name} is on exactly one disk (${where.join(', ')})`);
      assert.equal(await sha256(path.join(where[0]!, name)), sum, name);
    }
  }

  it("a group's plots land together, though other disks have more room; when its disk fills, the next is chosen and the logs say why", async () => {
    const [a, b, c] = [await disk('a', 20), await disk('b', 16), await disk('c', 24)];
    // h2's disk has the most room but is partly used (its bids come a little later).
    writeRandomFile(path.join(c, 'old-backup.tar'), 14 * MiB);
    const h1 = await harvester('g-h1', 'grp1', [a, b]);
    const h2 = await harvester('g-h2', 'grp1', [c]);
    const size = 3;
    const { src, sums } = await groupPlots('g', 10, size, 0x47, 1);
    const cap = Math.floor((free(a) - MiB) / (size * MiB));
    assert.equal(cap, 6, `the 20 MiB disk takes 6 plots of 3 MiB above its 1 MiB reserve (${free(a)} free)`);
    // Concurrency 2. Without the group rule the plots alternate between a and b (most free first).
    const { items, lines } = await sweepOnce(src, 'grp1', 'p-g1', 2);
    await landedOnce(items, sums, [a, b, c]);
    assert.deepEqual([plotsIn(a).length, plotsIn(b).length, plotsIn(c).length], [cap, 10 - cap, 0]);
    // Why, in the harvester's claim lines, in order: a fresh group, its disk, full, its new disk.
    const whys = h1.lines.filter((l) => String(l.msg).startsWith('claimed: ')).map((l) => String(l.why));
    const fresh = 'the most free space with no other group of meta-group 1';
    assert.deepEqual(whys, [
      fresh,
      ...Array.from({ length: cap - 1 }, (_, k) => `holds ${k + 1} plot(s) of its group`),
      `its group's disk ${a} is full: ${fresh}`,
      ...Array.from({ length: 10 - cap - 1 }, (_, k) => `holds ${k + 1} plot(s) of its group`),
    ]);
    assert.equal(h2.lines.filter((l) => String(l.msg).startsWith('claimed: ')).length, 0);
    // And in the plotter's log: each move with the winning bid's why.
    const sent = lines.filter((l) => l.msg === 'moved and verified').map((l) => String(l.why));
    assert.equal(sent.length, 10);
    assert.equal(sent.filter((w) => w === `${b}: its group's disk ${a} is full: ${fresh}`).length, 1, sent.join(' | '));
    // `status`: the disk's groups, and why its last plot went there.
    const text = formatStatus(await collectHeartbeats(await nats(), 'grp1', 3_000, silentLogger()));
    assert.match(
      text,
      new RegExp(
        `  ${b}  .*  1 group\n    last: plot-k28-g\\d\\d\\.plot2 at [0-9:]+ UTC \\(holds ${10 - cap - 1} plot\\(s\\) of its group\\)`,
      ),
      text,
    );
  });

  it("a plot whose group's disk is busy waits for it (two plotters at once); a group copied in by hand is known", async () => {
    const [a, b, c] = [await disk('wa', 24), await disk('wb', 32), await disk('wc', 32)];
    // The group starts on the smallest disk: one of its plots copied there by hand before start.
    writeSamplePlot(path.join(a, 'plot-k28-w-seed.plot2'), 2 * MiB, 28, 'pos2-v1', {
      memo: Buffer.alloc(128, 0x57),
      metaGroup: 4,
    });
    await harvester('w-h1', 'grp2', [a, b]);
    await harvester('w-h2', 'grp2', [c]);
    const one = await groupPlots('w1', 4, 2, 0x57, 4);
    const two = await groupPlots('w2', 4, 2, 0x57, 4);
    // Two plotters send plots of that group at the same time: one of them finds the disk busy.
    const [r1, r2] = await Promise.all([sweepOnce(one.src, 'grp2', 'p-w1', 2), sweepOnce(two.src, 'grp2', 'p-w2', 2)]);
    await landedOnce(r1.items, one.sums, [a, b, c]);
    await landedOnce(r2.items, two.sums, [a, b, c]);
    assert.equal(plotsIn(a).length, 9, `all on the group's disk (${a}), though ${b} and ${c} have more room`);
    assert.deepEqual([plotsIn(b).length, plotsIn(c).length], [0, 0]);
  });

  it('a plot waiting for its group leaves its --concurrency slot to a plot of another group', async () => {
    const [a, b] = [await disk('sa', 32), await disk('sb', 32)];
    const h = await harvester('s-h1', 'grp4', [a, b]);
    const src = await tmpDir('pf-group-src-s-');
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    // Sent in name order: three plots of one group, then one of another.
    for (let i = 0; i < 3; i++)
      writeSamplePlot(path.join(src, `plot-k28-s-a${i}.plot2`), 4 * MiB, 28, 'pos2-v1', {
        memo: Buffer.alloc(128, 0x53),
        metaGroup: 5,
        plotIndex: i,
      });
    writeSamplePlot(path.join(src, 'plot-k28-s-b0.plot2'), 4 * MiB, 28, 'pos2-v1', {
      memo: Buffer.alloc(128, 0x54),
      metaGroup: 6,
    });
    const { items } = await sweepOnce(src, 'grp4', 'p-s', 2);
    assert.deepEqual(
      items.map((i) => i.status),
      ['sent', 'sent', 'sent', 'sent'],
    );
    // Concurrency 2: one plot of group a goes (a0 or a1: the two workers race to the gate); the
    // others wait for their group (its gate, then its busy disk) without a slot, so b0 takes the
    // second one. Holding slots, they kept b0 back until a second plot of a was on its way.
    const stored = h.lines.filter((l) => l.msg === 'stored').map((l) => path.basename(String(l.path)));
    const groupA = stored.filter((n) => n.startsWith('plot-k28-s-a'));
    assert.ok(
      stored.indexOf('plot-k28-s-b0.plot2') < stored.indexOf(groupA[1]!),
      `stored in this order: ${stored.join(', ')}`,
    );
    const home = plotsIn(a).includes('plot-k28-s-a0.plot2') ? a : b;
    assert.deepEqual(plotsIn(home).sort(), ['plot-k28-s-a0.plot2', 'plot-k28-s-a1.plot2', 'plot-k28-s-a2.plot2']);
    assert.deepEqual(plotsIn(home === a ? b : a), ['plot-k28-s-b0.plot2']);
  });

  it('plots of different groups are not held back by each other, and each is a group of its own', async () => {
    const [a, b] = [await disk('ma', 24), await disk('mb', 24)];
    await harvester('m-h1', 'grp3', [a, b]);
    const src = await tmpDir('pf-group-src-m-');
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    // As chia writes them today: a fresh master key per plot, meta-group 0.
    for (let i = 0; i < 4; i++) writeSamplePlot(path.join(src, `plot-k28-m${i}.plot2`), 2 * MiB, 28, 'pos2-v1');
    const { items } = await sweepOnce(src, 'grp3', 'p-m', 2);
    assert.deepEqual(
      items.map((i) => i.status),
      ['sent', 'sent', 'sent', 'sent'],
    );
    // Spread by free space, two and two: no group binds them to one disk.
    assert.deepEqual([plotsIn(a).length, plotsIn(b).length], [2, 2]);
  });
});
