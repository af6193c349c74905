/**
 * The bench's `hdd` scenario (root): harvester disks that seek like HDDs. Each disk is ext4 on a
 * loop device; a cgroup v1 blkio group caps its reads at 150 a second (an HDD's seek rate), and
 * the harvester runs inside that group from its first instruction. Measured:
 *
 * - Restarts: a disk holding 10,000 (then, on another disk, 20,000) PoS2 plot files, caches
 *   dropped, a harvester started: the reads it issues to the disk (blkio.throttle.io_serviced)
 *   and the time until the disk is quiet (no new read for 5 s), for a first start and for a
 *   restart after it (what a harvester may keep between runs only shows in the second).
 * - Lookups: a farming harvester's proof lookups, played by bench/hdd-reader.ts (random 4 KiB
 *   O_DIRECT reads of one file on the same disk, 20 a second, one at a time, in the same group: they share the
 *   disk's 150 reads a second as they would share an HDD's arm). Their latency on an idle disk,
 *   during a restart of the 10,000-plot disk, and during a sweep of one plot onto it, with that
 *   plot's landing time, and the landing time with no lookups.
 * - A farm's start (hdd-farm.ts): 20 disks x 18,000 plots.
 */
import fs from 'node:fs';
import path from 'node:path';
import { connect, NatsConnection } from 'nats';
import { NO_GROUP, writeSamplePlot } from '../src/demo/sample.js';
import { NatsServer, startNatsServer } from '../src/demo/nats-server.js';
import {
  cannotRun,
  Cleanup,
  Daemon,
  dropCaches,
  killAll,
  LoopDisk,
  loopDisk,
  ReadCap,
  readCap,
  startIn,
  writePlots,
} from './hdd-env.js';
import { FarmResult, farmSummary, runFarm } from './hdd-farm.js';
import { latencies, Latencies, parseReaderLog, QuietWatch } from './hdd-stats.js';
import { harvesterArgv, sweepArgv } from './many.js';
import { timed } from './proc.js';

const MiB = 2 ** 20;
/** Bytes of each plot file on the restart disks: what a start reads is names, inodes and headers. */
const PLOT_BYTES = 16 * 1024;
/** The file the lookups read, on the first disk. */
const LOOKUP_BYTES = 256 * MiB;
/** Lookups a second: well under the cap, so that alone on the disk they never wait for it. */
const LOOKUPS_PER_SECOND = 20;
const QUIET_MS = 5_000;
const IDLE_MS = 10_000;
/** A start that keeps the disk busy longer than this is stuck, not slow (20,000 plots: ~2.5 min). */
const GIVE_UP_MS = 30 * 60_000;
const READER = new URL('./hdd-reader.js', import.meta.url).pathname;

export interface HddOptions {
  /** Where the disk images go. */
  work: string;
  /** Plots on each restart disk (one disk per entry). */
  plots: number[];
  /** The plot swept onto a disk for the landing times. */
  landBytes: number;
  iops: number;
  /** The farm's start: disks x plots per disk (undefined: not run). */
  farm?: { disks: number; plots: number };
}

export interface StartRow {
  plots: number;
  start: 'first start' | 'restart';
  reads: number;
  readsPerPlot: number;
  /** Spawn to the last read before the disk went quiet. */
  quietSeconds: number;
  /** Spawn to its first heartbeat (its first scan done, bids taken). */
  readySeconds: number;
}

export interface LookupRow {
  phase: string;
  lookups?: Latencies;
  landingSeconds?: number;
  seconds: number;
}

export interface HddResult {
  describe: string;
  iops: number;
  landBytes: number;
  /** How the lookups read: "direct" (O_DIRECT) or "buffered". */
  readerMode?: string;
  starts: StartRow[];
  lookups: LookupRow[];
  farm?: FarmResult;
  ok: boolean;
  error?: string;
  skipped?: string;
}

const write = (s: string) => process.stdout.write(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One harvester serving `dir`, inside the read cap; resolves `ready` at its first heartbeat. */
function startHarvester(nc: NatsConnection, nats: string, cap: ReadCap, dir: string, log: string) {
  const id = `hdd-${path.basename(path.dirname(dir))}`;
  const beats = nc.subscribe(`plotferry.heartbeat.${id}`, { max: 1 });
  const t0 = performance.now();
  const ready = (async () => {
    for await (const _ of beats) return (performance.now() - t0) / 1000;
    return NaN;
  })();
  const daemon = startIn(cap.procs, harvesterArgv(nats, id, '127.0.0.1', [dir]), log);
  return { daemon, ready, t0 };
}

/**
 * Polls `counter` until the process is ready and the counter has not moved for QUIET_MS; the
 * time of its last move, in seconds from `t0`.
 */
async function untilQuiet(counter: () => number, t0: number, ready: Promise<number>, h: Daemon): Promise<number> {
  let isReady = false;
  void ready.then(() => (isReady = true));
  let gone = false;
  void h.exited.then(() => (gone = true));
  const w0 = performance.now();
  const watch = new QuietWatch(QUIET_MS, w0);
  watch.sample(counter(), w0);
  for (;;) {
    await sleep(100);
    if (gone) throw new Error('the harvester exited during its start');
    if (performance.now() - w0 > GIVE_UP_MS) throw new Error(`the disk was not quiet after ${GIVE_UP_MS / 60_000} min`);
    if (watch.sample(counter(), performance.now()) && isReady) break;
  }
  return ((watch.lastReadMs ?? 0) + w0 - t0) / 1000;
}

/** A cold start of a harvester on `disk`, measured; stopped again afterwards. */
async function measureStart(env: Env, disk: LoopDisk, plots: number, start: StartRow['start']): Promise<StartRow> {
  dropCaches();
  const r0 = env.cap.reads(disk.majMin);
  const dir = path.join(disk.mount, 'plots');
  const h = startHarvester(env.nc, env.nats.url, env.cap, dir, path.join(env.base, 'harvester.log'));
  try {
    const quietSeconds = await untilQuiet(() => env.cap.reads(disk.majMin), h.t0, h.ready, h.daemon);
    const reads = env.cap.reads(disk.majMin) - r0;
    const row = {
      plots,
      start,
      reads,
      readsPerPlot: Math.round((reads / plots) * 1000) / 1000,
      quietSeconds: Math.round(quietSeconds * 10) / 10,
      readySeconds: Math.round((await h.ready) * 10) / 10,
    };
    write(
      `  ${plots} plots, ${start.padEnd(11)} ${String(reads).padStart(6)} reads (${row.readsPerPlot} per plot), quiet after ${row.quietSeconds} s, first heartbeat after ${row.readySeconds} s\n`,
    );
    return row;
  } finally {
    await h.daemon.stop();
  }
}

interface Env {
  base: string;
  nats: NatsServer;
  nc: NatsConnection;
  cap: ReadCap;
}

/** Bytes read from storage on behalf of `pid` (its /proc io), the lookups' reads left out. */
function procReadBytes(pid: number): number {
  try {
    return Number(/read_bytes: (\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** `plotferry sweep` of one fresh plot of `bytes` onto the farm; its seconds. */
async function sweepOne(env: Env, bytes: number, tag: string): Promise<number> {
  const src = fs.mkdtempSync('/dev/shm/pf-hdd-src-');
  try {
    writeSamplePlot(path.join(src, `plot-k28-hdd-${tag}.plot2`), bytes, 28, 'pos2-v1', NO_GROUP);
    const t0 = performance.now();
    const r = await timed(sweepArgv(env.nats.url, 1, src), env.base).done;
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`sweep exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
    if (fs.readdirSync(src).some((f) => f.endsWith('.plot2'))) throw new Error('sweep left its plot behind');
    return Math.round(seconds * 100) / 100;
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
  }
}

/** The lookups' latencies on an idle disk, during a restart and during a sweep; landing times. */
async function measureLookups(env: Env, disk: LoopDisk, plots: number, landBytes: number) {
  const rows: LookupRow[] = [];
  const log = path.join(env.base, 'lookups.log');
  const lookupFile = path.join(disk.mount, 'lookups.bin');
  const window = (phase: string, from: number, to: number, landingSeconds?: number) => {
    const lat = latencies(parseReaderLog(fs.readFileSync(log, 'utf8')), from, to);
    const row = { phase, ...(lat ? { lookups: lat } : {}), seconds: Math.round((to - from) / 100) / 10 };
    rows.push(landingSeconds === undefined ? row : { ...row, landingSeconds });
    write(
      `  lookups ${phase}: ${lat ? `${lat.n} reads, p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms (started ${(lat.maxStartMs / 1000).toFixed(1)} s in)` : 'none'}${landingSeconds === undefined ? '' : `; the plot landed in ${landingSeconds} s`}\n`,
    );
  };
  dropCaches();
  const reader = startIn(
    env.cap.procs,
    [process.execPath, READER, lookupFile, log, String(LOOKUPS_PER_SECOND)],
    path.join(env.base, 'reader.err'),
  );
  let h: ReturnType<typeof startHarvester> | undefined;
  try {
    await sleep(1_000);
    const idle0 = Date.now();
    await sleep(IDLE_MS);
    window('on an idle disk', idle0, Date.now());
    dropCaches();
    const restart0 = Date.now();
    h = startHarvester(
      env.nc,
      env.nats.url,
      env.cap,
      path.join(disk.mount, 'plots'),
      path.join(env.base, 'harvester.log'),
    );
    const pid = h.daemon.pid;
    const quiet = await untilQuiet(() => procReadBytes(pid), h.t0, h.ready, h.daemon);
    window(`during a restart (${plots.toLocaleString('en')} plots)`, restart0, restart0 + quiet * 1000);
    write(`  (its first heartbeat after ${(await h.ready).toFixed(1)} s)\n`);
    const sweep0 = Date.now();
    const landed = await sweepOne(env, landBytes, 'with-lookups');
    window(`during a sweep (one plot of ${(landBytes / 2 ** 30).toFixed(2)} GiB)`, sweep0, Date.now(), landed);
    await reader.stop();
    const alone = await sweepOne(env, landBytes, 'alone');
    rows.push({ phase: 'no lookups: the same sweep', landingSeconds: alone, seconds: alone });
    write(`  no lookups: the plot landed in ${alone} s\n`);
    const mode = /^# (\w+)/.exec(fs.readFileSync(log, 'utf8'))?.[1];
    return { rows, mode };
  } finally {
    await reader.stop();
    await h?.daemon.stop();
  }
}

function describeRun(o: HddOptions): string {
  return `ext4 on loop devices (images in ${o.work}), reads capped at ${o.iops}/s per disk (cgroup v1 blkio)`;
}

export async function runHdd(o: HddOptions): Promise<HddResult> {
  const result: HddResult = {
    describe: describeRun(o),
    iops: o.iops,
    landBytes: o.landBytes,
    starts: [],
    lookups: [],
    ok: true,
  };
  const why = cannotRun();
  if (why) return { ...result, skipped: why };
  const cleanup = new Cleanup();
  const onSignal = () => {
    killAll();
    cleanup.run();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  let env: Env | undefined;
  try {
    const base = fs.mkdtempSync(path.join(o.work, 'pf-hdd-'));
    cleanup.push(`rm -r ${base}`, () => fs.rmSync(base, { recursive: true, force: true }));
    const disks = o.plots.map((n, i) =>
      loopDisk(base, `disk${i}`, n * PLOT_BYTES * 2 + 2 * o.landBytes + LOOKUP_BYTES + 1024 * MiB, cleanup),
    );
    const cap = readCap(
      `plotferry-bench-${process.pid}`,
      disks.map((d) => d.majMin),
      o.iops,
      cleanup,
    );
    const nats = await startNatsServer();
    env = { base, nats, nc: await connect({ servers: nats.url }), cap };
    for (const [i, disk] of disks.entries()) {
      const t = performance.now();
      fs.mkdirSync(path.join(disk.mount, 'plots'));
      writePlots(path.join(disk.mount, 'plots'), o.plots[i]!, PLOT_BYTES);
      if (i === 0) writeSamplePlot(path.join(disk.mount, 'lookups.bin'), LOOKUP_BYTES);
      write(`  disk ${i}: ${o.plots[i]} plots written in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    }
    for (const [i, disk] of disks.entries()) {
      result.starts.push(await measureStart(env, disk, o.plots[i]!, 'first start'));
      result.starts.push(await measureStart(env, disk, o.plots[i]!, 'restart'));
      if (i > 0) continue;
      const { rows, mode } = await measureLookups(env, disk, o.plots[i]!, o.landBytes);
      result.lookups = rows;
      if (mode) result.readerMode = mode;
    }
    if (o.farm) result.farm = await runFarm(env.nats.url, env.nc, o.farm.disks, o.farm.plots, cleanup);
  } catch (err) {
    result.ok = false;
    const log = env ? path.join(env.base, 'harvester.log') : '';
    const tail =
      log && fs.existsSync(log) ? `; the harvester's log ends: ${fs.readFileSync(log, 'utf8').slice(-500)}` : '';
    result.error = (err as Error).message + tail;
    write(`  FAILED: ${result.error}\n`);
  } finally {
    await env?.nc.close();
    await env?.nats.stop();
    for (const f of cleanup.run()) write(`  cleanup failed: ${f}\n`);
    process.off('SIGINT', onSignal);
  }
  return result;
}

const f1 = (x: number) => x.toFixed(1);

export function hddSummary(r: HddResult): string {
  const lines = [
    `Reads capped at ${r.iops}/s per disk. Restarts: caches dropped, then the harvester started; quiet: no new read for ${QUIET_MS / 1000} s.`,
    '',
    '| plots | start | reads | reads per plot | disk quiet after (s) | first heartbeat after (s) |',
    '|---:|---|---:|---:|---:|---:|',
    ...r.starts.map(
      (s) =>
        `| ${s.plots.toLocaleString('en')} | ${s.start} | ${s.reads.toLocaleString('en')} | ${s.readsPerPlot.toFixed(2)} | ${f1(s.quietSeconds)} | ${f1(s.readySeconds)} |`,
    ),
  ];
  if (r.lookups.length > 0) {
    lines.push(
      '',
      `Lookups: random 4 KiB reads (${r.readerMode === 'direct' ? 'O_DIRECT' : 'buffered, caches dropped'}), ${LOOKUPS_PER_SECOND} a second, one at a time, sharing the disk's ${r.iops} reads/s.`,
      '',
      '| while | over (s) | lookups | p50 ms | p99 ms | max ms | the plot landed in (s) |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...r.lookups.map((l) => {
        const x = l.lookups;
        const land = l.landingSeconds === undefined ? '–' : l.landingSeconds.toFixed(2);
        return `| ${l.phase} | ${f1(l.seconds)} | ${x ? x.n : '–'} | ${x ? x.p50 : '–'} | ${x ? x.p99 : '–'} | ${x ? x.max : '–'} | ${land} |`;
      }),
    );
  }
  if (r.farm) lines.push('', farmSummary(r.farm));
  if (!r.ok) lines.push('', `FAILED: ${r.error}`);
  return lines.join('\n');
}
