/**
 * Nothing lost at the plotter's end: a source is deleted only while it is the file whose bytes
 * were verified, and a plot is sent only when it is whole. Real processes, a real nats-server,
 * real plots written by Chia's own plotters (../shared/fixtures/real-plots) where they are at hand.
 *
 * Each test opens with the defect it guards against: each was hit by a farmer on an earlier build.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { ls, sha256, tmpDir, writeRandomFile, writeSamplePlot } from '../helpers/files.js';
import { startWebhook } from '../helpers/webhook.js';
import { startListener, TOKEN, waitFor } from '../helpers/listener.js';
import { natsSuite } from '../helpers/nats-server.js';
import { realPlots } from '../helpers/real-plots.js';
import { sendFile } from '../../src/transfer/sender.js';
import { PlotferryError } from '../../src/core/errors.js';
import { hashFile } from '../../src/transfer/hash.js';
import { writeHashRecord } from '../../src/storage/hash-records.js';

const MiB = 2 ** 20;
const real = realPlots();

describe('nothing lost: sources and whole plots', () => {
  const suite = natsSuite();
  const { nats, cleanup } = suite;
  const dir = async (label: string) => {
    const d = await tmpDir(`pf-${label}-`);
    cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
    return d;
  };
  const harvester = async (id: string, prefix: string) => {
    const d = await dir(`${id}-disk`);
    const h = await startTestHarvester({ nc: await nats(), id, prefix, dirs: [d] });
    cleanup.push(() => h.close());
    return { h, dir: d };
  };
  const published = (d: string) => ls(d).filter((f) => !f.startsWith('.'));
  /** A cron sweep of `src` on `prefix`'s farm, --min-age 0 and --json unless `extra` says more. */
  const sweepCli = (prefix: string, src: string, extra: string[] = []) =>
    runCli(['sweep', '--nats', suite.server.url, '--prefix', prefix, '--min-age', '0', '--json', ...extra, src]);

  it('a same-size change to a plot during `send --move` keeps the source (PF_SOURCE_CHANGED), and nothing is published', async () => {
    // Hit: only a size change was caught; the harvester kept the old bytes and the source,
    // holding the new ones, was deleted.
    const { dir: target } = await harvester('nl-change', 'nlchange');
    const src = await dir('nl-change-src');
    const f = path.join(src, 'plot-k28-change.plot2');
    writeSamplePlot(f, 24 * MiB, 28, 'pos2-v1');
    const send = startCli([
      'send',
      '--nats',
      suite.server.url,
      '--prefix',
      'nlchange',
      '--move',
      '--bwlimit',
      '4',
      '--json',
      f,
    ]);
    // Once bytes are arriving at the harvester, the plot is rewritten in place, same size.
    await waitFor(
      () =>
        fs
          .readdirSync(target)
          .some((n) => n.includes('plotferry') && n.includes('change') && fs.statSync(path.join(target, n)).size > 0),
      20_000,
      'the transfer to start',
    );
    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, Buffer.from('XXXXXXXX'), 0, 8, 1000);
    fs.closeSync(fd);
    const r = await send.done;
    assert.equal(r.code, 1, r.stderr);
    const [line] = jsonLines(r.stdout);
    assert.equal(line?.status, 'failed');
    assert.equal((line?.error as { code: string }).code, 'PF_SOURCE_CHANGED');
    assert.ok(fs.existsSync(f), 'the source is kept');
    assert.equal(fs.readFileSync(f).subarray(1000, 1008).toString(), 'XXXXXXXX');
    await waitFor(
      () => published(target).length === 0 && ls(target).every((n) => !n.endsWith('.tmp')),
      10_000,
      'no copy',
    );
    assert.deepEqual(published(target), [], 'no final name holds the mixed bytes');
  });

  it('a source removed by hand while it is sent is delivered whole (sourceGone), not refused and lost', async () => {
    // Hit: the unlink changed the open file's ctime, the plot failed PF_SOURCE_CHANGED "source
    // kept" with no source left, and the receiver's complete partial copy expired an hour later.
    const { dir: target } = await harvester('nl-gone', 'nlgone');
    const src = await dir('nl-gone-src');
    const f = path.join(src, 'plot-k28-gone.plot2');
    writeSamplePlot(f, 16 * MiB, 28, 'pos2-v1');
    const sum = await sha256(f);
    const send = startCli([
      'send',
      '--nats',
      suite.server.url,
      '--prefix',
      'nlgone',
      '--move',
      '--bwlimit',
      '4',
      '--json',
      f,
    ]);
    await waitFor(
      () => ls(target).some((n) => n.includes('gone') && fs.statSync(path.join(target, n)).size > 0),
      20_000,
      'the transfer to start',
    );
    fs.rmSync(f);
    const r = await send.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const [line] = jsonLines(r.stdout);
    assert.equal(line?.status, 'sent');
    assert.equal(line?.sourceGone, true);
    assert.equal(await sha256(path.join(target, 'plot-k28-gone.plot2')), sum, 'the plot is at the harvester, whole');
  });

  it('a plot given as a symbolic link is refused, and neither the link nor its target is touched', async () => {
    // Hit: the link was removed and the target stayed on the NVMe.
    const { dir: target } = await harvester('nl-link', 'nllink');
    const src = await dir('nl-link-src');
    const real1 = path.join(src, 'real', 'plot-k28-link.plot2');
    fs.mkdirSync(path.dirname(real1));
    writeSamplePlot(real1, MiB, 28, 'pos2-v1');
    const link = path.join(src, 'plot-k28-link.plot2');
    fs.symlinkSync(real1, link);
    const r = await runCli(['send', '--nats', suite.server.url, '--prefix', 'nllink', '--move', '--json', link]);
    assert.equal(r.code, 1, r.stderr);
    const [line] = jsonLines(r.stdout);
    assert.equal((line?.error as { code: string }).code, 'PF_SOURCE');
    assert.match((line?.error as { message: string }).message, /symbolic link/);
    const s = await sweepCli('nllink', src);
    assert.equal(s.code, 1, 'a link in a plot directory needs a human');
    const [item] = jsonLines(s.stdout);
    assert.equal(item?.status, 'skipped');
    assert.ok(fs.lstatSync(link).isSymbolicLink() && fs.existsSync(real1), 'link and target kept');
    assert.deepEqual(published(target), []);
  });

  it('a sweep that sends nothing says why: plots younger than --min-age, other names (it was silent)', async () => {
    await harvester('nl-young', 'nlyoung');
    const src = await dir('nl-young-src');
    writeSamplePlot(path.join(src, 'plot-k28-young.plot2'), MiB, 28, 'pos2-v1');
    fs.writeFileSync(path.join(src, 'plot-k28-young.plot2.tmp'), "a plotter's temporary");
    const r = await runCli(['sweep', '--nats', suite.server.url, '--prefix', 'nlyoung', '--min-age', '60', src]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /nothing to send: 1 plot written to within --min-age \(60 s; the first is ready in \d+ s\); 1 other name that --pattern '\*\.\{plot,plot2,gplot\}' does not take/,
    );
    const json = await runCli([
      'sweep',
      '--nats',
      suite.server.url,
      '--prefix',
      'nlyoung',
      '--min-age',
      '60',
      '--json',
      src,
    ]);
    assert.deepEqual(
      jsonLines(json.stdout).map((l) => [l.status, l.young, l.unmatched]),
      [['nothing-sent', 1, 1]],
    );
    assert.ok(fs.existsSync(path.join(src, 'plot-k28-young.plot2')));
  });

  it('files under plot names that are not plots (0 bytes, 10 bytes, random) are left; --any-file sends them', async () => {
    // Hit: all three were moved and their sources deleted.
    const { dir: target } = await harvester('nl-np', 'nlnp');
    const src = await dir('nl-np-src');
    fs.writeFileSync(path.join(src, 'empty.plot'), '');
    fs.writeFileSync(path.join(src, 'ten.plot2'), 'abcdefghij');
    writeRandomFile(path.join(src, 'random.plot'), 100_000);
    const hook = await startWebhook();
    cleanup.push(() => hook.close());
    const r = await sweepCli('nlnp', src, ['--notify', hook.url]);
    // A file that stays until a human looks tells the human (no webhook was sent).
    assert.ok(
      hook.bodies.some((b) => b.event === 'plot-failed' && /PF_NOT_A_PLOT/.test(String(b.message))),
      JSON.stringify(hook.bodies),
    );
    assert.equal(r.code, 1, 'files that are not plots need a human');
    const lines = jsonLines(r.stdout);
    // Nothing was offered, so the last line says why.
    assert.deepEqual(
      lines.slice(3).map((l) => [l.status, l.leftOut]),
      [['nothing-sent', 3]],
    );
    const items = lines.slice(0, 3);
    for (const i of items) {
      assert.equal(i.status, 'skipped', JSON.stringify(i));
      assert.equal((i.error as { code: string }).code, 'PF_NOT_A_PLOT');
    }
    assert.deepEqual(ls(src).sort(), ['empty.plot', 'random.plot', 'ten.plot2']);
    assert.deepEqual(published(target), []);
    const sum = await sha256(path.join(src, 'random.plot'));
    const any = await sweepCli('nlnp', src, ['--any-file', '--pattern', 'random.plot']);
    assert.equal(any.code, 0, any.stderr);
    assert.equal(await sha256(path.join(target, 'random.plot')), sum);
  });

  it(
    'a plot written in place in bursts is sent once, whole, by `sweep --watch` (never a cut copy)',
    { skip: real.skip },
    async () => {
      // Hit: `sweep --watch --min-age 3` beside a writer that wrote a plot in bursts sent the first
      // MiB to one harvester and deleted the source, the next 2 MiB to another, and so on.
      const { dir: t1 } = await harvester('nl-w1', 'nlwatch');
      const { dir: t2 } = await harvester('nl-w2', 'nlwatch');
      const src = await dir('nl-watch-src');
      const ref = real.plots.find((p) => p.pos === 2 && p.size > 2 * MiB) ?? real.plots.find((p) => p.pos === 2)!;
      const bytes = fs.readFileSync(ref.file);
      const f = path.join(src, ref.name);
      const old = new Date(Date.now() - 3_600_000);
      // The first burst: the header and a third of the plot, then the writer pauses (its mtime old).
      fs.writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length / 3)));
      fs.utimesSync(f, old, old);
      const w = startCli([
        'sweep',
        '--watch',
        '--nats',
        suite.server.url,
        '--prefix',
        'nlwatch',
        '--min-age',
        '3',
        '--json',
        '--scan-interval',
        '0.2',
        src,
      ]);
      cleanup.push(() => {
        w.child.kill('SIGKILL');
      });
      const lines = () => jsonLines((w.child as unknown as { _out?: string })._out ?? '');
      let out = '';
      w.child.stdout!.on('data', (c) => (out += c));
      void lines;
      await waitFor(
        () => jsonLines(out).some((i) => i.status === 'skipped'),
        20_000,
        'the watcher to leave the unwhole plot',
      );
      const [skipped] = jsonLines(out);
      assert.equal((skipped?.error as { code: string }).code, 'PF_INCOMPLETE');
      assert.deepEqual([...published(t1), ...published(t2)], [], 'nothing sent');
      assert.ok(fs.existsSync(f));
      // The rest arrives; once it is old enough, the plot moves, once.
      fs.appendFileSync(f, bytes.subarray(Math.floor(bytes.length / 3)));
      fs.utimesSync(f, old, old);
      await waitFor(() => jsonLines(out).some((i) => i.status === 'sent'), 30_000, 'the whole plot to be sent');
      w.child.kill('SIGTERM');
      const r = await w.done;
      assert.equal(r.code, 0, r.stderr.slice(-2000));
      const copies = [...published(t1).map((n) => path.join(t1, n)), ...published(t2).map((n) => path.join(t2, n))];
      assert.equal(copies.length, 1, `one copy: ${copies.join(' ')}`);
      assert.ok(fs.readFileSync(copies[0]!).equals(bytes), 'byte-exact');
      assert.ok(!fs.existsSync(f), 'the source went once stored');
      assert.equal(jsonLines(out).filter((i) => i.status === 'skipped').length, 1, 'said once, not every scan');
    },
  );

  it(
    'real plots (PoS1 and PoS2) sweep byte-exact; the same plots cut short stay on the plotter',
    { skip: real.skip },
    async () => {
      const { dir: target } = await harvester('nl-real', 'nlreal');
      const src = await dir('nl-real-src');
      const sums = new Map<string, string>();
      for (const p of real.plots) {
        fs.copyFileSync(p.file, path.join(src, p.name));
        sums.set(p.name, await sha256(p.file));
      }
      const cutOne = real.plots.find((p) => p.pos === 2)!;
      const cutName = cutOne.name.replace('.plot2', '-cut.plot2');
      fs.writeFileSync(path.join(src, cutName), fs.readFileSync(cutOne.file).subarray(0, Math.floor(cutOne.size / 2)));
      const r = await sweepCli('nlreal', src);
      assert.equal(r.code, 0, `a plot still being written is no failure: ${r.stderr.slice(-2000)}`);
      const items = jsonLines(r.stdout);
      assert.equal(items.find((i) => i.name === cutName)?.status, 'skipped');
      assert.deepEqual(ls(src), [cutName], 'only the cut plot is left');
      for (const [name, sum] of sums) assert.equal(await sha256(path.join(target, name)), sum, name);
    },
  );

  it(
    'a receiver refuses a plot whose header says it is longer, on its first buffer or before publishing it',
    { skip: real.skip },
    async () => {
      const src = await dir('nl-recv-src');
      const dst = await dir('nl-recv-dst');
      const l = await startListener({ dirs: [dst] });
      cleanup.push(() => l.close());
      const pos1 = real.plots.find((p) => p.pos === 1)!;
      const pos2 = real.plots.find((p) => p.pos === 2)!;
      // PoS1 cut before its last table: the first buffer shows it. PoS2 cut inside its last
      // chunk: only the end shows it (the chunk's length is there).
      for (const [p, n] of [
        [pos1, Math.floor(pos1.size / 2)],
        [pos2, pos2.size - 100],
      ] as const) {
        const f = path.join(src, `cut-${p.name}`);
        fs.writeFileSync(f, fs.readFileSync(p.file).subarray(0, n));
        // The library's sendFile checks nothing (an old or foreign sender): the receiver must.
        await assert.rejects(
          sendFile({ host: '127.0.0.1', port: l.port, token: TOKEN, file: f }),
          (e) => e instanceof PlotferryError && e.code === 'PF_INCOMPLETE',
        );
        const o = await l.nextOutcome();
        assert.equal(!o.ok && o.error.code, 'PF_INCOMPLETE');
      }
      await waitFor(() => ls(dst).every((n) => !n.includes('cut-')), 10_000, 'the temporary files to go');
      assert.deepEqual(published(dst), []);
    },
  );

  it('a copy whose hash record no longer holds (changed after it was stored) is not a verified duplicate', async () => {
    // Hit: a same-name, same-size copy that could not be vouched for was reported as a duplicate, exit 0.
    const { dir: target } = await harvester('nl-stale', 'nlstale');
    const src = await dir('nl-stale-src');
    const f = path.join(src, 'plot-k28-stale.plot2');
    writeSamplePlot(f, MiB, 28, 'pos2-v1');
    const copy = path.join(target, path.basename(f));
    fs.copyFileSync(f, copy);
    assert.ok(await writeHashRecord(copy, await hashFile(f)));
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(copy, later, later); // its record is of another mtime now
    const r = await sweepCli('nlstale', src);
    assert.equal(r.code, 1, r.stdout);
    const [item] = jsonLines(r.stdout);
    assert.equal(item?.status, 'failed');
    assert.equal((item?.error as { code: string }).code, 'PF_EXISTS');
    assert.match((item?.error as { message: string }).message, /cannot be verified/);
    assert.ok(fs.existsSync(f), 'source kept');
  });
});
