/**
 * What the farm is told matches what happened: `status` follows a plot removed by hand at once,
 * the plotter's "moved and verified" line names the disk the plot was written to, and a replot
 * that can free nothing says why (no ETA; PF_NO_SPACE with figures that compare as the sizes
 * do). Real nats-server, real files; the disks of fixed size are tmpfs (root; skipped otherwise).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { writeSamplePlot } from '../../src/demo/sample.js';
import { collectHeartbeats, formatStatus } from '../../src/plotter/farm-status.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { isRoot, tmpDir, tmpfsDisk } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { waitFor } from '../helpers/listener.js';
import { captureLog } from '../helpers/log.js';
import { natsSuite } from '../helpers/nats-server.js';

const MiB = 2 ** 20;
const needsRoot = !isRoot && 'needs root (tmpfs disks of fixed size)';

describe('what the farm is told', () => {
  const { nats, cleanup } = natsSuite();

  const dir = async (prefix: string) => {
    const d = await tmpDir(prefix);
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    return d;
  };

  /** `status` as a farmer runs it, on the harvester's own prefix. */
  const status = async (prefix: string) =>
    collectHeartbeats(await nats(), prefix, 3_000, silentLogger()).then((beats) => ({
      beats,
      text: formatStatus(beats),
    }));

  // The counts came from a scan every 10 minutes: a plot removed by hand was counted until then.
  it('a plot removed or copied in by hand shows in status within seconds, not at the next scan', async () => {
    const d = await dir('pf-rep-watch-');
    for (let i = 0; i < 3; i++) writeSamplePlot(path.join(d, `p${i}.plot2`), 64 * 1024, 28, 'pos2-v1');
    const h = await startTestHarvester({ nc: await nats(), id: 'w1', dirs: [d], prefix: 'w1' });
    cleanup.push(() => h.close());
    const plots = async () => (await status('w1')).beats[0]?.dirs[0]?.plots;
    assert.equal(await plots(), 3);
    fs.rmSync(path.join(d, 'p1.plot2'));
    await waitFor(async () => (await plots()) === 2, 15_000, 'status to count 2 plots after an rm');
    writeSamplePlot(path.join(d, '.copying'), 32 * 1024, 28, 'pos2-v1');
    fs.renameSync(path.join(d, '.copying'), path.join(d, 'copied.plot2'));
    await waitFor(async () => (await plots()) === 3, 15_000, 'status to count 3 plots after a copy');
    const { beats } = await status('w1');
    assert.equal(beats[0]!.dirs[0]!.plotBytes, 2 * 64 * 1024 + 32 * 1024);
  });

  // Found by a farmer's trial: two harvesters of a cloned image both answered as the host name;
  // status showed one or the other at random, without a word.
  it('two harvesters under one id: status says so, naming both', async () => {
    const d1 = await dir('pf-rep-dup1-');
    const d2 = await dir('pf-rep-dup2-');
    for (const d of [d1, d2]) {
      const h = await startTestHarvester({ nc: await nats(), id: 'twin', dirs: [d], prefix: 'twin' });
      cleanup.push(() => h.close());
    }
    const cap = captureLog('warn');
    await collectHeartbeats(await nats(), 'twin', 3_000, cap.log);
    const warned = cap.lines.filter((l) => /two harvesters answer as twin/.test(String(l.msg)));
    assert.equal(warned.length, 1, JSON.stringify(cap.lines));
    assert.ok(String(warned[0]!.msg).includes(d1) && String(warned[0]!.msg).includes(d2));
  });

  // Found by a farmer's trial: the list of PoS1 plots --replot may delete was cached for a minute,
  // so after an rm by hand a bid still promised room "PoS1 plots give way", then failed PF_NO_SPACE.
  it('--replot sees PoS1 plots removed or copied in by hand at once, not a minute later', async () => {
    const d = await dir('pf-rep-replot-watch-');
    writeSamplePlot(path.join(d, 'old-1.plot'), 64 * 1024, 32);
    const h = await startTestHarvester({
      nc: await nats(),
      id: 'rw1',
      dirs: [d],
      prefix: 'rw1',
      replot: { match: 'old-*' },
    });
    cleanup.push(() => h.close());
    const mayGo = async () => (await status('rw1')).beats[0]?.dirs[0]?.replot?.mayGoPlots;
    await waitFor(async () => (await mayGo()) === 1, 15_000, 'the PoS1 plot to be one that may go');
    fs.rmSync(path.join(d, 'old-1.plot'));
    await waitFor(async () => (await mayGo()) === 0, 15_000, '--replot to see it gone');
    writeSamplePlot(path.join(d, '.copying'), 64 * 1024, 32);
    fs.renameSync(path.join(d, '.copying'), path.join(d, 'old-2.plot'));
    await waitFor(async () => (await mayGo()) === 1, 15_000, '--replot to see the copy');
  });

  // In 6 of 15 lines `why` named the other disk: it was the bid's, said before any disk was
  // reserved, while the plot was written wherever the reservation (or a failover) put it.
  it(
    '"moved and verified" says why of the disk written, when it is not the disk the bid named',
    { skip: needsRoot },
    async () => {
      // Disk A has the most free space (the bid names it) but no inode left: the file cannot be
      // created there, so the harvester writes it to B.
      const a = await tmpDir('pf-rep-why-a-', '/tmp');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,nr_inodes=32', 'tmpfs', a]);
      cleanup.push(async () => {
        execFileSync('umount', [a]);
        await fsp.rm(a, { recursive: true, force: true });
      });
      const b = await tmpfsDisk('pf-rep-why-b-', 32, cleanup);
      const h = await startTestHarvester({ nc: await nats(), id: 'y1', dirs: [a, b], prefix: 'y1' });
      cleanup.push(() => h.close());
      for (let i = 0; ; i++) {
        try {
          fs.writeFileSync(path.join(a, `fill-${i}`), '');
        } catch (err) {
          assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
          break;
        }
      }
      const src = await dir('pf-rep-why-src-');
      writeSamplePlot(path.join(src, 'w.plot2'), 2 * MiB, 28, 'pos2-v1');
      const c = captureLog();
      const items = await sweep({
        nc: await nats(),
        dirs: [src],
        plotter: 'p-why',
        prefix: 'y1',
        minAgeMs: 0,
        log: c.log,
      });
      assert.equal(items[0]?.status, 'sent', JSON.stringify(items[0]?.error));
      const line = c.lines.find((l) => l.msg === 'moved and verified');
      assert.ok(line, c.text());
      assert.equal(path.dirname(String(line.remote)), b);
      assert.ok(String(line.why).startsWith(`${b}: `), `why names the disk written: ${String(line.why)}`);
      assert.match(String(line.why), new RegExp(`${a} failed \\(PF_DISK_FULL\\)`));
      // `status` says the same of the disk written.
      const { text } = await status('y1');
      const lines = text.split('\n');
      const bLine = lines.findIndex((l) => l.startsWith(`  ${b} `));
      assert.match(lines[bLine + 1] ?? '', new RegExp(`last: w\\.plot2 .*\\(${a} failed \\(PF_DISK_FULL\\); then `));
    },
  );

  // The everyday case: two plots bid for at once are both told "the most free space" of one
  // disk; the second is written to the other.
  it(
    "with plots sent two at a time to two disks, each line's why names the disk its plot is on",
    { skip: needsRoot },
    async () => {
      const a = await tmpfsDisk('pf-rep-two-a-', 48, cleanup);
      const b = await tmpfsDisk('pf-rep-two-b-', 40, cleanup);
      const h = await startTestHarvester({ nc: await nats(), id: 'y2', dirs: [a, b], prefix: 'y2' });
      cleanup.push(() => h.close());
      const src = await dir('pf-rep-two-src-');
      for (let i = 0; i < 6; i++) writeSamplePlot(path.join(src, `t${i}.plot`), MiB, 32);
      const c = captureLog();
      const items = await sweep({
        nc: await nats(),
        dirs: [src],
        plotter: 'p-two',
        prefix: 'y2',
        minAgeMs: 0,
        concurrency: 2,
        log: c.log,
      });
      assert.deepEqual(
        items.map((i) => i.status),
        Array(6).fill('sent'),
      );
      const moved = c.lines.filter((l) => l.msg === 'moved and verified');
      assert.equal(moved.length, 6);
      const disks = new Set(moved.map((l) => path.dirname(String(l.remote))));
      assert.equal(disks.size, 2, 'both disks took plots');
      for (const l of moved)
        assert.ok(
          String(l.why).startsWith(`${path.dirname(String(l.remote))}: `),
          `${String(l.remote)} is said to be there because "${String(l.why)}"`,
        );
    },
  );

  // A replot that could free nothing still got an ETA, and PF_NO_SPACE read "room for at most
  // 5.0 MiB" beside a 5.0 MiB plot.
  it(
    'a replot that can free nothing gets no ETA: status and PF_NO_SPACE say why, with figures that compare right',
    { skip: needsRoot },
    async () => {
      const d = await tmpfsDisk('pf-rep-stuck-', 24, cleanup);
      writeSamplePlot(path.join(d, 'new-1.plot'), 4 * MiB, 32); // PoS1, not matching --replot-match
      writeSamplePlot(path.join(d, 'old-1.plot'), 4 * MiB, 32); // PoS1, hard-linked
      fs.mkdirSync(path.join(d, 'keep'));
      fs.linkSync(path.join(d, 'old-1.plot'), path.join(d, 'keep', 'old-1.plot'));
      writeSamplePlot(path.join(d, 'old-2.plot'), 4 * MiB, 32); // PoS1, being sent by a sweep here
      fs.writeFileSync(path.join(d, '.plotferry-lock-old-2.plot'), '');
      const size = 5 * MiB;
      // The reserve leaves room for 8 KiB less than the plot: "5.0 MiB" both, rounded.
      const st = fs.statfsSync(d);
      const reserveBytes = st.bavail * st.bsize - (size - 8192);
      const h = await startTestHarvester({
        nc: await nats(),
        id: 's1',
        dirs: [d],
        prefix: 's1',
        reserveBytes,
        replot: { match: 'old-*' },
      });
      cleanup.push(() => h.close());
      const { text, beats } = await status('s1');
      assert.equal(beats[0]!.replot?.mode, 'on');
      assert.match(text, /^s1 .*replot on \(--replot-match old-\*\)$/m);
      assert.match(
        text,
        /replot: --replot can free nothing here: 1 \*\.plot file does not match --replot-match old-\*, 1 PoS1 plot is hard-linked \(deleting frees nothing\), 1 PoS1 plot is being sent by a sweep/,
      );
      assert.match(text, /no ETA: --replot may not delete the PoS1 plots left/);
      assert.doesNotMatch(text, /all PoS2 in/);

      const src = await dir('pf-rep-stuck-src-');
      writeSamplePlot(path.join(src, 'big.plot2'), size, 28, 'pos2-v1');
      const items = await sweep({
        nc: await nats(),
        dirs: [src],
        plotter: 'p-stuck',
        prefix: 's1',
        minAgeMs: 0,
        bidTimeoutMs: 1_000,
        log: silentLogger(),
      });
      assert.equal(items[0]?.status, 'failed');
      assert.equal(items[0]?.error?.code, 'PF_NO_SPACE');
      const msg = items[0].error.message;
      // (The harvester's own files took a page or two since the reserve was worked out.)
      const room = /\(5,242,880 bytes plus its reserve\): s1 has room for at most ([\d,]+) bytes/.exec(msg);
      assert.ok(room, msg);
      const roomBytes = Number(room[1]!.replaceAll(',', ''));
      assert.ok(roomBytes < size && roomBytes > size - 64 * 1024, msg);
      assert.match(msg, /--replot can free nothing here: 1 \*\.plot file does not match/, msg);
      assert.ok(fs.existsSync(path.join(src, 'big.plot2')), 'the source is kept');
    },
  );
});
