/**
 * The bench's `farm-10gbe` scenario: a plotter's sweep over the emulated 10GbE link (link.ts)
 * to one harvester with 2 tmpfs disks, against what the same link and the same plots do with
 * other tools, interleaved in one run (A B C D, A B C D, ...):
 *   - sweep: one `plotferry sweep --concurrency 2` over 6 plots of 0.92 GiB (a PoS2 plot), whole
 *     (process start, NATS, bids, hashes on both ends, fsync, RESULT, source deletion);
 *   - sweep --watch: a `sweep --watch --concurrency 2` already running, warmed up by one plot, then
 *     the 6 plots renamed into its directory at once; timed from the first rename to the last
 *     landing (the plot's final name exists on a harvester disk: the harvester published it);
 *   - socat loop: a socat listener and a socat sender per plot, 2 at a time (one lane per disk,
 *     as the sweep's concurrency), each started for its plot, as a script would;
 *   - iperf3: the same bytes memory to memory, one stream (the link's ceiling).
 * Every copy is checked against its original's XXH64 and must be on a disk exactly once; every
 * swept source must be gone. Sources are hard links to one set of originals, named anew for
 * each run so that no harvester state from an earlier run can stand in for a transfer. A
 * listener on NATS (nats-spy.ts) notes the announces, bids and `free`s, to tell how long the
 * sweeps' plots waited on busy disks.
 *
 * nats-server and the harvester live in the receivers' network namespace, the senders in the
 * other. Needs root. The namespaces, the mounts and the processes are removed on the way out,
 * also on a failure or on SIGINT/SIGTERM.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { natsServerPath } from '../src/demo/nats-server.js';
import { NO_GROUP, writeSamplePlot } from '../src/demo/sample.js';
import { hashFile } from '../src/transfer/hash.js';
import { BusEvent, busyWaits, FARM_TOOLS, FarmRun, FarmTool } from './farm-10gbe-report.js';
import { cannotEmulate, Link, tenGbE } from './link.js';
import { harvesterArgv, sweepArgv } from './many.js';
import { CLI } from './peers.js';
import { freePort, listening, procCpu, timed } from './proc.js';

/** A PoS2 plot: 0.92 GiB. */
export const PLOT_SIZE = Math.round(0.92 * 2 ** 30);
const PLOTS = 6;
const CONCURRENCY = 2;
const NATS_PORT = 4222;
const write = (s: string) => process.stdout.write(s);
const SPY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'nats-spy.js');

export interface FarmResult {
  runs: FarmRun[];
  plots: number;
  size: number;
  describe?: string;
  skipped?: string;
}

/** What one run needs: the link, the farm's processes and directories, the originals. */
interface Rig {
  link: Link;
  nats: string;
  harvester: ChildProcess;
  disks: string[];
  base: string;
  scratch: string;
  originals: string[];
  /** XXH64 per original, by index. */
  sums: string[];
  size: number;
  /** Announces, bids and `free`s, as heard on NATS (nats-spy.ts). */
  bus: BusEvent[];
}

export async function runFarm10gbe(
  work: string,
  o: { size: number; rounds: number; warmup: number },
): Promise<FarmResult> {
  const why =
    cannotEmulate() ?? (natsServerPath() ? undefined : 'nats-server is missing (apt-get install nats-server)');
  if (why) return { runs: [], plots: PLOTS, size: o.size, skipped: why };
  const cleanup = new Cleanup();
  const onSignal = (sig: NodeJS.Signals) => {
    cleanup.now();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const rig = await setUp(work, o.size, cleanup);
    const runs: FarmRun[] = [];
    for (let round = 1 - Math.max(0, o.warmup); round <= o.rounds; round++) {
      for (const tool of FARM_TOOLS) {
        const r = await runOne(rig, tool, round);
        if (round > 0) runs.push(r);
        write(
          `  ${round > 0 ? `round ${round}` : 'warm-up'} ${tool.padEnd(13)} ${r.seconds.toFixed(2).padStart(6)} s ${r.mbps.toFixed(0).padStart(5)} MB/s  CPU send ${r.senderCpu.toFixed(2)} s, recv ${r.receiverCpu.toFixed(2)} s${r.busy ? `, busy answers ${r.busy.answers} (${r.busy.waitedS.toFixed(1)} s waited)` : ''} ${r.ok ? '' : `FAILED: ${r.error}`}\n`,
        );
      }
    }
    return { runs, plots: PLOTS, size: o.size, describe: describe(rig) };
  } finally {
    await cleanup.gently();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function describe(rig: Rig): string {
  return `${PLOTS} plots of ${(rig.size / 2 ** 30).toFixed(2)} GiB from /dev/shm, over an ${rig.link.describe}, to one harvester with 2 tmpfs disks`;
}

/** What to undo, newest first: gently (await the processes' exit) or at once (on a signal). */
class Cleanup {
  private procs: ChildProcess[] = [];
  private mounts: string[] = [];
  private dirs: string[] = [];
  private link: Link | undefined;
  proc(p: ChildProcess): ChildProcess {
    this.procs.push(p);
    return p;
  }
  mount(d: string): void {
    this.mounts.push(d);
  }
  dir(d: string): void {
    this.dirs.push(d);
  }
  setLink(l: Link): void {
    this.link = l;
  }
  async gently(): Promise<void> {
    for (const p of this.procs) p.kill('SIGTERM');
    await Promise.all(this.procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
    this.now();
  }
  now(): void {
    for (const p of this.procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
    // What still runs in the two namespaces (a sweep or a socat under /usr/bin/time, which a
    // signal to `time` would not reach) is ours: ended by its id, so no namespace outlives the run.
    for (const ns of this.link ? [this.link.sendPrefix, this.link.recvPrefix].map((p) => p.at(-1)!) : []) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    // Lazy: a process killed a moment ago may still hold a file open on it.
    for (const d of this.mounts.splice(0)) spawnSync('umount', ['-l', d]);
    for (const d of this.dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    this.link?.close();
    this.link = undefined;
  }
}

async function setUp(work: string, size: number, cleanup: Cleanup): Promise<Rig> {
  const link = tenGbE();
  cleanup.setLink(link);
  const base = fs.mkdtempSync(path.join(work, 'pf-farm10g-'));
  cleanup.dir(base);
  const scratch = path.join(base, 'scratch');
  fs.mkdirSync(scratch);
  cleanup.proc(
    spawn(
      link.recvPrefix[0]!,
      [...link.recvPrefix.slice(1), natsServerPath()!, '-a', link.host, '-p', `${NATS_PORT}`],
      {
        stdio: 'ignore',
      },
    ),
  );
  const nats = `nats://${link.host}:${NATS_PORT}`;
  const disks = ['d1', 'd2'].map((d) => path.join(base, 'harvester', d));
  // Each disk its own tmpfs, so the two write at once; room for a run's plots on one of them.
  const room = Math.ceil(((PLOTS + 1) * size) / 2 ** 20) + 64;
  for (const d of disks) {
    fs.mkdirSync(d, { recursive: true });
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${room}m`, 'tmpfs', d]).status !== 0)
      throw new Error(`could not mount a tmpfs on ${d}`);
    cleanup.mount(d);
  }
  const argv = [...link.recvPrefix, ...harvesterArgv(nats, 'farm10g-h1', link.host, disks)];
  // `ip netns exec` execs the command, so this pid is the harvester's own (its CPU is read from /proc).
  const harvester = cleanup.proc(spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }));
  const originals: string[] = [];
  const sums: string[] = [];
  fs.mkdirSync(path.join(base, 'originals'));
  for (let i = 0; i < PLOTS; i++) {
    const f = path.join(base, 'originals', `original-${i}.plot2`);
    writeSamplePlot(f, size, 28, 'pos2-v1', NO_GROUP);
    originals.push(f);
    sums.push(await hashFile(f));
  }
  await harvesterAnswers(link, nats);
  return { link, nats, harvester, disks, base, scratch, originals, sums, size, bus: await listen(link, nats, cleanup) };
}

/** Starts nats-spy.ts on the senders' side; its events land in the returned list as they come. */
async function listen(link: Link, nats: string, cleanup: Cleanup): Promise<BusEvent[]> {
  const spy = cleanup.proc(
    spawn(link.sendPrefix[0]!, [...link.sendPrefix.slice(1), process.execPath, SPY, nats], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
  const events: BusEvent[] = [];
  let rest = '';
  await new Promise<void>((resolve, reject) => {
    spy.once('exit', () => reject(new Error('nats-spy.js exited')));
    spy.stdout!.on('data', (c: Buffer) => {
      const lines = (rest + c.toString()).split('\n');
      rest = lines.pop()!;
      for (const l of lines) {
        if (l === 'ready') resolve();
        else if (l.startsWith('{')) events.push(JSON.parse(l) as BusEvent);
      }
    });
  });
  return events;
}

/** Ready once the harvester answers a status ping from the senders' side. */
async function harvesterAnswers(link: Link, nats: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = spawnSync(
      link.sendPrefix[0]!,
      [...link.sendPrefix.slice(1), process.execPath, CLI, 'status', '--nats', nats, '--json', '--wait', '0.3'],
      { encoding: 'utf8' },
    );
    if (r.stdout.split('\n').some((l) => l.startsWith('{'))) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error('the harvester did not answer a status ping');
}

/** The plots' names for one run: new ones each run. */
const namesFor = (tag: string) =>
  Array.from({ length: PLOTS }, (_, i) => `plot-k28-farm-${tag}-${String(i).padStart(2, '0')}.plot2`);

/** Hard links to the originals under `names` in a fresh `dir`. */
function linkSources(rig: Rig, dir: string, names: readonly string[]): string[] {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return names.map((n, i) => {
    const f = path.join(dir, n);
    fs.linkSync(rig.originals[i]!, f);
    return f;
  });
}

async function runOne(rig: Rig, tool: FarmTool, round: number): Promise<FarmRun> {
  const tag = `${round > 0 ? `r${round}` : `w${-round}`}-${tool.replace(/[^a-z0-9]/g, '')}`;
  const names = namesFor(tag);
  const heard = rig.bus.length;
  let m: Measured;
  try {
    switch (tool) {
      case 'sweep':
        m = await runSweep(rig, tag, names);
        break;
      case 'sweep --watch':
        m = await runWatch(rig, tag, names);
        break;
      case 'socat loop':
        m = await runSocat(rig, names);
        break;
      case 'iperf3':
        m = await runIperf(rig);
        break;
    }
  } catch (err) {
    m = { seconds: NaN, senderCpu: 0, receiverCpu: 0, error: (err as Error).message };
  }
  // iperf3 writes no file; the others' copies are checked and the disks emptied for the next run.
  const error = m.error ?? (tool === 'iperf3' ? undefined : await verify(rig, names));
  clearDisks(rig);
  const bytes = PLOTS * rig.size;
  return {
    tool,
    round,
    seconds: m.seconds,
    mbps: bytes / 1e6 / m.seconds,
    ok: !error,
    ...(error ? { error } : {}),
    senderCpu: m.senderCpu,
    receiverCpu: m.receiverCpu,
    ...(tool.startsWith('sweep') ? { busy: busyWaits(rig.bus.slice(heard)) } : {}),
  };
}

interface Measured {
  seconds: number;
  senderCpu: number;
  receiverCpu: number;
  error?: string;
}

const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

async function runSweep(rig: Rig, tag: string, names: readonly string[]): Promise<Measured> {
  const src = path.join(rig.base, `src-${tag}`);
  linkSources(rig, src, names);
  const recv0 = procCpu(rig.harvester.pid!);
  const t0 = process.hrtime.bigint();
  const r = await timed(sweepArgv(rig.nats, CONCURRENCY, src), rig.scratch, {}, rig.link.sendPrefix).done;
  const seconds = since(t0);
  const receiverCpu = procCpu(rig.harvester.pid!) - recv0;
  const left = fs.readdirSync(src).filter((f) => !f.startsWith('.'));
  fs.rmSync(src, { recursive: true, force: true });
  const error =
    r.code !== 0
      ? `sweep exited ${r.code}: ${r.stderr.trim().slice(-300)}`
      : left.length
        ? `${left.length} sources left`
        : undefined;
  return { seconds, senderCpu: r.cpu, receiverCpu, ...(error ? { error } : {}) };
}

/** Resolves once every name in `names` exists on a disk; rejects after `timeoutMs`. */
async function landed(rig: Rig, names: readonly string[], timeoutMs: number): Promise<void> {
  const want = new Set(names);
  const all = () => rig.disks.flatMap((d) => fs.readdirSync(d)).filter((f) => want.has(f)).length === want.size;
  if (all()) return;
  await new Promise<void>((resolve, reject) => {
    // inotify sees the harvester's rename or link at once; the poll is a fallback. Events for
    // other names (every write into a temporary file is one) are let go without a listing.
    const watchers = rig.disks.map((d) => fs.watch(d, (_, name) => name && want.has(name) && check()));
    const poll = setInterval(() => check(), 250);
    const timer = setTimeout(() => finish(new Error(`not landed after ${timeoutMs / 1000} s`)), timeoutMs);
    const finish = (err?: Error) => {
      for (const w of watchers) w.close();
      clearInterval(poll);
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      if (all()) finish();
    };
    check();
  });
}

/** Waits until no plot is left in `dir` (the sweep deletes each source after its RESULT). */
async function drained(dir: string, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (fs.readdirSync(dir).some((f) => !f.startsWith('.'))) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`sources still in ${dir} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runWatch(rig: Rig, tag: string, names: readonly string[]): Promise<Measured> {
  const dir = path.join(rig.base, `watch-${tag}`);
  const stage = path.join(rig.base, `stage-${tag}`);
  fs.mkdirSync(dir);
  // Generous: a stuck run fails rather than hangs, and a slow hour still finishes.
  const timeoutMs = 60_000 + (PLOTS * rig.size) / 20e3;
  const argv = [...rig.link.sendPrefix, ...sweepArgv(rig.nats, CONCURRENCY, dir)];
  argv.splice(argv.indexOf('sweep') + 1, 0, '--watch');
  const watcher = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  watcher.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<void>((r) => watcher.once('exit', () => r()));
  try {
    // Warm-up: one plot, so that NATS, the harvester roster and the first `has` are behind it.
    const warm = `plot-k28-farm-${tag}-warm.plot2`;
    linkSources(rig, stage, [warm]);
    fs.renameSync(path.join(stage, warm), path.join(dir, warm));
    await landed(rig, [warm], timeoutMs);
    await drained(dir, timeoutMs);
    const staged = linkSources(rig, stage, names);
    const send0 = procCpu(watcher.pid!);
    const recv0 = procCpu(rig.harvester.pid!);
    const t0 = process.hrtime.bigint();
    for (const f of staged) fs.renameSync(f, path.join(dir, path.basename(f)));
    await landed(rig, names, timeoutMs);
    const seconds = since(t0);
    await drained(dir, timeoutMs);
    return { seconds, senderCpu: procCpu(watcher.pid!) - send0, receiverCpu: procCpu(rig.harvester.pid!) - recv0 };
  } catch (err) {
    return {
      seconds: NaN,
      senderCpu: 0,
      receiverCpu: 0,
      error: `${(err as Error).message}${watcher.exitCode !== null ? `; sweep --watch exited ${watcher.exitCode}` : ''}: ${stderr.trim().slice(-300)}`,
    };
  } finally {
    watcher.kill('SIGTERM');
    await exited;
    for (const d of [dir, stage]) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** One socat listener (receivers' side) and one socat sender per plot, 2 lanes, one per disk. */
async function runSocat(rig: Rig, names: readonly string[]): Promise<Measured> {
  let next = 0;
  let senderCpu = 0;
  let receiverCpu = 0;
  let error: string | undefined;
  const lane = async (disk: string) => {
    while (next < names.length && !error) {
      const i = next++;
      const r = await socatOne(rig, rig.originals[i]!, path.join(disk, names[i]!));
      senderCpu += r.senderCpu;
      receiverCpu += r.receiverCpu;
      error ??= r.error;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(rig.disks.map((d) => lane(d)));
  return { seconds: since(t0), senderCpu, receiverCpu, ...(error ? { error } : {}) };
}

async function socatOne(rig: Rig, src: string, out: string): Promise<Measured> {
  const { link } = rig;
  for (let attempt = 1; ; attempt++) {
    // A port free here may be taken in the receivers' namespace: then another one.
    const port = await freePort();
    const rx = timed(
      ['socat', '-u', '-b', '1048576', `TCP-LISTEN:${port},bind=${link.host},reuseaddr`, `OPEN:${out},creat,trunc`],
      rig.scratch,
      {},
      link.recvPrefix,
    );
    const exited = rx.done.then(() => 'exited' as const);
    if ((await Promise.race([listening(port, link.recvAnchorPid).then(() => 'up' as const), exited])) !== 'up') {
      if (attempt === 3) throw new Error(`socat's listener did not start: ${(await rx.done).stderr.trim()}`);
      continue;
    }
    const tx = timed(['socat', '-u', '-b', '1048576', `OPEN:${src}`, `TCP:${link.host}:${port}`], rig.scratch, {}, [
      ...link.sendPrefix,
    ]);
    const [s, r] = await Promise.all([tx.done, rx.done]);
    const error =
      s.code !== 0 ? `socat sender exited ${s.code}` : r.code !== 0 ? `socat listener exited ${r.code}` : undefined;
    return { seconds: 0, senderCpu: s.cpu, receiverCpu: r.cpu, ...(error ? { error } : {}) };
  }
}

/** The same bytes, memory to memory, one iperf3 stream: the link's ceiling (iperf3's own seconds). */
async function runIperf(rig: Rig): Promise<Measured> {
  const { link } = rig;
  const bytes = PLOTS * rig.size;
  const port = await freePort();
  const rx = timed(['iperf3', '-s', '-1', '-B', link.host, '-p', String(port)], rig.scratch, {}, link.recvPrefix);
  await listening(port, link.recvAnchorPid);
  const tx = timed(['iperf3', '-c', link.host, '-p', String(port), '-n', String(bytes), '-J'], rig.scratch, {}, [
    ...link.sendPrefix,
  ]);
  const [s, r] = await Promise.all([tx.done, rx.done]);
  if (s.code !== 0 || r.code !== 0) throw new Error(`iperf3 exited ${s.code}/${r.code}: ${s.stderr.trim()}`);
  const end = (JSON.parse(s.stdout) as { end: { sum_received: { seconds: number; bytes: number } } }).end.sum_received;
  return { seconds: end.seconds * (bytes / end.bytes), senderCpu: s.cpu, receiverCpu: r.cpu };
}

/** Each of `names` exactly once on the disks, byte-exact (its original's XXH64). */
async function verify(rig: Rig, names: readonly string[]): Promise<string | undefined> {
  const found = new Map<string, string[]>();
  for (const d of rig.disks)
    for (const f of fs.readdirSync(d)) found.set(f, [...(found.get(f) ?? []), path.join(d, f)]);
  for (const [i, name] of names.entries()) {
    const at = found.get(name) ?? [];
    if (at.length !== 1) return `${name} arrived ${at.length} times`;
    if ((await hashFile(at[0]!)) !== rig.sums[i]) return `${at[0]} is not byte-exact`;
  }
  return undefined;
}

/** Empties the disks between runs, the harvester's own hidden files (its hash ledger) aside. */
function clearDisks(rig: Rig): void {
  for (const d of rig.disks)
    for (const f of fs.readdirSync(d)) if (!f.startsWith('.')) fs.rmSync(path.join(d, f), { force: true });
}
