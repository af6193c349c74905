/** The harvester's plot index (farm/inventory.ts): exact plot bytes, and what changed by hand. */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { Inventory } from '../../src/farm/inventory.js';
import { tmpDir, writeSamplePlot } from '../helpers/files.js';

describe('inventory', () => {
  const made: string[] = [];
  after(async () => {
    for (const d of made) await fsp.rm(d, { recursive: true, force: true });
  });

  // Regression (issue 15, item 13): an empty directory showed "0 plots (40 B)": `du` counted the
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
    inv.added(path.join(d, 'y.plot'), 50);
    assert.deepEqual([inv.of(d).plots, inv.of(d).plotBytes], [2, 150]);
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

  // Issue 13: the replot's progress, by header where the name does not say.
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
    inv.added(path.join(d, 'landed.plot'), 500);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(inv.of(d).pos2Plots, 3);
    inv.removed(path.join(d, 'old-k32.plot'));
    assert.deepEqual([inv.of(d).pos1Plots, inv.of(d).pos1Bytes], [1, 8192]);
    inv.added(path.join(d, 'new2.plot2'), 700);
    assert.deepEqual(inv.rates(), {
      pos2StoredLastHour: 1200,
      pos2StoredLastDay: 1200,
      pos1DeletedLastHour: 4096,
      pos1DeletedLastDay: 4096,
    });
  });
});
