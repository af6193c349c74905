/**
 * The per-file waits of a sweep: `has` answered by every harvester so the plotter
 * stops waiting once all it knows have answered, and `free` waking plotters that wait on busy
 * disks. Real nats-server, real harvesters.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { decodeBus, encodeBus, subjects } from '../../src/bus/bus-messages.js';
import type { Harvester } from '../../src/farm/harvester-daemon.js';
import { FreeSignal } from '../../src/plotter/free-signal.js';
import { HolderRoster } from '../../src/plotter/holder-roster.js';
import { sendByBidding } from '../../src/plotter/bidding.js';
import { HeldError } from '../../src/plotter/held-verdict.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { saveRoster } from '../../src/plotter/roster-file.js';
import { silentLogger } from '../../src/core/log.js';
import { writeHashRecord } from '../../src/storage/hash-records.js';
import { hashFile } from '../../src/transfer/hash.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { tmpDir, writePlot } from '../helpers/files.js';
import { natsSuite } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/listener.js';

describe('has and free', () => {
  const { nats, cleanup } = natsSuite();
  const harvester = async (id: string, prefix: string): Promise<{ h: Harvester; dir: string }> => {
    const dir = await tmpDir(`pf-has-${id}-`);
    cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const h = await startTestHarvester({ nc: await nats(), id, dirs: [dir], prefix });
    cleanup.push(() => h.close());
    return { h, dir };
  };

  it('every harvester answers; the roster finds the holder and learns who answers', async () => {
    const prefix = 'has1';
    const a = await harvester('ha', prefix);
    await harvester('hb', prefix);
    await harvester('hc', prefix);
    fs.writeFileSync(path.join(a.dir, 'held.plot'), 'x'.repeat(10));
    const roster = new HolderRoster(await nats(), prefix, 2_000);
    assert.equal(await roster.ask('nobody.plot', 10, 'ab'.repeat(8)), undefined);
    const held = await roster.ask('held.plot', 10, 'ab'.repeat(8));
    assert.equal(held?.harvester, 'ha');
    assert.equal(held?.beside, 'absent');
    assert.equal(await roster.ask('held.plot', 11, 'ab'.repeat(8)), undefined, 'another size is not held');
  });

  // The early stop must never skip a holder the roster knows: a slow one is waited for.
  it('a known harvester that answers late is waited for, not skipped', async () => {
    const prefix = 'has2';
    await harvester('fast-1', prefix);
    await harvester('fast-2', prefix);
    const slow = await nats();
    let slowHolds = false;
    slow.subscribe(subjects(prefix).has, {
      callback: (_e, m) => {
        const q = decodeBus(m.data, ['has']);
        const answer = slowHolds
          ? encodeBus({ kind: 'held', v: 1, harvester: 'slow', path: `/d/${q.name}`, size: q.size, beside: 'absent' })
          : encodeBus({ kind: 'not-held', v: 1, harvester: 'slow' });
        setTimeout(() => m.respond(answer), slowHolds ? 300 : 0);
      },
    });
    await slow.flush();
    const roster = new HolderRoster(await nats(), prefix, 3_000);
    assert.equal(await roster.ask('p.plot', 5, 'cd'.repeat(8)), undefined, 'first query: learns fast-1, fast-2, slow');
    slowHolds = true;
    const held = await roster.ask('p.plot', 5, 'cd'.repeat(8));
    assert.equal(held?.harvester, 'slow', 'the two fast "not held" answers did not end the wait');
  });

  /** Counts the `has` queries seen on `prefix`. */
  const countHas = async (prefix: string) => {
    const nc = await nats();
    const seen = { n: 0 };
    nc.subscribe(subjects(prefix).has, { callback: () => void seen.n++ });
    await nc.flush();
    return seen;
  };
  const sources = async (n: number) => {
    const src = await tmpDir('pf-has-src-');
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    const files = Array.from({ length: n }, (_, i) => path.join(src, `plot-k28-has-${i}.plot2`));
    for (const f of files) writePlot(f, 5000);
    return { src, files };
  };

  // One round trip less per plot: the announce itself tells who holds a plot.
  it('a sweep asks `has` for its first plot only; an announce finds a held copy after that', async () => {
    const prefix = 'has4';
    const a = await harvester('h4a', prefix);
    const b = await harvester('h4b', prefix);
    const { src, files } = await sources(5);
    // h4b holds plot 3 already, stored by plotferry (with its recorded hash): a duplicate.
    const dup = path.join(b.dir, path.basename(files[3]!));
    fs.copyFileSync(files[3]!, dup);
    assert.ok(await writeHashRecord(dup, await hashFile(files[3]!)));
    const has = await countHas(prefix);
    const items = await sweep({
      nc: await nats(),
      dirs: [src],
      plotter: 'p4',
      prefix,
      minAgeMs: 0,
      concurrency: 1,
      log: silentLogger(),
    });
    const by = new Map(items.map((i) => [i.name, i]));
    assert.equal(by.get(path.basename(files[3]!))?.status, 'duplicate');
    assert.equal(by.get(path.basename(files[3]!))?.harvester, 'h4b');
    assert.equal(by.get(path.basename(files[3]!))?.sourceRemoved, true);
    assert.deepEqual(items.map((i) => i.status).sort(), ['duplicate', 'sent', 'sent', 'sent', 'sent']);
    assert.deepEqual(
      fs.readdirSync(src).filter((f) => !f.startsWith('.')),
      [],
      'every source is gone',
    );
    const stored = [...fs.readdirSync(a.dir), ...fs.readdirSync(b.dir)].filter((f) => !f.startsWith('.'));
    assert.equal(stored.length, 5, 'each plot once in the farm');
    await (await nats()).flush();
    assert.equal(has.n, 1, 'only the first plot asked `has` (it learned who answers)');
  });

  // Without `has` first, the announce is what must not skip a holder that answers late.
  it('a known harvester that declines an announce late as holding the plot is waited for', async () => {
    const prefix = 'has5';
    const real = await harvester('h5', prefix);
    const { src, files } = await sources(2);
    const heldName = path.basename(files[1]!);
    const heldHash = await hashFile(files[1]!);
    const slow = await nats();
    slow.subscribe(subjects(prefix).has, {
      callback: (_e, m) => m.respond(encodeBus({ kind: 'not-held', v: 1, harvester: 'slow' })),
    });
    slow.subscribe(subjects(prefix).announce, {
      callback: (_e, m) => {
        const a = decodeBus(m.data, ['announce']);
        const holds = a.name === heldName;
        const answer = encodeBus({
          kind: 'decline',
          v: 1,
          id: a.id,
          harvester: 'slow',
          reason: holds ? 'held' : 'no-room',
          freeBytes: 0,
          ...(holds ? { held: { path: `/d/${a.name}`, size: a.size, hash: heldHash, beside: 'absent' } } : {}),
        });
        // Later than the real harvester's bid (delay 0 to 50 ms), sooner than the roster's wait.
        setTimeout(() => m.respond(answer), holds ? 250 : 0);
      },
    });
    await slow.flush();
    const items = await sweep({
      nc: await nats(),
      dirs: [src],
      plotter: 'p5',
      prefix,
      minAgeMs: 0,
      concurrency: 1,
      hasTimeoutMs: 1_000,
      log: silentLogger(),
    });
    const held = items.find((i) => i.name === heldName);
    assert.equal(held?.status, 'duplicate', 'the late holder was heard');
    assert.equal(held?.harvester, 'slow');
    assert.deepEqual(
      fs.readdirSync(real.dir).filter((f) => !f.startsWith('.')),
      [path.basename(files[0]!)],
      'the held plot did not land a second time',
    );
  });

  it('a `has` of 30,000 names, or of a name like ../../x, is refused with the reason; the harvester keeps serving', async () => {
    const prefix = 'has6';
    const { dir } = await harvester('h6', prefix);
    fs.writeFileSync(path.join(dir, 'kept.plot'), 'x'.repeat(10));
    const nc = await nats();
    const ask = async (body: unknown) =>
      decodeBus((await nc.request(subjects(prefix).has, Buffer.from(JSON.stringify(body)), { timeout: 5_000 })).data, [
        'refused',
        'held',
        'not-held',
      ]);
    const names = Array.from({ length: 30_000 }, (_, i) => `plot-k28-${String(i).padStart(8, '0')}.plot2`);
    const batch = await ask({ kind: 'has', v: 1, name: names[0], size: 1, names, answerAll: true });
    assert.equal(batch.kind, 'refused');
    assert.ok(batch.kind === 'refused' && batch.code === 'PF_PROTOCOL' && /65536-byte limit/.test(batch.message));
    const evil = await ask({ kind: 'has', v: 1, id: 'q1', name: '../../x', size: 1, answerAll: true });
    assert.ok(evil.kind === 'refused' && evil.code === 'PF_PROTOCOL' && evil.id === 'q1', JSON.stringify(evil));
    assert.match(evil.kind === 'refused' ? evil.message : '', /h6 ignored a has message/);
    const fine = await ask({ kind: 'has', v: 1, name: 'kept.plot', size: 10, answerAll: true });
    assert.equal(fine.kind, 'held', 'and it still answers');
  });

  it('a known harvester silent for a whole announce wait is dropped from the roster; one only slower than a holder is not', async () => {
    const prefix = 'has7';
    const { dir } = await harvester('h7', prefix);
    const { files } = await sources(2);
    fs.copyFileSync(files[1]!, path.join(dir, path.basename(files[1]!)));
    const nc = await nats();
    // "slow" answers `has` at once and announces 200 ms late; "gone" answers `has` only.
    const fake = await nats();
    for (const id of ['slow', 'gone'])
      fake.subscribe(subjects(prefix).has, {
        callback: (_e, m) => m.respond(encodeBus({ kind: 'not-held', v: 1, harvester: id })),
      });
    fake.subscribe(subjects(prefix).announce, {
      callback: (_e, m) => {
        const a = decodeBus(m.data, ['announce']);
        const no = encodeBus({ kind: 'decline', v: 1, id: a.id, harvester: 'slow', reason: 'no-room', freeBytes: 0 });
        setTimeout(() => m.respond(no), 200);
      },
    });
    await fake.flush();
    const roster = new HolderRoster(nc, prefix, 400);
    await roster.ask('nothing.plot2', 1, 'ab'.repeat(8));
    assert.deepEqual([...roster.harvesters()!].sort(), ['gone', 'h7', 'slow']);
    // h7 holds plot 1 and says so at once: the announce ends before "slow" and "gone" answer.
    await assert.rejects(
      sendByBidding({ nc, plotter: 'p7', prefix, file: files[1]!, roster, probe: 'cd'.repeat(8) }),
      (e: unknown) => e instanceof HeldError && e.holder.harvester === 'h7',
    );
    assert.deepEqual([...roster.harvesters()!].sort(), ['gone', 'h7', 'slow'], 'no one had their full wait');
    // Plot 0: h7 bids, "slow" declines in time, "gone" stays silent through the whole wait.
    const r = await sendByBidding({ nc, plotter: 'p7', prefix, file: files[0]!, roster });
    assert.equal(r.harvester, 'h7');
    assert.deepEqual([...roster.harvesters()!].sort(), ['h7', 'slow'], '"gone" was dropped, "slow" kept');
  });

  it('the next cron sweep starts from the harvesters the last one heard: no `has` wait; a gone one is dropped', async () => {
    const prefix = 'has8';
    await harvester('h8a', prefix);
    await harvester('h8b', prefix);
    const { src, files } = await sources(3);
    const rosterFile = path.join(await tmpDir('pf-has-cache-'), 'plotferry', 'harvesters-x.json');
    cleanup.push(() => fsp.rm(path.dirname(path.dirname(rosterFile)), { recursive: true, force: true }));
    const run = async () =>
      sweep({
        nc: await nats(),
        dirs: [src],
        plotter: 'p8',
        prefix,
        minAgeMs: 0,
        concurrency: 1,
        rosterFile,
        log: silentLogger(),
      });
    const saved = () => JSON.parse(fs.readFileSync(rosterFile, 'utf8')) as { harvesters: string[] };
    const has = await countHas(prefix);
    assert.deepEqual(
      (await run()).map((i) => i.status),
      ['sent', 'sent', 'sent'],
    );
    await (await nats()).flush();
    assert.equal(has.n, 1, 'the first sweep learned who answers');
    assert.deepEqual(saved().harvesters, ['h8a', 'h8b']);
    assert.deepEqual(fs.readdirSync(src), [], 'nothing left beside the plots');
    // The next run: new plots, and a harvester in the record that has gone since.
    fs.writeFileSync(rosterFile, JSON.stringify({ ...saved(), harvesters: ['h8a', 'h8b', 'h8-gone'] }));
    for (const f of files) writePlot(f.replace('.plot2', '-2.plot2'), 5000);
    assert.deepEqual(
      (await run()).map((i) => i.status),
      ['sent', 'sent', 'sent'],
    );
    await (await nats()).flush();
    assert.equal(has.n, 1, 'the second sweep asked no `has` at all');
    assert.deepEqual(saved().harvesters, ['h8a', 'h8b'], 'the gone one was dropped after one wait');
    // A record that is not JSON is not used.
    fs.writeFileSync(rosterFile, 'junk');
    writePlot(path.join(src, 'plot-k28-has-after-junk.plot2'), 5000);
    assert.deepEqual(
      (await run()).map((i) => i.status),
      ['sent'],
    );
    await (await nats()).flush();
    assert.equal(has.n, 2, 'without a usable record the sweep learns with `has` again');
  });

  // Found by the fault suite's replot rounds: a harvester killed mid-sweep was dropped from the
  // saved roster, and the next run failed a plot PF_NO_DISK because every harvester it knew had
  // declined at once, a millisecond before the restarted one bid.
  it('a harvester missing from the saved roster still gets a plot that every known harvester declines', async () => {
    const prefix = 'has9';
    await harvester('h9new', prefix);
    // The one the saved roster knows: it declines at once (no usable disk), sooner than any real
    // harvester can look at its disks.
    const known = await nats();
    known.subscribe(subjects(prefix).announce, {
      callback: (_e, m) => {
        const a = decodeBus(m.data, ['announce']);
        m.respond(
          encodeBus({ kind: 'decline', v: 1, id: a.id, harvester: 'h9known', reason: 'no-disk', freeBytes: 0 }),
        );
      },
    });
    await known.flush();
    const { src } = await sources(2);
    const rosterFile = path.join(await tmpDir('pf-has-cache-'), 'plotferry', 'harvesters-y.json');
    cleanup.push(() => fsp.rm(path.dirname(path.dirname(rosterFile)), { recursive: true, force: true }));
    await saveRoster(rosterFile, prefix, ['h9known']);
    const items = await sweep({
      nc: await nats(),
      dirs: [src],
      plotter: 'p9',
      prefix,
      minAgeMs: 0,
      concurrency: 1,
      rosterFile,
      log: silentLogger(),
    });
    assert.deepEqual(
      items.map((i) => `${i.status}:${i.harvester ?? i.error?.code}`),
      ['sent:h9new', 'sent:h9new'],
    );
  });

  it('a claim that ends publishes free, and a waiting plotter wakes on it', { timeout: 15_000 }, async () => {
    const prefix = 'has3';
    await harvester('hf', prefix);
    const nc = await nats();
    const freed = new FreeSignal(nc, prefix);
    cleanup.push(() => freed.close());
    // A poll of 60 s: only the harvester's free ends this wait within the test's timeout.
    const woken = freed.wait(60_000);
    const src = await tmpDir('pf-has-src-');
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    const file = path.join(src, 'f.plot');
    writePlot(file, 1000);
    await sendByBidding({ nc, plotter: 'p', prefix, file });
    await woken;
  });

  // Found by the farm-10gbe bench: a disk freed while a plot's announce still gathered answers
  // (its busy bid, then the `free` 10-52 ms later) was missed, and the plot polled after ~1 s.
  it('a free heard since the announce wakes the wait at once, not at the next poll', { timeout: 15_000 }, async () => {
    const prefix = 'has4';
    const nc = await nats();
    const freed = new FreeSignal(nc, prefix);
    cleanup.push(() => freed.close());
    const heard = freed.heard; // as the plot announces
    const listening = await nats();
    listening.publish(subjects(prefix).free);
    await listening.flush();
    await waitFor(() => freed.heard > heard, 5_000, 'the free to be heard');
    // A poll of 60 s, and no free after this point: only the one heard before ends it.
    await freed.wait(60_000, undefined, heard);
  });
});
