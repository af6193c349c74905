/**
 * The plot index (storage/plot-index.ts): a restart reads no header it read before, and an index
 * that is cut, garbled, stale, from a newer version or not writable is rebuilt or worked around.
 *
 * That a restart reads no header is shown without timing: between the two starts every plot's
 * header is overwritten with zeros, its size, inode and mtime kept. A harvester that read the
 * headers again would count no PoS1 plot and no group.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Heartbeat } from '../../src/bus/bus-messages.js';
import { DirPlotIndex, headerIn, PLOT_INDEX_NAME, SAVE_DELAY_MS } from '../../src/storage/plot-index.js';
import { Replotter } from '../../src/storage/replot.js';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { isRoot, tmpDir, tmpfsDisk, writeSamplePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { captureLog } from '../helpers/log.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';

/** Whole seconds: utimes keeps them exactly, so the index's key (mtime in ns) survives a rewrite. */
const MTIME = 1_700_000_000;

/** Zeros over the header, size, inode and mtime kept: the file the index knows, unreadable as a plot. */
function wipeHeader(file: string): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.alloc(512), 0, 512, 0);
  fs.closeSync(fd);
  fs.utimesSync(file, MTIME, MTIME);
}

/** A PoS1 plot `a.plot` and a PoS2 plot `b.plot2` in `d`, mtimes in whole seconds. */
function twoPlots(d: string): void {
  writeSamplePlot(path.join(d, 'a.plot'), 4096, 32);
  writeSamplePlot(path.join(d, 'b.plot2'), 4096, 28, 'pos2-v1', { memo: Buffer.alloc(128, 1) });
  for (const n of ['a.plot', 'b.plot2']) fs.utimesSync(path.join(d, n), MTIME, MTIME);
}

const lstat = (f: string) => fsp.lstat(f, { bigint: true });

/** Each plot of `d` through a freshly opened index (a restart): its headers, and how many were read. */
async function restart(d: string, log = captureLog().log) {
  const index = await DirPlotIndex.open(d, log);
  const found = index.found;
  const pos: Record<string, number> = {};
  for (const n of ['a.plot', 'b.plot2']) pos[n] = (await headerIn(index, n, await lstat(path.join(d, n))))?.pos ?? 0;
  await index.flush();
  return { pos, reads: index.headerReads, found };
}

describe('plot index', () => {
  const made: string[] = [];
  after(async () => {
    for (const d of made) await fsp.rm(d, { recursive: true, force: true });
  });
  const dir = async () => {
    const d = await tmpDir('pf-pidx-');
    made.push(d);
    return d;
  };

  it('a restart reads no header it read before, and believes the index over the file', async () => {
    const d = await dir();
    twoPlots(d);
    assert.deepEqual(await restart(d), { pos: { 'a.plot': 1, 'b.plot2': 2 }, reads: 2, found: 'missing' });
    assert.ok(fs.existsSync(path.join(d, PLOT_INDEX_NAME)));
    for (const n of ['a.plot', 'b.plot2']) wipeHeader(path.join(d, n));
    assert.deepEqual(await restart(d), { pos: { 'a.plot': 1, 'b.plot2': 2 }, reads: 0, found: 'read' });
  });

  for (const [what, spoil, found] of [
    ['cut short', (t: string) => t.slice(0, t.length - 7), 'truncated'],
    ['garbage', () => '\u0000\u0013 not an index at all \uffff\n', 'garbage'],
    ['from a newer version', (t: string) => t.replace(/^plotferry-plot-index 1 /, 'plotferry-plot-index 9 '), 'future'],
  ] as const) {
    it(`an index ${what} is rebuilt from the headers, said once in the log`, async () => {
      const d = await dir();
      twoPlots(d);
      await restart(d);
      const file = path.join(d, PLOT_INDEX_NAME);
      fs.writeFileSync(file, spoil(fs.readFileSync(file, 'utf8')));
      const c = captureLog();
      assert.deepEqual(await restart(d, c.log), { pos: { 'a.plot': 1, 'b.plot2': 2 }, reads: 2, found });
      assert.equal(c.lines.filter((l) => /plot index: .*rebuilt/.test(String(l.msg))).length, 1, c.text());
      // Rebuilt: the next start reads nothing again.
      assert.deepEqual(await restart(d), { pos: { 'a.plot': 1, 'b.plot2': 2 }, reads: 0, found: 'read' });
    });
  }

  it('a stale entry (the file replaced under its name, same size and mtime) is read again', async () => {
    const d = await dir();
    twoPlots(d);
    await restart(d);
    // A PoS2 plot now where the PoS1 one was: a new inode, the same size and mtime.
    const tmp = path.join(d, 'new.tmp');
    writeSamplePlot(tmp, 4096, 28, 'pos2-v1');
    fs.utimesSync(tmp, MTIME, MTIME);
    fs.renameSync(tmp, path.join(d, 'a.plot'));
    assert.deepEqual(await restart(d), { pos: { 'a.plot': 2, 'b.plot2': 2 }, reads: 1, found: 'read' });
    // Rewritten in place, its mtime moved: read again too.
    writeSamplePlot(path.join(d, 'b.plot2'), 4096, 32);
    fs.utimesSync(path.join(d, 'b.plot2'), MTIME, MTIME + 0.5);
    assert.deepEqual(await restart(d), { pos: { 'a.plot': 2, 'b.plot2': 1 }, reads: 1, found: 'read' });
  });

  it('waits before writing changes: many plots landing are one write', async () => {
    const d = await dir();
    twoPlots(d);
    const index = await DirPlotIndex.open(d);
    for (const n of ['a.plot', 'b.plot2']) await headerIn(index, n, await lstat(path.join(d, n)));
    assert.equal(fs.existsSync(path.join(d, PLOT_INDEX_NAME)), false, `not written before ${SAVE_DELAY_MS} ms`);
    await index.flush();
    assert.equal(fs.existsSync(path.join(d, PLOT_INDEX_NAME)), true);
    assert.deepEqual(
      fs.readdirSync(d).filter((n) => n.endsWith('.partial')),
      [],
      'no temporary file left',
    );
  });

  it('writes nothing into a directory that is another one now (its disk unmounted: the bare mount point)', async () => {
    const d = await dir();
    twoPlots(d);
    const index = await DirPlotIndex.open(d);
    for (const n of ['a.plot', 'b.plot2']) await headerIn(index, n, await lstat(path.join(d, n)));
    fs.renameSync(d, `${d}.away`);
    made.push(`${d}.away`);
    fs.mkdirSync(d);
    await index.flush();
    assert.deepEqual(fs.readdirSync(d), []);
  });

  it('a read-only disk: the index cannot be written, said once; headers still known (root: mounts a tmpfs)', async (t) => {
    if (!isRoot) return t.skip('needs root to mount a read-only tmpfs');
    const cleanup: (() => unknown)[] = [];
    try {
      const d = await tmpfsDisk('pf-pidx-ro-', 4, cleanup);
      twoPlots(d);
      execFileSync('mount', ['-o', 'remount,ro', d]);
      const c = captureLog();
      const index = await DirPlotIndex.open(d, c.log);
      for (let i = 0; i < 2; i++) {
        for (const n of ['a.plot', 'b.plot2']) index.delete(n);
        for (const n of ['a.plot', 'b.plot2']) await headerIn(index, n, await lstat(path.join(d, n)));
        await index.flush();
      }
      assert.equal(c.lines.filter((l) => /cannot be written/.test(String(l.msg))).length, 1, c.text());
      assert.equal(index.headerReads, 4);
      assert.equal(fs.existsSync(path.join(d, PLOT_INDEX_NAME)), false);
    } finally {
      for (const f of cleanup.reverse()) await f();
    }
  });
});

describe('plot index: --replot', () => {
  it("lists PoS1 plots from the index, but reads a victim's header again before it is deleted", async () => {
    const d = await tmpDir('pf-pidx-replot-');
    try {
      for (const n of ['x.plot', 'y.plot']) {
        writeSamplePlot(path.join(d, n), 4096, 32);
        fs.utimesSync(path.join(d, n), MTIME, MTIME);
      }
      assert.equal((await new Replotter({ log: captureLog().log }).summary(d)).mayGoPlots, 2);
      // The headers wiped, the files kept: a new list (another replotter, as after a restart) reads none.
      for (const n of ['x.plot', 'y.plot']) wipeHeader(path.join(d, n));
      const c = captureLog();
      const replot = new Replotter({ log: c.log });
      assert.equal((await replot.summary(d)).mayGoPlots, 2, 'both from the index');
      // Just before it goes, each is read again: no longer PoS1 by its header, so neither goes.
      await assert.rejects(
        replot.makeRoom(d, 'new.plot2', () => Promise.resolve(100)),
        /PF_NO_SPACE|still .* short/,
      );
      assert.deepEqual(
        fs
          .readdirSync(d)
          .filter((n) => n.endsWith('.plot'))
          .sort(),
        ['x.plot', 'y.plot'],
      );
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });
});

describe('plot index: a harvester restart (processes)', () => {
  let server: NatsServer;
  const made: string[] = [];
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server.stop();
    for (const d of made) await fsp.rm(d, { recursive: true, force: true });
  });

  const N = 24;
  const statusOf = async (id: string) => {
    const r = await runCli(['status', '--nats', server.url, '--wait', '1', '--json']);
    return (jsonLines(r.stdout).find((b) => b.harvester === id) as unknown as Heartbeat | undefined)?.dirs[0];
  };
  const start = async (d: string) => {
    const h = startCli(['harvester', '--nats', server.url, '--id', 'pidx', '--host', '127.0.0.1', '--dir', d]);
    await waitFor(() => /header\(s\) read/.test(h.stderr()), 15_000, 'the first scan');
    return h;
  };

  it(`reads none of ${N} plots' headers on a restart: every count and group comes from the index`, async () => {
    const d = await tmpDir('pf-pidx-h-');
    made.push(d);
    // Two thirds PoS2 in 4 groups, a third PoS1 under *.plot.
    for (let i = 0; i < N; i++) {
      const f = path.join(d, i % 3 === 0 ? `old-${i}.plot` : `new-${i}.plot2`);
      if (i % 3 === 0) writeSamplePlot(f, 4096, 32);
      else writeSamplePlot(f, 4096, 28, 'pos2-v1', { memo: Buffer.alloc(128, i % 4), metaGroup: i % 4 });
      fs.utimesSync(f, MTIME, MTIME);
    }
    const want = { plots: N, pos1Plots: N / 3, pos2Plots: (2 * N) / 3, groups: 4 };
    const pick = (s: Heartbeat['dirs'][number] | undefined) =>
      s && { plots: s.plots, pos1Plots: s.pos1Plots, pos2Plots: s.pos2Plots, groups: s.groups };

    const first = await start(d);
    try {
      assert.match(first.stderr(), new RegExp(`${N} plot\\(s\\), ${N} header\\(s\\) read`));
      assert.deepEqual(pick(await statusOf('pidx')), want);
    } finally {
      first.child.kill('SIGTERM');
      assert.equal((await first.done).code, 0);
    }
    assert.ok(fs.existsSync(path.join(d, PLOT_INDEX_NAME)), 'the index is written');
    for (const n of fs.readdirSync(d)) if (!n.startsWith('.')) wipeHeader(path.join(d, n));

    const second = await start(d);
    try {
      assert.match(second.stderr(), new RegExp(`${N} plot\\(s\\), 0 header\\(s\\) read`));
      // The same plot names as the index holds: not a plot is looked at (no lstat either).
      assert.match(second.stderr(), /0 header\(s\) read, no plot looked at \(the index holds every name listed\)/);
      assert.deepEqual(pick(await statusOf('pidx')), want, 'PoS1, PoS2 and groups as before, from the index');
    } finally {
      second.child.kill('SIGTERM');
      assert.equal((await second.done).code, 0);
    }

    // A plot copied in by hand while the harvester was down: the names differ, every plot
    // is looked at, and only the new plot's header is read.
    const extra = path.join(d, 'new-extra.plot2');
    writeSamplePlot(extra, 4096, 28, 'pos2-v1', { memo: Buffer.alloc(128, 9), metaGroup: 1 });
    const third = await start(d);
    try {
      assert.match(third.stderr(), new RegExp(`${N + 1} plot\\(s\\), 1 header\\(s\\) read`));
      assert.doesNotMatch(third.stderr(), /no plot looked at/);
      assert.deepEqual(pick(await statusOf('pidx')), {
        ...want,
        plots: N + 1,
        pos2Plots: want.pos2Plots + 1,
        groups: 5,
      });
    } finally {
      third.child.kill('SIGTERM');
      assert.equal((await third.done).code, 0);
    }
  });
});
