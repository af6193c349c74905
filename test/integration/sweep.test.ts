/** `plotferry sweep` as cron runs it: real processes, a real nats-server, harvesters bidding. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { NO_GROUP, sampleHeader, sampleTables } from '../../src/demo/sample.js';
import { Pacer } from '../../src/transfer/pace.js';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { isRoot, ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { natsSuite } from '../helpers/nats-server.js';
import { assertResultLines } from '../helpers/result-lines.js';
import { startWebhook } from '../helpers/webhook.js';

const MiB = 2 ** 20;

describe('sweep', () => {
  const suite = natsSuite();
  const { nats, cleanup } = suite;

  /** A directory, on its own small tmpfs when root (so disks really are separate). */
  const disk = async (label: string, ownFs: boolean): Promise<string> => {
    const d = await tmpDir(`pf-${label}-`, ownFs ? '/tmp' : undefined);
    if (ownFs) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', d]);
    cleanup.push(async () => {
      if (ownFs) execFileSync('umount', [d]);
      await fsp.rm(d, { recursive: true, force: true });
    });
    return d;
  };
  const harvester = async (id: string, dirs: string[], prefix = 'plotferry') => {
    const nc = await nats();
    const h = await startTestHarvester({
      nc,
      id,
      prefix,
      dirs,
    });
    cleanup.push(() => h.close());
    return h;
  };
  const plots = async (label: string, n: number, size: (i: number) => number) => {
    const d = await tmpDir(`pf-${label}-`);
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    const sums = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const f = path.join(d, `plot-k32-${label}-${String(i).padStart(2, '0')}.plot`);
      writePlot(f, size(i));
      sums.set(path.basename(f), await sha256(f));
    }
    return { dir: d, sums };
  };
  const sweepCli = (dir: string, extra: string[] = []) =>
    runCli(['sweep', '--nats', suite.server.url, '--min-age', '0', '--json', '--concurrency', '2', ...extra, dir]);

  it('3 harvesters x 2 disks, 2 plotters, 12 plots at once: each arrives once, byte-exact, spread', async () => {
    const own = isRoot;
    const hdirs: string[][] = [];
    for (const id of ['hs-1', 'hs-2', 'hs-3']) {
      const ds = [await disk(`${id}-a`, own), await disk(`${id}-b`, own)];
      hdirs.push(ds);
      await harvester(id, ds);
    }
    // Each plot fills 15% of a 40 MiB disk, so fullness (up to +50 ms of bid delay) moves ~7 ms
    // per plot: a signal above the bid jitter of a loaded 2-core machine. With plots of 2 MiB on
    // 64 MiB disks (1.5 ms a plot) one harvester took 7 of 12 in 1 run of ~30.
    const p1 = await plots('p1', 6, (i) => 6 * MiB + i * 4099);
    const p2 = await plots('p2', 6, (i) => 6 * MiB + i * 8191);
    const [r1, r2] = await Promise.all([
      sweepCli(p1.dir, ['--plotter-id', 'plotter-1']),
      sweepCli(p2.dir, ['--plotter-id', 'plotter-2']),
    ]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    assertResultLines([...jsonLines(r1.stdout), ...jsonLines(r2.stdout)]);
    assert.deepEqual(ls(p1.dir), [], 'sources removed');
    assert.deepEqual(ls(p2.dir), []);
    const landed = new Map<string, string[]>();
    for (const d of hdirs.flat()) for (const f of ls(d)) landed.set(f, [...(landed.get(f) ?? []), path.join(d, f)]);
    const want = new Map([...p1.sums, ...p2.sums]);
    assert.equal(landed.size, 12, `landed: ${[...landed.keys()].join(' ')}`);
    for (const [name, sum] of want) {
      const copies = landed.get(name) ?? [];
      assert.equal(copies.length, 1, `${name} exactly once`);
      assert.equal(await sha256(copies[0]!), sum);
    }
    const perDisk = hdirs.flat().map((d) => ls(d).length);
    if (own) {
      // 12 plots over 6 disks: a share of 2, none more than one over.
      assert.ok(Math.max(...perDisk) <= 3, `per disk: ${perDisk.join(' ')}`);
      assert.ok(
        hdirs.every((ds) => ds.some((d) => ls(d).length > 0)),
        `every harvester got plots; per disk: ${perDisk.join(' ')}`,
      );
    }
  });

  it('NATS stopped and restarted mid-sweep: the running transfer finishes, the rest go once it is back', async () => {
    const target = await disk('restart-h', false);
    const nc = await nats({ maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const h = await startTestHarvester({
      nc,
      id: 'hs-restart',
      prefix: 'restart',
      dirs: [target],
    });
    cleanup.push(() => h.close());
    const p = await plots('rs', 3, () => 192 * MiB);
    const sweeping = startCli([
      'sweep',
      '--nats',
      suite.server.url,
      '--prefix',
      'restart',
      '--min-age',
      '0',
      '--json',
      '--concurrency',
      '1',
      p.dir,
    ]);
    await waitFor(() => ls(target).some((f) => f.endsWith('.partial')), 20_000, 'the first transfer to start');
    await suite.server.stop();
    // NATS stays down until the sweep has seen it go and the running transfer has ended, so the
    // next plot comes up while it is away.
    await waitFor(
      () => sweeping.stderr().includes('NATS disconnected') && ls(target).some((f) => p.sums.has(f)),
      30_000,
      'the sweep to see NATS go, and the running transfer to end',
    );
    await suite.server.restart();
    const r = await sweeping.done;
    const items = jsonLines(r.stdout);
    assert.ok(
      items.some((i) => i.status === 'sent'),
      'the transfer running during the outage finished',
    );
    // Every plot is in exactly one place, whole: at its source, or at the harvester.
    for (const [name, sum] of p.sums) {
      const atSource = fs.existsSync(path.join(p.dir, name));
      const atHarvester = fs.existsSync(path.join(target, name));
      assert.notEqual(atSource, atHarvester, `${name}: source ${atSource}, harvester ${atHarvester}`);
      assert.equal(await sha256(path.join(atSource ? p.dir : target, name)), sum);
    }
    assert.equal(r.code, 0, `all went once NATS was back: ${r.stderr.slice(-2000)}`);
    assert.deepEqual(ls(p.dir), []);
  });

  it('two sweeps of one directory at once send each plot once', async () => {
    const target = await disk('overlap-h', false);
    await harvester('hs-overlap', [target], 'overlap');
    const p = await plots('ov', 6, () => MiB + 17);
    const [a, b] = await Promise.all([
      sweepCli(p.dir, ['--prefix', 'overlap']),
      sweepCli(p.dir, ['--prefix', 'overlap']),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const items = [...jsonLines(a.stdout), ...jsonLines(b.stdout)];
    for (const name of p.sums.keys()) {
      assert.equal(items.filter((i) => i.name === name && i.status === 'sent').length, 1, `${name} sent once`);
    }
    assert.deepEqual(ls(target).sort(), [...p.sums.keys()].sort());
    assert.deepEqual(ls(p.dir), [], 'no lock files or sources left');
  });

  it('a plot a harvester already holds, unverifiable (copied in by hand), is kept and the sweep fails', async () => {
    // Once a "duplicate" with exit 0: nobody showed the copy is this plot, and nothing moved.
    const target = await disk('dup-h', false);
    await harvester('hs-dup', [target], 'dup');
    const p = await plots('dup', 1, () => 5000);
    const [name] = [...p.sums.keys()];
    fs.copyFileSync(path.join(p.dir, name!), path.join(target, name!));
    const r = await sweepCli(p.dir, ['--prefix', 'dup']);
    assert.equal(r.code, 1, r.stderr);
    const [item] = jsonLines(r.stdout);
    assert.equal(item?.status, 'failed');
    assert.equal((item?.error as { code: string }).code, 'PF_EXISTS');
    assert.equal(item?.harvester, 'hs-dup');
    assert.ok(fs.existsSync(path.join(p.dir, name!)), 'source kept');
  });

  it('a plot stored before its plotter died, source not yet deleted: verified by hash, then the source goes', async () => {
    const target = await disk('dup2-h', false);
    await harvester('hs-dup2', [target], 'dup2');
    const p = await plots('dup2', 2, () => 300_000);
    const names = [...p.sums.keys()];
    const first = await sweepCli(p.dir, ['--prefix', 'dup2']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(ls(p.dir), []);
    // As if the plotter died after RESULT but before deleting: the sources are back.
    for (const n of names) fs.copyFileSync(path.join(target, n), path.join(p.dir, n));
    // And one is a different file that happens to have the name and size.
    const other = path.join(p.dir, names[1]!);
    writePlot(other, 300_000);
    const hook = await startWebhook();
    const r = await sweepCli(p.dir, ['--prefix', 'dup2', '--notify', hook.url]);
    await hook.close();
    // ... and a conflict is a webhook too (none was sent).
    assert.ok(
      hook.bodies.some((b) => b.event === 'plot-failed' && /PF_EXISTS/.test(String(b.message))),
      JSON.stringify(hook.bodies),
    );
    // Regression: a different file under the plot's name was a "duplicate"
    // with exit 0, so nobody was told.
    assert.equal(r.code, 1, r.stderr);
    const items = new Map(jsonLines(r.stdout).map((i) => [i.name as string, i]));
    assert.equal(items.get(names[0]!)?.status, 'duplicate');
    assert.equal(items.get(names[0]!)?.sourceRemoved, true, 'identical: the source is removed');
    assert.equal(items.get(names[1]!)?.status, 'failed', 'different bytes: a conflict for a human');
    assert.equal((items.get(names[1]!)?.error as { code: string }).code, 'PF_EXISTS');
    assert.equal(items.get(names[1]!)?.sourceRemoved, false, 'different bytes: the source is kept');
    assert.deepEqual(ls(p.dir), [names[1]]);
    assert.equal(await sha256(path.join(target, names[0]!)), p.sums.get(names[0]!), 'the copy is untouched');
  });

  // Regression: `sweep` of a harvester's own directory deleted 40 of 41 plots,
  // each "already held, verified identical": the held copy was the source itself.
  it("a sweep of a harvester's own directory, or of a path that leads back to it, removes nothing", async () => {
    const target = await disk('self-h', false);
    await harvester('hs-self', [target], 'self');
    const p = await plots('self', 3, () => 200_000 + 1);
    assert.equal((await sweepCli(p.dir, ['--prefix', 'self'])).code, 0);
    const names = [...p.sums.keys()];
    assert.deepEqual(ls(target), names);
    const ways = [target];
    if (isRoot) {
      // What an NFS mount or a bind mount looks like: the same directory under another path.
      const bound = await tmpDir('pf-self-bind-');
      execFileSync('mount', ['--bind', target, bound]);
      cleanup.push(async () => {
        execFileSync('umount', [bound]);
        await fsp.rm(bound, { recursive: true, force: true });
      });
      ways.push(bound);
    }
    for (const dir of ways) {
      const r = await sweepCli(dir, ['--prefix', 'self']);
      assert.equal(r.code, 1, `${dir}: a sweep that found its own plots "held" must not exit 0`);
      const items = jsonLines(r.stdout);
      assert.equal(items.length, names.length);
      for (const i of items) {
        assert.equal(i.status, 'failed', JSON.stringify(i));
        assert.equal((i.error as { code: string }).code, 'PF_SAME_FILE');
      }
      assert.deepEqual(ls(target), names, 'every plot is still there');
      for (const n of names) assert.equal(await sha256(path.join(target, n)), p.sums.get(n));
    }
  });

  it('--dry-run lists and sends nothing; --min-age leaves fresh plots alone', async () => {
    const p = await plots('dry', 2, () => 100);
    const old = Date.now() / 1000 - 3600;
    fs.utimesSync(path.join(p.dir, 'plot-k32-dry-00.plot'), old, old);
    fs.writeFileSync(path.join(p.dir, 'not-a-plot.tmp'), 'x');
    const r = await runCli(['sweep', '--nats', suite.server.url, '--dry-run', '--min-age', '60', p.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /would send .*plot-k32-dry-00\.plot/);
    assert.doesNotMatch(r.stdout, /dry-01|not-a-plot/);
    assert.equal(ls(p.dir).length, 3);
  });

  // PoS2 plots are plot-k28-<id>.plot2 (chia-blockchain's create_plots.py); the default
  // pattern took only *.plot.
  it('by default a sweep takes PoS1 *.plot and PoS2 *.plot2 plots, nothing else', async () => {
    const d = await tmpDir('pf-pos2-names-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    const id = 'ab'.repeat(32);
    for (const f of [`plot-k28-${id}.plot2`, 'plot-k32-old.plot', 'notes.plot2.txt', '.hidden.plot2', 'x.plot22'])
      writePlot(path.join(d, f), 100);
    const r = await runCli(['sweep', '--nats', suite.server.url, '--dry-run', '--min-age', '0', '--json', d]);
    assert.equal(r.code, 0, r.stderr);
    const names = jsonLines(r.stdout)
      .map((i) => i.name)
      .sort();
    assert.deepEqual(names, [`plot-k28-${id}.plot2`, 'plot-k32-old.plot']);
  });

  it('--bwlimit caps all plots of a sweep together', async () => {
    const d = await disk('bw', false);
    await harvester('h-bw', [d], 'bw');
    const p = await plots('bw', 4, () => 2_000_000);
    const nc = await nats();
    const t0 = performance.now();
    const items = await sweep({
      nc,
      dirs: [p.dir],
      plotter: 'p-bw',
      prefix: 'bw',
      minAgeMs: 0,
      concurrency: 2,
      pacer: new Pacer(8e6),
      log: silentLogger(),
    });
    const seconds = (performance.now() - t0) / 1000;
    assert.deepEqual(
      items.map((i) => i.status),
      ['sent', 'sent', 'sent', 'sent'],
    );
    for (const [n, sum] of p.sums) assert.equal(await sha256(path.join(d, n)), sum);
    // 8 MB at 8 MB/s, the last 512 KiB write booked at >= 0.93 s. Two plots at a time each with
    // its own cap would take about half that.
    assert.ok(seconds >= 0.9, `took ${seconds.toFixed(2)} s`);
  });

  it('--bwlimit that is not a rate is a config error', async () => {
    const r = await runCli(['sweep', '--nats', suite.server.url, '--bwlimit', '0', '/nonexistent']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PF_CONFIG: --bwlimit "0": give megabytes per second/);
  });

  // Regression: one missing DIR made the whole sweep give up.
  it('one DIR missing: the others are swept, the missing one is said (JSON line, log), exit 1', async () => {
    const d = await tmpDir('pf-missdir-h-');
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    await harvester('h-missdir', [d], 'missdir');
    const p = await plots('missdir', 2, () => 1000);
    const missing = path.join(p.dir, 'not-mounted');
    const r = await runCli([
      'sweep',
      '--nats',
      suite.server.url,
      '--prefix',
      'missdir',
      '--min-age',
      '0',
      '--json',
      missing,
      p.dir,
    ]);
    assert.equal(r.code, 1, r.stderr);
    const lines = jsonLines(r.stdout);
    const bad = lines.find((l) => l.status === 'unreadable') as {
      dir: string;
      error: { code: string; message: string };
    };
    assert.equal(bad.dir, missing);
    assert.equal(bad.error.code, 'PF_SOURCE');
    assert.match(bad.error.message, /does not exist/);
    assert.equal(lines.filter((l) => l.status === 'sent').length, 2, 'the readable directory was swept');
    assert.deepEqual(
      ls(d)
        .filter((n) => n.endsWith('.plot'))
        .sort(),
      [...p.sums.keys()].sort(),
    );
    assert.match(r.stderr, /1 directory could not be read/);
  });

  it('no harvester with room: exit 1, sources kept', async () => {
    const p = await plots('nobid', 2, () => 100);
    const quickSweep = (pattern: string) =>
      runCli([
        'sweep',
        '--nats',
        suite.server.url,
        '--min-age',
        '0',
        '--json',
        '--retries',
        '0',
        '--bid-timeout',
        '0.3',
        '--pattern',
        pattern,
        p.dir,
      ]);
    const r = await quickSweep('*.nothing-bids');
    assert.equal(r.code, 0, 'a pattern that matches nothing is not a failure');
    // A whole plot of 1 TiB as its header tells, sparse: no disk here has room.
    const huge = path.join(p.dir, 'huge.plot');
    const head = sampleHeader('pos2-v1', NO_GROUP);
    fs.writeFileSync(huge, Buffer.concat([head, sampleTables('pos2-v1', head.length, 2 ** 40)]));
    fs.truncateSync(huge, 2 ** 40);
    const r2 = await quickSweep('huge.plot');
    assert.equal(r2.code, 1);
    const [item] = jsonLines(r2.stdout);
    assert.equal(item?.status, 'failed');
    // Every harvester answered that it has no room: that, not "no bid", is the cause.
    assert.equal((item?.error as { code: string }).code, 'PF_NO_SPACE');
    assert.match((item?.error as { message: string }).message, /no harvester has room for huge\.plot/);
    assert.ok(fs.existsSync(path.join(p.dir, 'huge.plot')));
  });
});
