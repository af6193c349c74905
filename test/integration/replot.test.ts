/**
 * `--replot`: a full disk of PoS1 plots takes PoS2 plots in a sweep, deleting only as
 * many PoS1 plots as each arrival needs, in order, never below the reserve, and never a PoS2
 * plot, a file that is not a plot, a file whose header cannot be read, or a plot being sent.
 * Real nats-server, a real tmpfs of fixed size (root; skipped otherwise), real headers.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decodeBus, encodeBus, subjects } from '../../src/bus/bus-messages.js';
import { request } from '../../src/bus/request.js';
import { silentLogger } from '../../src/core/log.js';
import { sampleHeader, writeSamplePlot } from '../../src/demo/sample.js';
import type { Harvester } from '../../src/farm/harvester-daemon.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import type { ReplotSettings } from '../../src/storage/replot.js';
import { isRoot, sha256, tmpDir, tmpfsDisk, writeRandomFile } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { waitFor } from '../helpers/listener.js';
import { captureLog } from '../helpers/log.js';
import { natsSuite } from '../helpers/nats-server.js';

const MiB = 2 ** 20;
const KiB = 1024;

describe('replot', { skip: !isRoot && 'needs root (a tmpfs of fixed size as the full disk)' }, () => {
  const suite = natsSuite();
  const { nats, cleanup } = suite;

  /**
   * A 64 MiB disk, full: 5 PoS1 plots of 8 MiB (P1 oldest ... P4, BladeBit C7 second oldest),
   * P1 with a sweep's lock beside it; older still, a .plot whose header is junk and a PoS2 plot
   * named .plot; a PoS2 .plot2 and a text file. About 10 MiB free.
   */
  async function fullDisk(label: string) {
    const d = await tmpfsDisk(`pf-replot-${label}-`, 64, cleanup);
    const t0 = Date.now() / 1000 - 86_400 * 400;
    const put = (name: string, mb: number, ageRank: number, write: (f: string, size: number) => void) => {
      const f = path.join(d, name);
      write(f, mb * MiB);
      fs.utimesSync(f, t0 + ageRank * 3600, t0 + ageRank * 3600);
    };
    // Hostile headers, older than everything: a parser that took any of them for PoS1 would
    // delete it first. A chiapos header with k 200, a BladeBit one whose memo is 65535 bytes
    // long in a 4 KiB file, and a chiapos magic cut short.
    const tiny = (name: string, ageRank: number, bytes: Buffer) => {
      const f = path.join(d, name);
      fs.writeFileSync(f, bytes);
      fs.utimesSync(f, t0 + ageRank * 3600, t0 + ageRank * 3600);
    };
    const k200 = Buffer.alloc(4096);
    sampleHeader('chiapos-v1', { k: 200 }).copy(k200);
    tiny('hostile-k200.plot', -3, k200);
    const memo = Buffer.alloc(4096);
    sampleHeader('bladebit-v2').copy(memo);
    memo.writeUInt16BE(65535, 41);
    tiny('hostile-memo.plot', -2, memo);
    tiny('hostile-cut.plot', -1, Buffer.from('Proof of Space Plot\x01\x02'));
    put('junk.plot', 4, 0, writeRandomFile); // unreadable header, the oldest of all
    put('pos2-named-old.plot', 4, 1, (f, s) => writeSamplePlot(f, s, 28, 'pos2-v1'));
    put('P1.plot', 8, 2, (f, s) => writeSamplePlot(f, s, 32));
    fs.writeFileSync(path.join(d, '.plotferry-lock-P1.plot'), ''); // a sweep here is sending P1
    put('BB1.plot', 8, 3, (f, s) => writeSamplePlot(f, s, 32, 'bladebit-v2', { compression: 7 }));
    put('P2.plot', 8, 4, (f, s) => writeSamplePlot(f, s, 32));
    put('P3.plot', 8, 5, (f, s) => writeSamplePlot(f, s, 32));
    put('P4.plot', 8, 6, (f, s) => writeSamplePlot(f, s, 32));
    put('Q1.plot2', 4, 7, (f, s) => writeSamplePlot(f, s, 28, 'pos2-v1'));
    put('notes.txt', 2, 8, writeRandomFile);
    return d;
  }

  async function farm(d: string, replot: ReplotSettings, id: string) {
    const nc = await nats();
    const c = captureLog();
    const h: Harvester = await startTestHarvester({
      nc,
      id,
      dirs: [d],
      reserveBytes: 4 * MiB,
      replot,
      prefix: id,
      log: c.log,
    });
    cleanup.push(() => h.close());
    return c;
  }

  async function arrivals(label: string, n: number) {
    const src = await tmpDir(`pf-replot-src-${label}-`);
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    const sums = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const f = path.join(src, `plot-k28-${label}-${i}.plot2`);
      writeSamplePlot(f, 2560 * KiB, 28, 'pos2-v1');
      sums.set(path.basename(f), await sha256(f));
    }
    return { src, sums };
  }

  /** One sweep of `src`, a plot at a time, on `prefix` (each test's own farm); `tries` per plot. */
  async function sweepOnce(src: string, prefix: string, tries?: number) {
    const nc = await nats();
    return sweep({ nc, dirs: [src], plotter: 'p-rp', prefix, minAgeMs: 0, concurrency: 1, tries, log: silentLogger() });
  }

  const free = (d: string) => {
    const s = fs.statfsSync(d);
    return s.bavail * s.bsize;
  };

  it('deletes only the PoS1 plots each arrival needs, oldest first, never below the reserve, never the wrong file', async () => {
    const d = await fullDisk('sweep');
    const c = await farm(d, { order: 'oldest' }, 'rp1');
    const { src, sums } = await arrivals('a', 8);
    const free0 = free(d);
    assert.ok(free0 > 9.5 * MiB && free0 < 10.5 * MiB, `the disk starts with ~10 MiB free (${free0})`);
    const items = await sweepOnce(src, 'rp1');
    assert.deepEqual(
      items.map((i) => i.status),
      Array(8).fill('sent'),
      JSON.stringify(items.map((i) => i.error)),
    );
    for (const [n, sum] of sums) assert.equal(await sha256(path.join(d, n)), sum, `${n} byte-exact`);
    // The same sums by hand: 2.5 MiB plots need 6.5 MiB with the reserve. Free goes 10 -> 7.5 -> 5;
    // the 3rd needs room: the oldest PoS1 that may go is BB1 (P1 is being sent): 13 -> 10.5 -> 8 ->
    // 5.5; the 6th needs room: P2. Then 13.5 -> 11 -> 8.5 -> 6.
    const deletions = c.lines.filter((l) => typeof l.deleted === 'string');
    assert.deepEqual(
      deletions.map((l) => [path.basename(l.deleted as string), l.for]),
      [
        ['BB1.plot', 'plot-k28-a-2.plot2'],
        ['P2.plot', 'plot-k28-a-5.plot2'],
      ],
    );
    assert.match(String(deletions[0]!.msg), /PoS1 bladebit-v2 k32 C7, 8\.0 MiB/);
    const left = fs.readdirSync(d).sort();
    for (const kept of [
      'hostile-k200.plot',
      'hostile-memo.plot',
      'hostile-cut.plot',
      'junk.plot',
      'pos2-named-old.plot',
      'P1.plot',
      'P3.plot',
      'P4.plot',
      'Q1.plot2',
      'notes.txt',
    ])
      assert.ok(left.includes(kept), `${kept} kept`);
    assert.ok(free(d) >= 4 * MiB, 'the reserve is still free');
  });

  it('--replot-dry-run deletes nothing and logs a plan: what would go for each plot, once, cumulative', async () => {
    const d = await fullDisk('dry');
    const c = await farm(d, { dryRun: true }, 'rp2');
    const { src } = await arrivals('b', 4);
    const before = fs.readdirSync(d).sort();
    const items = await sweepOnce(src, 'rp2');
    assert.deepEqual(
      items.map((i) => i.status),
      ['sent', 'sent', 'failed', 'failed'],
    );
    assert.equal(items[2]!.error?.code, 'PF_NO_SPACE');
    // The plotter hears why: a dry run, not a farm out of room.
    assert.match(
      items[2]!.error?.message ?? '',
      /rp2\S* runs --replot-dry-run: a real --replot would delete PoS1 plots/,
    );
    const notOurs = (n: string) => !n.includes('-b-') && n !== '.plotferry-ledger' && n !== '.plotferry-plot-index';
    assert.deepEqual(fs.readdirSync(d).filter(notOurs).sort(), before.filter(notOurs), 'nothing deleted');
    // Before, every announce (a plotter announces a declined plot again) named BB1 again.
    const plan = c.lines.map((l) => String(l.msg)).filter((m) => m.startsWith('replot dry run:'));
    assert.equal(plan.length, 2, plan.join('\n'));
    assert.match(
      plan[0]!,
      /plot-k28-b-2\.plot2 would land on .*, deleting BB1\.plot \(8\.0 MiB\); so far 1 plot\(s\) would have landed and 1 PoS1 plot\(s\) gone/,
    );
    assert.match(
      plan[1]!,
      /plot-k28-b-3\.plot2 would land on .*, in room an earlier deletion freed; so far 2 plot\(s\) would have landed and 1 PoS1 plot\(s\) gone/,
    );
  });

  // The plan counted every plot that came by and found no room, also those another harvester
  // then took: for those a real --replot would have deleted nothing.
  it('--replot-dry-run plans only plots no other harvester took: one stored elsewhere leaves the plan', async () => {
    const full = await fullDisk('elsewhere');
    writeRandomFile(path.join(full, 'other.bin'), 5 * MiB); // no room here without deleting
    const c = await farm(full, { dryRun: true }, 'rp6');
    const roomy = await tmpfsDisk('pf-replot-elsewhere-', 32, cleanup);
    const h = await startTestHarvester({ nc: await nats(), id: 'rp6-roomy', dirs: [roomy], prefix: 'rp6' });
    cleanup.push(() => h.close());
    const { src } = await arrivals('e', 2);
    const items = await sweepOnce(src, 'rp6');
    assert.deepEqual(
      items.map((i) => `${i.status}:${i.harvester}`),
      ['sent:rp6-roomy', 'sent:rp6-roomy'],
    );
    const plan = () => c.lines.map((l) => String(l.msg)).filter((m) => m.startsWith('replot dry run:'));
    const out = () => plan().filter((m) => m.includes('out of the plan'));
    await waitFor(() => out().length === 2, 10_000, 'both plots out of the plan');
    assert.deepEqual(
      out()
        .map((m) => /(plot-k28-e-\d)\.plot2 went to rp6-roomy: out of the plan/.exec(m)?.[1])
        .sort(),
      ['plot-k28-e-0', 'plot-k28-e-1'],
      plan().join('\n'),
    );
    // The first was planned deleting BB1; the second in the room that freed, whether or not the
    // first had gone out by then. BB1 stays planned as room; neither plot counts as landed.
    const lands = plan().filter((m) => m.includes('would land on'));
    assert.equal(lands.length, 2, plan().join('\n'));
    assert.match(lands[0]!, /plot-k28-e-0\.plot2 would land on .*, deleting BB1\.plot/);
    assert.match(lands[1]!, /plot-k28-e-1\.plot2 would land on .*, in room an earlier deletion freed/);
    assert.match(out()[1]!, /so far 0 plot\(s\) would have landed and 1 PoS1 plot\(s\) gone/);
  });

  it('--replot-dry-run: a plot it planned, then stored itself with room after all, leaves the plan', async () => {
    const full = await fullDisk('self');
    const other = path.join(full, 'other.bin');
    writeRandomFile(other, 5 * MiB);
    const c = await farm(full, { dryRun: true }, 'rp7');
    const { src } = await arrivals('s', 1);
    assert.deepEqual(
      (await sweepOnce(src, 'rp7', 1)).map((i) => i.error?.code),
      ['PF_NO_SPACE'],
    );
    await fsp.rm(other); // room again, by hand
    assert.deepEqual(
      (await sweepOnce(src, 'rp7')).map((i) => `${i.status}:${i.harvester}`),
      ['sent:rp7'],
    );
    // Said once the claim has ended, which may be just after the sweep heard the result.
    const lines = () => c.lines.map((l) => String(l.msg)).filter((m) => m.startsWith('replot dry run:'));
    await waitFor(() => lines().length >= 2, 10_000, 'the plot out of the plan');
    const plan = lines();
    assert.equal(plan.length, 2, plan.join('\n'));
    assert.match(plan[0]!, /plot-k28-s-0\.plot2 would land on .*, deleting BB1\.plot/);
    assert.match(
      plan[1]!,
      /plot-k28-s-0\.plot2 went to rp7 \(this harvester\): out of the plan; so far 0 plot\(s\) would have landed and 1 PoS1 plot\(s\) gone/,
    );
  });

  it('--replot-max-per-hour stops deleting: past the cap the plot is refused, the log says why', async () => {
    const d = await fullDisk('cap');
    const c = await farm(d, { maxPerHour: 1 }, 'rp3');
    const { src } = await arrivals('c', 6);
    const items = await sweepOnce(src, 'rp3', 1);
    assert.deepEqual(
      items.map((i) => i.status),
      ['sent', 'sent', 'sent', 'sent', 'sent', 'failed'],
    );
    assert.match(items[5]!.error?.message ?? '', /replot cap reached: 1 PoS1 plots deleted in the last hour/);
    assert.equal(c.lines.filter((l) => typeof l.deleted === 'string').length, 1);
  });

  it('two harvesters, one with free space and one only with PoS1 plots to give: the free space fills first', async () => {
    const full = await fullDisk('first');
    // Less free than a plot needs (6.5 MiB with the reserve): every arrival there must delete.
    writeRandomFile(path.join(full, 'other.bin'), 5 * MiB);
    const c = await farm(full, { order: 'oldest' }, 'rp4');
    // The other harvester: room for four 2.5 MiB plots above its 4 MiB reserve, on a disk fuller
    // (by share) than the PoS1 one, so that by fullness alone the PoS1 disk would bid first.
    const roomy = await tmpfsDisk('pf-replot-roomy-', 256, cleanup);
    writeRandomFile(path.join(roomy, 'other.bin'), 240 * MiB);
    const h = await startTestHarvester({
      nc: await nats(),
      id: 'rp4-roomy',
      dirs: [roomy],
      reserveBytes: 4 * MiB,
      prefix: 'rp4',
    });
    cleanup.push(() => h.close());
    const share = (d: string) => 1 - fs.statfsSync(d).bavail / fs.statfsSync(d).blocks;
    assert.ok(share(roomy) > share(full), `the free disk is the fuller one (${share(roomy)} > ${share(full)})`);
    const { src } = await arrivals('f', 8);
    const items = await sweepOnce(src, 'rp4');
    assert.deepEqual(
      items.map((i) => i.status),
      Array(8).fill('sent'),
    );
    const on = (d: string) => fs.readdirSync(d).filter((n) => n.startsWith('plot-k28-f-')).length;
    assert.deepEqual(
      items.slice(0, 4).map((i) => i.harvester),
      Array(4).fill('rp4-roomy'),
      'the first four went to the free space',
    );
    assert.deepEqual([on(roomy), on(full)], [4, 4]);
    // Then the PoS1 disk, deleting only as needed: 5 -> 13 (BB1) -> 10.5 -> 8 -> 5.5 -> 13.5 (P2).
    const deletions = c.lines.filter((l) => typeof l.deleted === 'string');
    assert.deepEqual(
      deletions.map((l) => [path.basename(l.deleted as string), l.for]),
      [
        ['BB1.plot', 'plot-k28-f-4.plot2'],
        ['P2.plot', 'plot-k28-f-7.plot2'],
      ],
    );
  });

  // Found when bidding overlapped a transfer: a free disk that was only busy (an HDD's fsync, or
  // another plot) lost to an idle disk that could take the plot only by deleting a PoS1 plot.
  it('a harvester with free space that is only busy is waited for; no PoS1 plot goes meanwhile', async () => {
    const full = await fullDisk('busy');
    writeRandomFile(path.join(full, 'other.bin'), 5 * MiB); // every arrival there must delete
    const c = await farm(full, { order: 'oldest' }, 'rp5');
    const roomy = await tmpfsDisk('pf-replot-busy-', 32, cleanup);
    const nc = await nats();
    const h = await startTestHarvester({
      nc,
      id: 'rp5-roomy',
      dirs: [roomy],
      prefix: 'rp5',
      maxTransfers: 1,
      claimTtlMs: 1_500,
    });
    cleanup.push(() => h.close());
    // Another plotter's claim holds the free harvester's only transfer slot for 1.5 s.
    const claimed = decodeBus(
      await request(
        nc,
        subjects('rp5').claim('rp5-roomy'),
        encodeBus({ kind: 'claim', v: 1, id: 'someone-else', name: 'plot-k28-other.plot2', size: MiB, plotter: 'p-x' }),
        5_000,
        'the claim',
      ),
      ['claimed', 'refused'],
    );
    assert.equal(claimed.kind, 'claimed');
    const { src } = await arrivals('w', 1);
    const items = await sweepOnce(src, 'rp5');
    assert.deepEqual(
      items.map((i) => `${i.status}:${i.harvester}`),
      ['sent:rp5-roomy'],
    );
    assert.equal(c.lines.filter((l) => typeof l.deleted === 'string').length, 0, 'no PoS1 plot deleted');
  });
});
