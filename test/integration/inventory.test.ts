/** The harvester's plot index (farm/inventory.ts): exact plot bytes, and what changed by hand. */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { Inventory } from '../../src/farm/inventory.js';
import { checkPlotHeader, singlePlotGroupKey } from '../../src/wire/plot-header.js';
import { sampleHeader } from '../../src/demo/sample.js';
import { tmpDir, writeSamplePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';

describe('inventory', () => {
  const made: string[] = [];
  after(async () => {
    for (const d of made) await fsp.rm(d, { recursive: true, force: true });
  });

  // Regression: an empty directory showed "0 plots (40 B)": `du` counted the
  // directory itself and plotferry's hidden files as plot bytes.
  it('counts plot bytes only: an empty directory is 0 B; hidden records, locks and other files are not plots', async () => {
    const empty = await tmpDir('pf-inv-empty-');
    const d = await tmpDir('pf-inv-');
    made.push(empty, d);
    fs.writeFileSync(path.join(d, 'a.plot'), Buffer.alloc(1000));
    fs.writeFileSync(path.join(d, 'b.plot2'), Buffer.alloc(234));
    fs.writeFileSync(path.join(d, '.a.plot.xxh64'), 'x'.repeat(50));
    fs.writeFileSync(path.join(d, '.plotferry-receiver.lock'), 'x'.repeat(80));
    fs.writeFileSync(path.join(d, 'notes.txt'), Buffer.alloc(3000));
    fs.mkdirSync(path.join(d, 'sub.plot')); // a directory named like a plot is not one
    const inv = new Inventory(() => [empty, d], silentLogger());
    await inv.start();
    inv.stop();
    assert.deepEqual(inv.of(empty), {
      plots: 0,
      plotBytes: 0,
      otherBytes: 0,
      pos1Plots: 0,
      pos1Bytes: 0,
      pos2Plots: 0,
      pos2Bytes: 0,
      groups: 0,
    });
    const c = inv.of(d);
    assert.equal(c.plots, 2);
    assert.equal(c.plotBytes, 1234);
    assert.ok(c.otherBytes >= 3000 + 50 + 80, `other bytes ${c.otherBytes}`);
    assert.deepEqual([...inv.plotsIn(d).keys()].sort(), ['a.plot', 'b.plot2']);
  });

  it('keeps counts as plots land and go, and a scan catches a hand-made rm or copy', async () => {
    const d = await tmpDir('pf-inv-drift-');
    made.push(d);
    fs.writeFileSync(path.join(d, 'x.plot'), Buffer.alloc(100));
    const inv = new Inventory(() => [d], silentLogger());
    await inv.start();
    inv.stop();
    fs.writeFileSync(path.join(d, 'y.plot'), Buffer.alloc(50));
    const reading = inv.added(path.join(d, 'y.plot'), 50);
    assert.deepEqual([inv.of(d).plots, inv.of(d).plotBytes], [2, 150], 'counted at once, before its header is read');
    await reading;
    inv.removed(path.join(d, 'y.plot'));
    fs.rmSync(path.join(d, 'y.plot'));
    assert.deepEqual([inv.of(d).plots, inv.of(d).plotBytes], [1, 100]);
    // By hand: one removed, two copied in. The index is stale until the scan, then exact.
    fs.rmSync(path.join(d, 'x.plot'));
    fs.writeFileSync(path.join(d, 'p.plot'), Buffer.alloc(7));
    fs.writeFileSync(path.join(d, 'q.plot'), Buffer.alloc(8));
    await inv.rescan();
    assert.deepEqual([inv.of(d).plots, inv.of(d).plotBytes], [2, 15]);
  });

  // The replot's progress, by header where the name does not say.
  it('tells PoS1 from PoS2: *.plot by its header, *.plot2 by its name; an unreadable header is neither', async () => {
    const d = await tmpDir('pf-inv-pos-');
    made.push(d);
    writeSamplePlot(path.join(d, 'old-k32.plot'), 4096, 32);
    writeSamplePlot(path.join(d, 'old-bb.plot'), 8192, 32, 'bladebit-v2', { compression: 5 });
    writeSamplePlot(path.join(d, 'new.plot'), 1000, 28, 'pos2-v1'); // PoS2 under a PoS1 name
    writeSamplePlot(path.join(d, 'new.plot2'), 2000, 28, 'pos2-v1');
    fs.writeFileSync(path.join(d, 'junk.plot'), Buffer.alloc(300, 1));
    const inv = new Inventory(() => [d], silentLogger());
    await inv.start();
    inv.stop();
    const c = inv.of(d);
    assert.deepEqual([c.pos1Plots, c.pos1Bytes, c.pos2Plots, c.pos2Bytes, c.plots], [2, 12288, 2, 3000, 5]);
    // One that lands is counted at once (its header read for a *.plot).
    writeSamplePlot(path.join(d, 'landed.plot'), 500, 28, 'pos2-v1');
    await inv.added(path.join(d, 'landed.plot'), 500);
    assert.equal(inv.of(d).pos2Plots, 3);
    inv.removed(path.join(d, 'old-k32.plot'));
    assert.deepEqual([inv.of(d).pos1Plots, inv.of(d).pos1Bytes], [1, 8192]);
    await inv.added(path.join(d, 'new2.plot2'), 700);
    assert.deepEqual(inv.rates(), {
      pos2StoredLastHour: 1200,
      pos2StoredLastDay: 1200,
      pos1DeletedLastHour: 4096,
      pos1DeletedLastDay: 4096,
    });
  });

  // What a disk holds of each PoS2 plot group, for placement, kept like the counts.
  it("knows each disk's plot groups and meta-groups from the headers; a hand-made rm is caught by the scan", async () => {
    const d = await tmpDir('pf-inv-groups-');
    made.push(d);
    const memo = (b: number) => Buffer.alloc(128, b);
    const key = (b: number) => singlePlotGroupKey(2, memo(b));
    for (let i = 0; i < 3; i++)
      writeSamplePlot(path.join(d, `a${i}.plot2`), 2000, 28, 'pos2-v1', {
        memo: memo(0xa),
        metaGroup: 1,
        plotIndex: i,
      });
    writeSamplePlot(path.join(d, 'b0.plot2'), 2000, 28, 'pos2-v1', { memo: memo(0xb), metaGroup: 1 });
    writeSamplePlot(path.join(d, 'c0.plot2'), 2000, 28, 'pos2-v1', { memo: memo(0xc), metaGroup: 2 });
    writeSamplePlot(path.join(d, 'old.plot'), 2000, 32); // PoS1: no group
    fs.writeFileSync(path.join(d, 'junk.plot2'), Buffer.alloc(300, 1)); // PoS2 by name, no header
    const inv = new Inventory(() => [d], silentLogger());
    await inv.start();
    inv.stop();
    // The scan counts the PoS2 plots by name at once; their headers (groups) come after it.
    assert.equal(inv.of(d).pos2Plots, 6);
    await inv.headersRead();
    assert.equal(inv.of(d).groups, 3);
    assert.deepEqual(inv.groupIn(d, { key: key(0xa), meta: 1 }), { plots: 3, sameMeta: 1 }, 'group a: b shares meta 1');
    assert.deepEqual(inv.groupIn(d, { key: key(0xb), meta: 1 }), { plots: 1, sameMeta: 1 });
    assert.deepEqual(inv.groupIn(d, { key: key(0xe), meta: 1 }), { plots: 0, sameMeta: 2 }, 'a new group of meta 1');
    assert.deepEqual(inv.groupIn(d, { key: key(0xe), meta: 2 }), { plots: 0, sameMeta: 1 });
    assert.deepEqual(inv.groupIn(d, { key: key(0xe), meta: 7 }), { plots: 0, sameMeta: 0 });
    // A plot that lands is its group's at once, before its header is read.
    writeSamplePlot(path.join(d, 'e0.plot2'), 2000, 28, 'pos2-v1', { memo: memo(0xe), metaGroup: 7 });
    const reading = inv.added(path.join(d, 'e0.plot2'), 2000, 'the most free space', { key: key(0xe), meta: 7 });
    assert.equal(inv.groupIn(d, { key: key(0xe), meta: 7 }).plots, 1);
    await reading;
    assert.equal(inv.of(d).groups, 4);
    // The receiver read the header on the file's way to disk: the inventory takes it from there
    // (this one is not even on disk, so nothing was read), a PoS2 plot under a PoS1 name too.
    const head = sampleHeader('pos2-v1', { memo: memo(0xf), metaGroup: 9 });
    const pos2 = inv.of(d).pos2Plots;
    await inv.added(path.join(d, 'told.plot'), 3000, undefined, undefined, checkPlotHeader(head, 3000));
    assert.deepEqual(inv.groupIn(d, { key: key(0xf), meta: 9 }), { plots: 1, sameMeta: 0 });
    assert.equal(inv.of(d).pos2Plots, pos2 + 1);
    await inv.added(path.join(d, 'not-a-plot.plot'), 3000, undefined, undefined, null);
    assert.equal(inv.of(d).pos2Plots, pos2 + 1, 'told it is no plot: neither PoS1 nor PoS2');
    inv.removed(path.join(d, 'told.plot'));
    inv.removed(path.join(d, 'not-a-plot.plot'));
    assert.equal(inv.of(d).placed?.name, 'e0.plot2');
    assert.equal(inv.of(d).placed?.why, 'the most free space');
    // By hand: two of group a and all of group b removed. After the scan a has 1, b is gone.
    fs.rmSync(path.join(d, 'a0.plot2'));
    fs.rmSync(path.join(d, 'a1.plot2'));
    fs.rmSync(path.join(d, 'b0.plot2'));
    await inv.rescan();
    await inv.headersRead();
    assert.deepEqual(inv.groupIn(d, { key: key(0xa), meta: 1 }), { plots: 1, sameMeta: 0 });
    assert.deepEqual(inv.groupIn(d, { key: key(0xb), meta: 1 }), { plots: 0, sameMeta: 1 });
    assert.equal(inv.of(d).groups, 3);
    inv.removed(path.join(d, 'a2.plot2'));
    assert.deepEqual(inv.groupIn(d, { key: key(0xa), meta: 1 }), { plots: 0, sameMeta: 0 });
  });

  // A plot removed by hand was counted until the next scan, 10 minutes later.
  it('follows names that come and go between scans (a watch, no rescan); a replaced directory is watched again', async () => {
    const d = await tmpDir('pf-inv-watch-');
    made.push(d, `${d}-old`);
    for (const n of ['x', 'y']) writeSamplePlot(path.join(d, `${n}.plot`), 4096, 32);
    const inv = new Inventory(() => [d], silentLogger());
    await inv.start();
    after(() => inv.stop());
    assert.equal(inv.of(d).pos1Plots, 2);
    fs.rmSync(path.join(d, 'x.plot'));
    await waitFor(() => inv.of(d).plots === 1, 10_000, 'the rm to be counted');
    // A copy by hand lands under a temporary name, then takes its own: read by its header.
    writeSamplePlot(path.join(d, '.partial-copy'), 8192, 32, 'bladebit-v2');
    fs.renameSync(path.join(d, '.partial-copy'), path.join(d, 'z.plot'));
    await waitFor(() => inv.of(d).pos1Plots === 2, 10_000, 'the copy to be counted');
    assert.equal(inv.of(d).plotBytes, 4096 + 8192);
    // --replot's deletion, seen by the watch before the deleter says so: still counted as deleted.
    fs.rmSync(path.join(d, 'y.plot'));
    await waitFor(() => inv.of(d).plots === 1, 10_000, 'the second rm to be counted');
    inv.removed(path.join(d, 'y.plot'), 4096);
    assert.equal(inv.rates().pos1DeletedLastHour, 4096);
    // The directory is another one now (a disk remounted there): watched again from the scan on.
    fs.renameSync(d, `${d}-old`);
    fs.mkdirSync(d);
    writeSamplePlot(path.join(d, 'n.plot2'), 1000, 28, 'pos2-v1');
    await inv.rescan();
    assert.equal(inv.of(d).plots, 1);
    fs.rmSync(path.join(d, 'n.plot2'));
    await waitFor(() => inv.of(d).plots === 0, 10_000, 'the rm in the new directory to be counted');
  });
});
