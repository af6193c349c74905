/**
 * Fault injection: randomised rounds (seed printed; PLOTFERRY_FUZZ_SEED replays it,
 * PLOTFERRY_FAULT_ROUNDS sets how many). Each round sweeps a few plots to two harvester
 * processes through throttling proxies and injects one fault mid-transfer: SIGKILL of a
 * harvester or of the plotter, a NATS restart, a disk filling up (own tmpfs, when root), a byte
 * flipped, a connection dropped, a harvester directory removed, a RESULT lost on the way back, a
 * receiving disk remounted read-only (root), a second receiver started on a harvester's
 * directory, a receiving disk unmounted mid-sweep (root; nothing may be written in its bare mount
 * point, and it rejoins once mounted again), a plot rewritten in place while it is sent (it fails
 * PF_SOURCE_CHANGED and its new bytes stay at its source; the old ones are under no final name); and replot rounds (root), where the plots can only land by deleting PoS1
 * plots: SIGKILL of the harvester right after a deletion, the plotter killed mid-plot after a
 * deletion, the disk filled from outside after a deletion. Each fault must land (a round whose fault found nothing to hit fails). Then it
 * checks the invariants:
 * every plot is at its source or exactly once under its final name at a harvester, byte-exact;
 * no final name holds anything else; when idle no claim is open; no process died of an
 * unhandled error. A recovery sweep (cron's next run) must then deliver everything. In a replot
 * round, only PoS1 plots went, the oldest first, and no more than the arrivals needed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliResult, jsonLines, runCli, runCliExpectingExit, startCli } from '../helpers/cli.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { isRoot, ls, sha256, tmpDir, writePlot, writeSamplePlot } from '../helpers/files.js';
import { DISABLE_FILE } from '../../src/wire/names.js';
import { fuzzSeed, rng } from '../helpers/fuzz.js';
import { waitFor } from '../helpers/listener.js';
import { freePorts, PORT_RANGES } from '../helpers/ports.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';

const MiB = 2 ** 20;
/** hf-1's reserve (it runs --replot), and the PoS1 plots a replot round fills its disk with. */
const RESERVE = MiB;
const OLD_PLOT = 6 * MiB;
const OLD_PREFIX = 'old-k32-';
const SEED = fuzzSeed();
const FAULTS = [
  'kill-harvester',
  'kill-plotter',
  'nats-restart',
  'disk-full',
  'flip',
  'drop',
  'dir-removed',
  'result-lost',
  'read-only',
  'second-receiver',
  'replot-kill-harvester',
  'replot-kill-plotter',
  'replot-disk-full',
  'unmount',
  'source-changed',
] as const;
type Fault = (typeof FAULTS)[number];
const ROUNDS = Number(process.env.PLOTFERRY_FAULT_ROUNDS ?? FAULTS.length);
console.log(`fault seed ${SEED} (replay: PLOTFERRY_FUZZ_SEED=${SEED}), ${ROUNDS} rounds`);

interface HarvesterProc {
  id: string;
  dir: string;
  ports: number[];
  proxy: FaultProxy;
  child?: ReturnType<typeof startCli>;
  /** Output of processes that ended (killed ones included). */
  pastStderr: string;
}

describe('fault injection', () => {
  let server: NatsServer;
  let work: string;
  const hs: HarvesterProc[] = [];
  const mounts: string[] = [];
  const r = rng(SEED);
  /** The harvester whose disk a 'read-only' round remounted, to undo after the round. */
  let readOnly: HarvesterProc | undefined;
  /** The harvester whose disk an 'unmount' round unmounted, and where that disk is kept meanwhile. */
  let unmounted: { h: HarvesterProc; aside: string } | undefined;
  /** A 'source-changed' round's plot: its new bytes are what must arrive, or stay at its source. */
  let changed: { name: string; sum: string } | undefined;

  /** A harvester's command line, on `range` of its ports (all of them by default). */
  const harvesterArgs = (h: HarvesterProc, range = `${h.ports[0]}-${h.ports[h.ports.length - 1]}`) => [
    'harvester',
    '--nats',
    server.url,
    '--id',
    h.id,
    '--host',
    '127.0.0.1',
    '--listen-host',
    '127.0.0.2',
    '--port-range',
    range,
    '--dir',
    h.dir,
    '--claim-ttl',
    '3',
    '--grace',
    '2',
    '--log-level',
    'info',
    // hf-1's own disk takes part in the replot rounds; other rounds send no PoS1 plot to it
    // (theirs are PoS2 plots: never deleted, whatever they are named).
    ...(h === hs[0] && isRoot ? ['--replot', '--reserve', String(RESERVE)] : []),
  ];

  const startHarvester = async (h: HarvesterProc) => {
    const child = startCli(harvesterArgs(h));
    h.child = child;
    await waitFor(() => child.stderr().includes('harvester ready'), 10_000, `${h.id} to start`);
  };

  /** Stops `h` with `signal` (its output kept for the crash check) and starts it again after `pauseMs`. */
  const restartHarvester = async (h: HarvesterProc, signal: NodeJS.Signals, pauseMs = 0) => {
    h.child!.child.kill(signal);
    await h.child!.done;
    h.pastStderr += h.child!.stderr();
    if (pauseMs > 0) await new Promise((res) => setTimeout(res, pauseMs));
    await startHarvester(h);
  };

  before(async () => {
    server = await startNatsServer();
    work = await tmpDir('pf-faults-');
    for (const [i, id] of ['hf-1', 'hf-2'].entries()) {
      const dir = path.join(work, id);
      fs.mkdirSync(dir);
      // hf-1 gets its own small disk when root, so it can fill up.
      if (i === 0 && isRoot) {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', dir]);
        mounts.push(dir);
      }
      // The proxy keeps its ports bound on 127.0.0.1 from here on; only this test uses 127.0.0.2.
      const base = await freePorts(4, PORT_RANGES.faults, ['127.0.0.1', '127.0.0.2']);
      const ports = [base, base + 1, base + 2, base + 3];
      const h: HarvesterProc = {
        id,
        dir,
        ports,
        proxy: await FaultProxy.start(ports, '127.0.0.2', 8 * MiB),
        pastStderr: '',
      };
      hs.push(h);
      await startHarvester(h);
    }
  });

  // Every step whatever the one before did: a mount left behind outlives the test run.
  after(async () => {
    const step = async (f: () => unknown) => {
      try {
        await f();
      } catch (err) {
        console.error(`fault suite cleanup: ${(err as Error).message}`);
      }
    };
    for (const h of hs) {
      await step(async () => {
        h.child?.child.kill('SIGKILL');
        await h.child?.done;
      });
      await step(() => h.proxy.close());
    }
    for (const m of mounts) await step(() => execFileSync('umount', [m]));
    await step(() => server.stop());
    await step(() => fsp.rm(work, { recursive: true, force: true }));
  });

  const sweepArgs = (dir: string, extra: string[] = []) => [
    'sweep',
    ...extra,
    '--nats',
    server.url,
    '--min-age',
    '0',
    '--json',
    '--concurrency',
    '2',
    '--retries',
    '3',
    '--bid-timeout',
    '1',
    '--busy-wait',
    '20',
    dir,
  ];

  /** Waits until some harvester's proxy has moved `bytes` more; returns that harvester. */
  const duringTransfer = async (bytes: number, only?: HarvesterProc): Promise<HarvesterProc | undefined> => {
    const start = hs.map((h) => h.proxy.forwarded);
    try {
      return await waitFor(
        () => hs.find((h, i) => (!only || h === only) && h.proxy.forwarded - start[i]! >= bytes),
        15_000,
        'a transfer to be under way',
      );
    } catch {
      return undefined; // no transfer reached it (the other harvester took them all)
    }
  };

  /** hf-1's log lines saying a PoS1 plot was deleted, so far (killed processes' too). */
  const deletions = () => {
    const h = hs[0]!;
    return ((h.pastStderr + (h.child?.stderr() ?? '')).match(/replot: deleted /g) ?? []).length;
  };

  /** A replot round's fault, once hf-1 has deleted a PoS1 plot for an arriving one. */
  async function injectReplot(
    fault: 'replot-kill-harvester' | 'replot-kill-plotter' | 'replot-disk-full',
    sweep: ReturnType<typeof startCli>,
  ): Promise<string> {
    if (!isRoot) return 'skipped: needs root for a disk of PoS1 plots';
    const h = hs[0]!;
    const before = deletions();
    try {
      await waitFor(() => deletions() > before, 15_000, `${h.id} to delete a PoS1 plot`);
    } catch {
      return `missed: no PoS1 plot was deleted (${fs.readdirSync(h.dir).join(' ')}; ${h.id}: ${(h.child?.stderr() ?? '').slice(-2000)})`;
    }
    if (fault === 'replot-kill-harvester') {
      await restartHarvester(h, 'SIGKILL', 300 + r.int(700));
      return `SIGKILL ${h.id} right after it deleted a PoS1 plot, restarted`;
    }
    if (fault === 'replot-kill-plotter') {
      if (!(await duringTransfer(64 * 1024 + r.int(MiB), h))) return `missed: no transfer to ${h.id}`;
      sweep.child.kill('SIGKILL');
      return 'SIGKILL the plotter mid-plot after a PoS1 plot was deleted for it';
    }
    fillFromOutside(h);
    return `filled ${h.id}'s disk from outside right after it deleted a PoS1 plot`;
  }

  /** What was done, or `missed: ...` when the fault found nothing to hit. */
  async function inject(fault: Fault, plotDir: string, sweep: ReturnType<typeof startCli>): Promise<string> {
    const at = 256 * 1024 + r.int(2 * MiB);
    switch (fault) {
      case 'result-lost': {
        const h = await duringTransfer(at);
        if (!h) return 'missed: no transfer to hit';
        h.proxy.cutResult();
        await waitFor(() => h.proxy.done.includes('result-cut'), 15_000, 'the RESULT to be cut');
        return `cut ${h.id}'s RESULT after ${at} bytes`;
      }
      case 'read-only': {
        if (!isRoot) return 'skipped: needs root to remount a disk';
        const h = hs[0]!;
        if (!(await duringTransfer(at))) return 'missed: no transfer to hit';
        // As the kernel does after disk errors. A tmpfs with a file open for writing refuses
        // (EBUSY): that is a transfer into it, so try again until it is between transfers.
        await waitFor(
          () => {
            try {
              execFileSync('mount', ['-o', 'remount,ro', h.dir], { stdio: 'ignore' });
              return true;
            } catch {
              return false;
            }
          },
          15_000,
          `${h.id}'s disk to be remounted read-only`,
        );
        readOnly = h;
        return `remounted ${h.id}'s disk read-only after ${at} bytes`;
      }
      case 'unmount': {
        if (!isRoot) return 'skipped: needs root to unmount a disk';
        const h = hs[0]!;
        if (!(await duringTransfer(at, h))) return `missed: no transfer to ${h.id}`;
        // The tmpfs is kept mounted aside, so the same filesystem can come back (a new tmpfs would
        // be another one); the lazy unmount lets the transfer under way go on writing to it.
        const aside = `${h.dir}.aside`;
        fs.mkdirSync(aside, { recursive: true });
        execFileSync('mount', ['--bind', h.dir, aside]);
        mounts.unshift(aside);
        execFileSync('umount', ['-l', h.dir]);
        unmounted = { h, aside };
        return `unmounted ${h.id}'s disk after ${at} bytes, a transfer to it under way`;
      }
      case 'source-changed': {
        // The plot in flight is rewritten in place, same size, while its sender still reads it
        // (the round's sweep is paced, its plots large, and bytes not yet read are many more
        // than the harvester holds so far plus what the sockets buffer).
        const found = await waitFor(
          () => {
            for (const h of hs)
              for (const n of ls(h.dir).filter((f) => f.startsWith('.plotferry-') && f.endsWith('.partial'))) {
                const got = fs.statSync(path.join(h.dir, n), { throwIfNoEntry: false })?.size ?? 0;
                if (got > 0 && got <= 2 * MiB)
                  return {
                    h,
                    name: n.slice('.plotferry-'.length, n.lastIndexOf('.', n.length - '.partial'.length - 1)),
                  };
              }
            return undefined;
          },
          15_000,
          'a transfer to be under way',
        ).catch(() => undefined);
        if (!found) return 'missed: no transfer to hit';
        const src = path.join(plotDir, found.name);
        const fd = fs.openSync(src, 'r+');
        fs.writeSync(fd, Buffer.from('changed!'), 0, 8, Math.floor(fs.fstatSync(fd).size / 2));
        fs.closeSync(fd);
        changed = { name: found.name, sum: await sha256(src) };
        return `rewrote ${found.name} in place while it was sent to ${found.h.id}`;
      }
      case 'second-receiver': {
        const h = await duringTransfer(at);
        if (!h) return 'missed: no transfer to hit';
        const second = await runCliExpectingExit(['listen', '--dir', h.dir, '--port', '0', '--token', 'second']);
        assert.equal(second.code, 1, `a second receiver on ${h.dir} started: ${second.stderr}`);
        assert.match(second.stderr, /PF_DIR_IN_USE/);
        return `a second receiver on ${h.id}'s directory after ${at} bytes was refused`;
      }
      case 'kill-harvester': {
        const h = await duringTransfer(at);
        if (!h) return 'missed: no transfer to hit';
        await restartHarvester(h, 'SIGKILL', 300 + r.int(700));
        return `SIGKILL ${h.id} after ${at} bytes, restarted`;
      }
      case 'kill-plotter': {
        if (!(await duringTransfer(at))) return 'missed: no transfer to hit';
        sweep.child.kill('SIGKILL');
        return `SIGKILL the plotter after ${at} bytes`;
      }
      case 'nats-restart': {
        if (!(await duringTransfer(at))) return 'missed: no transfer to hit';
        await server.restart();
        return `NATS restarted after ${at} bytes`;
      }
      case 'disk-full': {
        if (!isRoot) return 'skipped: needs root for a small tmpfs';
        const h = hs[0]!;
        if (!(await duringTransfer(at, h))) return `missed: no transfer to ${h.id}`;
        fillFromOutside(h);
        return `filled ${h.id}'s disk after ${at} bytes`;
      }
      case 'flip':
      case 'drop': {
        const h = await duringTransfer(at);
        if (!h) return 'missed: no transfer to hit';
        if (fault === 'flip') h.proxy.flip();
        else h.proxy.drop();
        return `${fault} on the way to ${h.id} after ${at} bytes`;
      }
      case 'replot-kill-harvester':
      case 'replot-kill-plotter':
      case 'replot-disk-full':
        return injectReplot(fault, sweep);
      case 'dir-removed': {
        const h = hs[1]!;
        if (!(await duringTransfer(at, h))) return `missed: no transfer to ${h.id}`;
        // As a disk that vanishes (unmounted, pulled): its path is gone, and what it held goes
        // with it, out of plotferry's reach but not destroyed (the invariants still count it).
        fs.renameSync(h.dir, `${h.dir}.gone`);
        return `removed ${h.dir} after ${at} bytes`;
      }
    }
  }

  /** Another program fills the disk (`filler.bin`), to 64 KiB short of full. */
  function fillFromOutside(h: HarvesterProc): void {
    const st = fs.statfsSync(h.dir);
    const room = st.bavail * st.bsize;
    try {
      fs.writeFileSync(path.join(h.dir, 'filler.bin'), Buffer.alloc(Math.max(0, room - 64 * 1024)));
    } catch {
      // ENOSPC while filling: full is the point
    }
  }

  /**
   * A replot round: hf-1's disk full of PoS1 plots (OLD_PLOT each, oldest first by name), a
   * little room left; hf-2 disabled, so the plots can land only by deleting. Returns their names.
   * hf-1 is restarted on it, as after mounting a disk.
   */
  async function fillWithOldPlots(): Promise<string[]> {
    const h = hs[0]!;
    const names: string[] = [];
    const t0 = Date.now() / 1000 - 86_400 * 300;
    for (let i = 0; ; i++) {
      const st = fs.statfsSync(h.dir);
      if (st.bavail * st.bsize < OLD_PLOT + 3 * MiB) break;
      const name = `${OLD_PREFIX}${String(i).padStart(2, '0')}.plot`;
      writeSamplePlot(path.join(h.dir, name), OLD_PLOT, 32);
      fs.utimesSync(path.join(h.dir, name), t0 + i * 3600, t0 + i * 3600);
      names.push(name);
    }
    fs.writeFileSync(path.join(hs[1]!.dir, DISABLE_FILE), '');
    // Started on that disk (the list of PoS1 plots that may go is kept for a minute).
    await restartHarvester(h, 'SIGTERM');
    return names;
  }

  /**
   * After a replot round: only the old plots went, the oldest first, and no more than needed:
   * the last deletion was made for a plot that did not fit, so what is free now (the filler
   * counted as used) is less than the reserve, one plot and one old plot.
   */
  function checkReplot(old: string[], largestPlot: number): string {
    const h = hs[0]!;
    const left = new Set(fs.readdirSync(h.dir));
    const gone = old.filter((n) => !left.has(n));
    assert.deepEqual(gone, old.slice(0, gone.length), `the oldest PoS1 plots went first (gone: ${gone.join(', ')})`);
    assert.ok(gone.length > 0, 'the round deleted a PoS1 plot');
    const st = fs.statfsSync(h.dir);
    const free = st.bavail * st.bsize;
    assert.ok(
      free < RESERVE + largestPlot + OLD_PLOT,
      `${gone.length} PoS1 plot(s) deleted, and ${free} bytes are free: more went than the plots needed`,
    );
    return `${gone.length} of ${old.length} PoS1 plots deleted, ${(free / MiB).toFixed(1)} MiB free after`;
  }

  /** Every plot at its source or exactly once at a harvester, byte-exact; nothing else there. */
  async function checkInvariants(sums: Map<string, string>, plotDir: string): Promise<void> {
    const at = new Map<string, string[]>();
    for (const d of hs.flatMap((h) => [h.dir, `${h.dir}.gone`]))
      for (const f of ls(d).filter(
        (f) => !f.startsWith('.') && f !== 'filler.bin' && f !== DISABLE_FILE && !f.startsWith(OLD_PREFIX),
      ))
        at.set(f, [...(at.get(f) ?? []), path.join(d, f)]);
    for (const [name] of at)
      assert.ok(sums.has(name), `${name} under a final name at a harvester is not a plot we sent`);
    for (const [name, sum] of sums) {
      const copies = at.get(name) ?? [];
      const src = path.join(plotDir, name);
      assert.ok(copies.length <= 1, `${name} is at ${copies.length} harvesters`);
      for (const c of copies) assert.equal(await sha256(c), sum, `${c} is not byte-exact`);
      if (fs.existsSync(src)) assert.equal(await sha256(src), sum, `the source ${src} changed`);
      else assert.equal(copies.length, 1, `${name} is neither at its source nor at a harvester`);
    }
  }

  /**
   * After an 'unmount' round: nothing was written in the bare mount point (no plot, no lock), the
   * harvester said the disk is gone (log, status); mounted again, the disk rejoins by itself.
   */
  async function remount({ h, aside }: { h: HarvesterProc; aside: string }): Promise<void> {
    assert.deepEqual(fs.readdirSync(h.dir), [], `${h.id} wrote in its disk's bare mount point`);
    const dirOf = async () => {
      const r = await runCli(['status', '--nats', server.url, '--wait', '0.5', '--json']);
      const beats = jsonLines(r.stdout) as { harvester: string; dirs: { gone?: boolean; unusable?: string }[] }[];
      return beats.find((b) => b.harvester === h.id)?.dirs[0];
    };
    assert.equal((await dirOf())?.gone, true, `${h.id}'s status says its disk is gone`);
    assert.match(h.child!.stderr(), /"code":"PF_DISK_GONE"/);
    execFileSync('mount', ['--bind', aside, h.dir]);
    execFileSync('umount', [aside]);
    mounts.splice(mounts.indexOf(aside), 1);
    fs.rmdirSync(aside);
    await waitFor(async () => (await dirOf())?.unusable === undefined, 15_000, `${h.id}'s disk to rejoin`);
  }

  async function idleAndHealthy(): Promise<void> {
    // Claims opened by a plotter that died expire (--claim-ttl 3).
    await waitFor(
      async () => {
        const r = await runCli(['status', '--nats', server.url, '--wait', '0.5', '--json']);
        const beats = jsonLines(r.stdout) as { harvester: string; activeTransfers: number }[];
        return beats.length === hs.length && beats.every((b) => b.activeTransfers === 0);
      },
      15_000,
      'both harvesters to be up and idle',
    );
    for (const h of hs) {
      assert.equal(h.child!.child.exitCode, null, `${h.id} is running`);
      assert.doesNotMatch(h.child!.stderr() + h.pastStderr, /unexpected error|Uncaught|unhandled/i, `${h.id} crashed`);
    }
  }

  it(`${ROUNDS} rounds, one fault each: nothing lost, nothing half-written`, async () => {
    const order = [...FAULTS].sort(() => r.next() - 0.5);
    const report: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const fault = order[round % order.length]!;
      const plotDir = await tmpDir('pf-fplots-', work);
      const sums = new Map<string, string>();
      const replot = fault.startsWith('replot-') && isRoot;
      const old = replot ? await fillWithOldPlots() : [];
      let largest = 0;
      for (let i = 0; i < 4; i++) {
        const f = path.join(plotDir, `plot-k32-r${round}-${i}.plot`);
        // A source-changed round paces its sweep: larger plots keep each one being read a while.
        const size = (fault === 'source-changed' ? 12 * MiB : 2 * MiB) + r.int(2 * MiB);
        largest = Math.max(largest, size);
        writePlot(f, size);
        sums.set(path.basename(f), await sha256(f));
      }
      const sweep = startCli(sweepArgs(plotDir, fault === 'source-changed' ? ['--bwlimit', '4'] : []));
      const what = await inject(fault, plotDir, sweep);
      console.log(`round ${round} ${fault}: ${what}`);
      // A round whose fault found nothing to hit proves nothing.
      assert.doesNotMatch(what, /^missed/, `round ${round} ${fault}: the fault did not land`);
      const first: CliResult = await sweep.done;
      assert.ok(first.code === 0 || first.code === 1 || first.signal === 'SIGKILL', `sweep died: ${first.stderr}`);
      assert.doesNotMatch(first.stderr, /unexpected error|Uncaught/i);
      // One fault is no reason to give up: retries (another bid, a resume) deliver everything,
      // unless the plotter itself was killed. In a replot round hf-1 is the only harvester that
      // can take a plot: one it failed (killed, or its disk filled) is skipped for that plot
      // in this run, and the plot stays at its source for the next one.
      if (changed) {
        // That plot failed, and its source (with the new bytes) is kept; the old bytes it had
        // when its transfer began are under no final name (checkInvariants: byte-exact or absent).
        const item = jsonLines(first.stdout).find((i) => i.name === changed!.name);
        assert.equal((item?.error as { code?: string } | undefined)?.code, 'PF_SOURCE_CHANGED', first.stdout);
        assert.equal(first.code, 1);
        sums.set(changed.name, changed.sum);
        changed = undefined;
      } else if (fault !== 'kill-plotter' && !replot)
        assert.equal(first.code, 0, `the sweep gave up after ${what}:\n${first.stdout}`);
      // Undo what the fault broke on the machine (a farmer would): the filler, the directory.
      // (A replot round keeps its filler: the deletions it forced were needed, and are counted so.)
      if (!replot) fs.rmSync(path.join(hs[0]!.dir, 'filler.bin'), { force: true });
      fs.mkdirSync(hs[1]!.dir, { recursive: true });
      if (unmounted) await remount(unmounted);
      unmounted = undefined;
      if (readOnly) {
        // The disk is repaired; its harvester keeps it out of rotation for minutes after the
        // failed write, so a farmer who fixed it restarts the harvester.
        execFileSync('mount', ['-o', 'remount,rw', readOnly.dir]);
        await restartHarvester(readOnly, 'SIGTERM');
        readOnly = undefined;
      }
      await idleAndHealthy();
      await checkInvariants(sums, plotDir);
      // Cron's next run delivers whatever the fault held back.
      const again = await runCli(sweepArgs(plotDir));
      const items = jsonLines(again.stdout) as { name: string; status: string; resumedFrom?: number }[];
      const verifiedDuplicates = items.filter((i) => i.status === 'duplicate').length;
      assert.equal(
        again.code,
        0,
        `recovery sweep: ${again.stdout}\n${again.stderr}\n${hs.map((h) => `${h.id}: ${h.child!.stderr().slice(-3000)}`).join('\n')}`,
      );
      await checkInvariants(sums, plotDir);
      // A plot stored before its plotter was killed, but not yet deleted there, is a duplicate
      // the recovery sweep verifies by hash against the harvester's record, then deletes.
      assert.deepEqual(ls(plotDir), [], 'after the recovery sweep every source is gone');
      const replotSays = replot ? `; ${checkReplot(old, largest)}` : '';
      const resumed = [...(jsonLines(first.stdout) as typeof items), ...items].filter(
        (i) => (i.resumedFrom ?? 0) > 0,
      ).length;
      report.push(
        `round ${round} ${fault}: ${what}; first sweep ${first.signal ?? `exit ${first.code}`}, ` +
          `${jsonLines(first.stdout).filter((i) => i.status === 'sent').length} sent; recovery sent ${items.filter((i) => i.status === 'sent').length}` +
          (resumed ? ` (${resumed} resumed)` : '') +
          (verifiedDuplicates ? `, ${verifiedDuplicates} stored before the kill, verified, source removed` : '') +
          replotSays,
      );
      for (const h of hs) {
        for (const f of ls(h.dir)) if (!f.startsWith('.')) fs.rmSync(path.join(h.dir, f));
        fs.rmSync(`${h.dir}.gone`, { recursive: true, force: true });
      }
    }
    console.log(report.join('\n'));
  });

  // A harvester with no free port: at start it refuses to run; when another process takes its
  // ports later it declines (no-port, not busy), so a sweep ends at once with every source kept,
  // and delivers as soon as a harvester has a port again.
  it('a harvester with no free port: refused at start; later, declined, sources kept, then delivered', async () => {
    const held: net.Server[] = [];
    const hold = async (port: number) => {
      const s = net.createServer();
      await new Promise<void>((res, rej) => s.once('error', rej).listen(port, '127.0.0.2', () => res()));
      held.push(s);
      return () => new Promise<void>((r) => s.close(() => r()));
    };
    const stop = async (h: HarvesterProc) => {
      h.child!.child.kill('SIGTERM');
      await h.child!.done;
      h.pastStderr += h.child!.stderr();
    };
    try {
      // At start: every port of hf-2's range held by another program.
      const h2 = hs[1]!;
      await stop(h2);
      const frees = await Promise.all(h2.ports.map(hold));
      const refused = await runCliExpectingExit(
        harvesterArgs(h2, `${h2.ports[0]}-${h2.ports[h2.ports.length - 1]}`),
        15_000,
      );
      assert.equal(refused.code, 1, `hf-2 started without a port: ${refused.stderr.slice(-2000)}`);
      assert.match(refused.stderr, /PF_PORT_IN_USE/);
      assert.doesNotMatch(refused.stderr, /harvester ready/);
      await Promise.all(frees.map((f) => f()));
      // Later: both harvesters on one claim port (no listener for direct bids), then another
      // program takes that port from each.
      const one = new Map<HarvesterProc, () => Promise<void>>();
      for (const h of hs) {
        if (h !== h2) await stop(h);
        h.child = startCli(harvesterArgs(h, `${h.ports[3]}-${h.ports[3]}`));
        await waitFor(() => h.child!.stderr().includes('harvester ready'), 10_000, `${h.id} to start`);
        one.set(h, await hold(h.ports[3]!));
      }
      const plotDir = await tmpDir('pf-fplots-noport-', work);
      const sums = new Map<string, string>();
      for (let i = 0; i < 4; i++) {
        const f = path.join(plotDir, `plot-k32-noport-${i}.plot`);
        writePlot(f, 2 * MiB + r.int(2 * MiB));
        sums.set(path.basename(f), await sha256(f));
      }
      // Were "no port" still "busy", each plot would wait out --busy-wait (30 min): killed
      // after a minute, and the exit code says so.
      const args = [...sweepArgs(plotDir)];
      args[args.indexOf('--busy-wait') + 1] = '1800';
      const first = await runCliExpectingExit(args, 60_000);
      assert.equal(first.code, 1, `exit ${first.code ?? first.signal}: ${first.stderr.slice(-2000)}`);
      const items = jsonLines(first.stdout) as { status: string; error?: { code: string } }[];
      assert.equal(items.length, 4);
      for (const i of items) assert.deepEqual([i.status, i.error?.code], ['failed', 'PF_PORT_IN_USE']);
      assert.doesNotMatch(first.stderr, /unexpected error|Uncaught/i);
      await checkInvariants(sums, plotDir);
      assert.equal(ls(plotDir).length, 4, 'every source is kept');
      // hf-1 has its port back: the next sweep (once hf-1 has looked again) delivers there.
      await one.get(hs[0]!)!();
      await waitFor(
        async () => {
          const again = await runCliExpectingExit(args, 60_000);
          await checkInvariants(sums, plotDir);
          return again.code === 0;
        },
        30_000,
        'a sweep to deliver once hf-1 has a free port',
      );
      assert.deepEqual(ls(plotDir), [], 'every plot delivered');
      assert.ok(ls(hs[0]!.dir).filter((f) => sums.has(f)).length === 4, 'all of them to hf-1, the one with a port');
      await one.get(h2)!();
      // Back to the suite's harvesters, idle and alive.
      for (const h of hs) await restartHarvester(h, 'SIGTERM');
      await idleAndHealthy();
      for (const h of hs) for (const f of ls(h.dir)) if (sums.has(f)) fs.rmSync(path.join(h.dir, f));
    } finally {
      await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
    }
  });
});
