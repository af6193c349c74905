/**
 * The newcomer's first run (`npm run demo`): the main job on a local default. It uses the NATS
 * server at PLOTFERRY_NATS (as every command reads it) or nats://127.0.0.1:4222 when one answers, else starts a private
 * nats-server; starts two harvesters over temporary directories; makes sample plots; sweeps
 * them with progress; prints where each landed and the throughput. Then a replot: a third
 * harvester with --replot on a disk full of sample PoS1 plots takes sample PoS2 plots, and
 * `status` before and after shows the old plots giving way. Cleans up.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { DEFAULT_NATS_URL } from '../bus/connect.js';
import { NatsServer, startNatsServer } from './nats-server.js';
import { parseBytes } from '../core/config.js';
import { formatBytes } from '../core/format.js';
import { Harvester } from '../farm/harvester-daemon.js';
import { collectHeartbeats, formatStatus } from '../plotter/farm-status.js';
import { sweep } from '../plotter/sweep-plots.js';
import type { ResultLine } from '../plotter/result-line.js';
import { isPlotFileName } from '../wire/names.js';
import { decodeOwner, encodeOwner, liveness, Owner, processStart, selfOwner } from '../storage/owner.js';
import { writeSamplePlot } from './sample.js';

/** Progress bars for the sweep (the CLI's, on a terminal). */
export interface DemoProgress {
  add(name: string, total: number): { update(bytes: number): void };
  stop(): void;
}

export interface DemoOptions {
  files: number;
  /** Bytes, or a size as `--size` takes it ("256M"). */
  size: number | string;
  keep: boolean;
  log: Logger;
  progress: DemoProgress;
  /** Ctrl-C: the sweep stops, and everything the demo made is removed all the same. */
  signal?: AbortSignal;
}

/** The demo's directories are named so; OWNER_FILE inside says which process made one. */
const ROOT_PREFIX = 'plotferry-demo-';
const OWNER_FILE = '.demo-owner.json';

export async function runDemo(opts: DemoOptions): Promise<number> {
  const size = parseBytes(opts.size, 'size');
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const base = await pickBase(size * opts.files * 2);
  // The replot's sources may live in the temp directory (replotAct): leftovers there go too.
  for (const dir of new Set([base, os.tmpdir()]))
    for (const gone of await removeLeftovers(dir)) say(`removed ${gone}, left by a demo that was killed`);
  const root = await fsp.mkdtemp(path.join(base, ROOT_PREFIX));
  const owner = selfOwner('demo');
  await fsp.writeFile(path.join(root, OWNER_FILE), encodeOwner(owner));
  const prefix = `demo-${randomBytes(4).toString('hex')}`; // never mixes with a real farm on a shared server
  const plotter = path.join(root, 'plotter-nvme');
  const harvesterDirs = [
    [path.join(root, 'harvester-1', 'disk1'), path.join(root, 'harvester-1', 'disk2')],
    [path.join(root, 'harvester-2', 'disk1'), path.join(root, 'harvester-2', 'disk2')],
  ];
  for (const d of [plotter, ...harvesterDirs.flat()]) await fsp.mkdir(d, { recursive: true });
  let server: NatsServer | undefined;
  const conns: NatsConnection[] = [];
  const harvesters: Harvester[] = [];
  try {
    say(`plotferry demo in ${root}`);
    const found = await findOrStartNats(root, owner, prefix, say);
    server = found.server;
    const natsUrl = found.url;
    const nc = async () => {
      const c = await connect({ servers: natsUrl });
      conns.push(c);
      return c;
    };
    for (const [i, dirs] of harvesterDirs.entries())
      harvesters.push(await startHarvester(i, dirs, await nc(), prefix, opts.log));
    say(
      `2 harvesters bidding, 2 directories each; making ${opts.files} sample plot(s) of ${formatBytes(size)} in ${plotter} ...`,
    );
    for (let i = 0; i < opts.files; i++) {
      writeSamplePlot(
        path.join(plotter, `plot-k32-demo-${String(i + 1).padStart(2, '0')}-${randomBytes(8).toString('hex')}.plot`),
        size,
      );
    }
    say('sweeping (as cron would: plotferry sweep --nats URL DIR):');
    const { progress } = opts;
    const t0 = process.hrtime.bigint();
    const items = await sweep({
      nc: await nc(),
      dirs: [plotter],
      plotter: 'demo-plotter',
      prefix,
      minAgeMs: 0,
      concurrency: 2,
      log: opts.log,
      signal: opts.signal,
      onStart: (c) => {
        const bar = progress.add(c.name, c.size);
        return (b) => bar.update(b);
      },
    });
    progress.stop();
    if (opts.signal?.aborted) say('stopped (Ctrl-C): cleaning up');
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const sent = await sayMoved(items, secs, { root, plotter, harvesterDirs, say });
    if (opts.signal?.aborted) return 1;
    const replotOk = await replotAct({ root, plotter, prefix: `${prefix}-replot`, size, nc, harvesters, say, opts });
    return sent === items.length && replotOk ? 0 : 1;
  } finally {
    for (const h of harvesters) await h.close();
    for (const c of conns) await c.close();
    await server?.stop();
    unmountUnder(root);
    if (opts.keep) say(`kept ${root}`);
    else await fsp.rm(root, { recursive: true, force: true });
  }
}

/** Demo harvester `i` on 127.0.0.1 over `dirs`. */
function startHarvester(
  i: number,
  dirs: string[],
  nc: NatsConnection,
  prefix: string,
  log: Logger,
): Promise<Harvester> {
  return Harvester.start({
    nc,
    id: `demo-harvester-${i + 1}`,
    advertiseHost: '127.0.0.1',
    listenHost: '127.0.0.1',
    dirs,
    // The demo's disks are scratch directories, often on the root filesystem.
    allowRootFs: true,
    prefix,
    log,
  });
}

/** The NATS server at PLOTFERRY_NATS (or the default URL) if one answers, else a private one started here. */
async function findOrStartNats(
  root: string,
  owner: Owner,
  prefix: string,
  say: (s: string) => void,
): Promise<{ server?: NatsServer; url: string }> {
  const url = process.env.PLOTFERRY_NATS || DEFAULT_NATS_URL;
  const probe = await connect({ servers: url, timeout: 1_000, maxReconnectAttempts: 0 }).catch(() => undefined);
  if (probe) {
    await probe.close();
    say(`using the NATS server at ${url} (subjects under "${prefix}.")`);
    return { url };
  }
  const server = await startNatsServer();
  try {
    const nats = { pid: server.pid, start: processStart(server.pid) };
    await fsp.writeFile(path.join(root, OWNER_FILE), encodeOwner({ ...owner, nats } as Owner));
  } catch (err) {
    // Not handed back yet, so the caller's cleanup would not stop it.
    await server.stop();
    throw err;
  }
  say(`no NATS server at ${url}: started a private nats-server at ${server.url}`);
  return { server, url: server.url };
}

/** Where each plot went, how fast, and what each directory holds now; how many were sent. */
async function sayMoved(
  items: ResultLine[],
  secs: number,
  at: { root: string; plotter: string; harvesterDirs: string[][]; say: (s: string) => void },
): Promise<number> {
  const { root, plotter, harvesterDirs, say } = at;
  let total = 0;
  for (const it of items) {
    if (it.status === 'sent') {
      total += it.size ?? 0;
      say(
        `  ${it.name}\n    -> ${it.harvester}: ${it.remotePath}\n       ${it.mbps!.toFixed(0)} MB/s, xxh64 ${it.hash} verified on both ends, source removed`,
      );
    } else {
      say(`  ${it.name}: ${it.status}${it.error ? ` (${it.error.code}: ${it.error.message})` : ''}`);
    }
  }
  const sent = items.filter((i) => i.status === 'sent').length;
  say(
    `moved ${sent} of ${items.length} plot(s), ${(total / 2 ** 30).toFixed(2)} GiB in ${secs.toFixed(2)} s: ${(total / 1e6 / secs).toFixed(0)} MB/s overall`,
  );
  for (const dirs of harvesterDirs) {
    for (const d of dirs) say(`  ${path.relative(root, d)}: ${(await plotsIn(d)).length} plot(s)`);
  }
  say(`  plotter-nvme: ${(await plotsIn(plotter)).length} plot(s) left`);
  say("  (each harvester's two directories share one filesystem here, so they count as one disk)");
  return sent;
}

/**
 * The replot: a disk "full" of PoS1 plots (a --reserve that leaves half a plot free
 * on the shared filesystem stands in for a full disk here), a harvester with --replot on it, and
 * PoS2 plots swept to it. Each arrival deletes only as many PoS1 plots as it needs, oldest first.
 */
async function replotAct(a: {
  root: string;
  plotter: string;
  prefix: string;
  size: number;
  nc: () => Promise<NatsConnection>;
  harvesters: Harvester[];
  say: (s: string) => void;
  opts: DemoOptions;
}): Promise<boolean> {
  const { size } = a;
  const disk = path.join(a.root, 'harvester-3', 'disk1');
  await fsp.mkdir(disk, { recursive: true });
  // As root, a disk of its own (a tmpfs just big enough for the old plots and one new one), so
  // that nothing else writing to the shared filesystem moves its free space; otherwise the
  // --reserve below stands in for a full disk on the shared one.
  if (process.getuid?.() === 0) {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${9 * size}`, 'tmpfs', disk], { stdio: 'ignore' });
    } catch {
      // no mount here (a container without the right): the shared filesystem it is
    }
  }
  // PoS1 plots are ~100 times a PoS2 plot; twice here keeps the demo small.
  const oldNames: string[] = [];
  const t0 = Date.now() / 1000 - 400 * 86_400;
  for (let i = 0; i < 4; i++) {
    const name = `plot-k32-2023-old-${i + 1}-${randomBytes(8).toString('hex')}.plot`;
    writeSamplePlot(path.join(disk, name), 2 * size, 32);
    await fsp.utimes(path.join(disk, name), t0 + i * 86_400, t0 + i * 86_400);
    oldNames.push(name);
  }
  // The PoS2 plots come from another filesystem where there is one (the temp directory), as from
  // a plotter's NVMe: on the disk's own, each source deleted would give back the room its copy took.
  const own = await fsp.stat(disk);
  const other = (await fsp.stat(os.tmpdir()).catch(() => own)).dev !== own.dev;
  const src = other ? await fsp.mkdtemp(path.join(os.tmpdir(), ROOT_PREFIX)) : a.plotter;
  try {
    if (other) await fsp.writeFile(path.join(src, OWNER_FILE), encodeOwner(selfOwner('demo')));
    for (let i = 0; i < 3; i++)
      writeSamplePlot(
        path.join(src, `plot-k28-demo-${String(i + 1).padStart(2, '0')}-${randomBytes(8).toString('hex')}.plot2`),
        size,
        28,
        'pos2-v1',
      );
    return await replotSweep(a, disk, src, oldNames);
  } finally {
    if (other) await fsp.rm(src, { recursive: true, force: true });
  }
}

async function replotSweep(
  a: Parameters<typeof replotAct>[0],
  disk: string,
  src: string,
  oldNames: readonly string[],
): Promise<boolean> {
  const { say, size, opts } = a;
  const st = await fsp.statfs(disk);
  const reserveBytes = Math.max(0, st.bavail * st.bsize - Math.floor(size / 2));
  say('');
  say(
    `replot: harvester-3 runs --replot on a disk full of PoS1 plots (4 of ${(2 * size) / 2 ** 20} MiB; --reserve leaves half a plot free)`,
  );
  a.harvesters.push(
    await Harvester.start({
      nc: await a.nc(),
      id: 'demo-harvester-3',
      advertiseHost: '127.0.0.1',
      listenHost: '127.0.0.1',
      dirs: [disk],
      allowRootFs: true,
      prefix: a.prefix,
      reserveBytes,
      replot: { order: 'oldest' },
      // Its "replot: deleted ..." warnings are this act's story, told below in words: only
      // errors in the log here, not JSON lines in the middle of it.
      log: opts.log.child({}, { level: 'error' }),
    }),
  );
  const status = async (when: string) => {
    say(`  plotferry status, ${when}:`);
    const text = formatStatus(await collectHeartbeats(await a.nc(), a.prefix, 2_000, opts.log));
    for (const line of text.trimEnd().split('\n')) say(`    ${line}`);
  };
  await status('before');
  say('  sweeping 3 PoS2 plots to it ...');
  const items = await sweep({
    nc: await a.nc(),
    dirs: [src],
    plotter: 'demo-plotter',
    prefix: a.prefix,
    minAgeMs: 0,
    concurrency: 1,
    log: opts.log,
    signal: opts.signal,
  });
  for (const it of items)
    say(`  ${it.name}: ${it.status}${it.error ? ` (${it.error.code}: ${it.error.message})` : ''}`);
  const left = new Set(await fsp.readdir(disk));
  const gone = oldNames.filter((n) => !left.has(n));
  say(
    `  deleted ${gone.length} PoS1 plot(s), the oldest first, each only when a PoS2 plot needed its room: ${gone.join(', ') || 'none'}`,
  );
  await status('after');
  return items.every((i) => i.status === 'sent');
}

/**
 * Demo directories whose process is gone (killed with SIGKILL, or the machine lost power): each
 * is removed, and its private nats-server stopped if it still runs. A live demo's are left alone.
 * Their owner file is the owner record locks use (storage/owner.ts), so a reused PID is no owner.
 */
async function removeLeftovers(base: string): Promise<string[]> {
  const removed: string[] = [];
  for (const n of await fsp.readdir(base).catch(() => [] as string[])) {
    if (!n.startsWith(ROOT_PREFIX)) continue;
    const dir = path.join(base, n);
    const owner: (Owner & { nats?: { pid?: unknown; start?: unknown } }) | undefined = decodeOwner(
      await fsp.readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => ''),
    );
    // No owner record: not ours to judge (an older demo, or not a demo at all). A live owner, or
    // one on another host (a shared temp dir), keeps its directory.
    if (!owner || liveness(owner) !== 'dead') continue;
    // Its nats-server, if that very process still runs (same PID and start time: not a process
    // that reused the number).
    const nats = owner.nats;
    if (
      typeof nats?.pid === 'number' &&
      typeof nats.start === 'string' &&
      nats.start !== '' &&
      processStart(nats.pid) === nats.start
    )
      process.kill(nats.pid, 'SIGTERM');
    unmountUnder(dir);
    await fsp.rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Unmounts what a demo mounted under `dir` (the replot's disk), deepest first; as root only. */
function unmountUnder(dir: string): void {
  let mounts: string[];
  try {
    mounts = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`));
  } catch {
    return; // no /proc: nothing was mounted
  }
  for (const m of mounts.sort().reverse()) {
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      // busy or not ours to unmount: the rm after this says so
    }
  }
}

/** Plots in `dir`: not plotferry's hidden files (hash records, locks, temporary files). */
async function plotsIn(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter(isPlotFileName);
}

async function pickBase(need: number): Promise<string> {
  try {
    const s = await fsp.statfs('/dev/shm');
    if (s.bavail * s.bsize > need) return '/dev/shm';
  } catch {
    // no /dev/shm here
  }
  return os.tmpdir();
}
