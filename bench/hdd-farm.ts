/**
 * The hdd scenario's farm start: one harvester over 20 disks of 18,000 PoS2 plots each (360,000
 * files; each disk a tmpfs of its own, so no I/O cap: what is measured is the harvester's own
 * work per plot). From its spawn: the first bid to an announce (sent every 100 ms from the
 * spawn on), then a plotter's `plotferry send --nats` of one plot; its memory once started, and
 * its CPU over 10 s while idle once its start-up work is done.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInbox, NatsConnection } from 'nats';
import { NO_GROUP, writeSamplePlot } from '../src/demo/sample.js';
import { Cleanup, startIn, unmount, writePlots } from './hdd-env.js';
import { statCpuSeconds } from './hdd-stats.js';
import { harvesterArgv } from './many.js';
import { CLI } from './peers.js';
import { timed } from './proc.js';

export interface FarmResult {
  disks: number;
  plotsPerDisk: number;
  /** Spawn to its first bid. */
  firstBidSeconds: number;
  /** Spawn to a heartbeat that counts every plot. */
  countedSeconds: number;
  /** A `send --nats` of one 1 MiB plot, started at the first bid. */
  sendSeconds: number;
  /** Spawn to its CPU going quiet (the background header reads done). */
  settledSeconds: number;
  rssMB: number;
  peakRssMB: number;
  idleCpuPercent: number;
}

const PLOT_BYTES = 4096;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const enc = (o: object) => new TextEncoder().encode(JSON.stringify(o));
const r1 = (x: number) => Math.round(x * 10) / 10;

function cpu(pid: number): number {
  return statCpuSeconds(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

function statusMB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

/** `n` disks of `plots` plot files each, each its own tmpfs under a fresh directory. */
function makeDisks(n: number, plots: number, cleanup: Cleanup): string[] {
  const base = fs.mkdtempSync('/tmp/pf-hdd-farm-');
  cleanup.push(`rm -r ${base}`, () => fs.rmSync(base, { recursive: true, force: true }));
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = path.join(base, `disk${String(i).padStart(2, '0')}`);
    fs.mkdirSync(d);
    const size = `${Math.ceil((plots * PLOT_BYTES * 2) / 2 ** 20) + 64}m`;
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', d], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount tmpfs on ${d}: ${r.stderr.trim()}`);
    cleanup.push(`umount ${d}`, () => unmount(d));
    writePlots(d, plots, PLOT_BYTES);
    dirs.push(d);
  }
  return dirs;
}

/** Resolves with the seconds from `t0` to the first bid to an announce sent every 100 ms. */
function firstBid(nc: NatsConnection, t0: number): { at: Promise<number>; stop(): void } {
  const inbox = createInbox();
  const at = new Promise<number>((resolve) => {
    const sub = nc.subscribe(inbox, {
      callback: (_e, m) => {
        // Before the harvester subscribes, NATS itself answers "no responders" (no body).
        if (!new TextDecoder().decode(m.data).includes('"kind":"bid"')) return;
        clearInterval(timer);
        sub.unsubscribe();
        resolve((performance.now() - t0) / 1000);
      },
    });
  });
  let i = 0;
  const announce = () =>
    nc.publish(
      'plotferry.announce',
      enc({
        kind: 'announce',
        v: 1,
        id: `farm-${i++}`,
        name: 'plot-k28-farm-probe.plot2',
        size: 2 ** 20,
        plotter: 'bench',
        exclude: [],
        answerAll: true,
      }),
      { reply: inbox },
    );
  const timer = setInterval(announce, 100);
  announce();
  return { at, stop: () => clearInterval(timer) };
}

/** Seconds from `t0` to a heartbeat of `id` that counts `plots` plots. */
async function counted(nc: NatsConnection, id: string, plots: number, t0: number): Promise<number> {
  for await (const m of nc.subscribe(`plotferry.heartbeat.${id}`)) {
    const hb = JSON.parse(new TextDecoder().decode(m.data)) as { dirs: { plots: number }[] };
    if (hb.dirs.reduce((n, d) => n + d.plots, 0) >= plots) return (performance.now() - t0) / 1000;
  }
  return NaN;
}

/** Waits until `pid` uses at most one tick (10 ms) of CPU in half a second, for at most 5 min. */
async function settle(pid: number): Promise<void> {
  for (let c = cpu(pid), i = 0; i < 600; i++) {
    await sleep(500);
    const now = cpu(pid);
    if (now - c <= 0.01) return;
    c = now;
  }
}

export async function runFarm(
  nats: string,
  nc: NatsConnection,
  disks: number,
  plotsPerDisk: number,
  cleanup: Cleanup,
): Promise<FarmResult> {
  const t = performance.now();
  const dirs = makeDisks(disks, plotsPerDisk, cleanup);
  process.stdout.write(
    `  farm: ${disks} x ${plotsPerDisk} plots written in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
  );
  const scratch = fs.mkdtempSync('/dev/shm/pf-hdd-farm-src-');
  cleanup.push(`rm -r ${scratch}`, () => fs.rmSync(scratch, { recursive: true, force: true }));
  const plot = path.join(scratch, 'plot-k28-hdd-farm-first.plot2');
  writeSamplePlot(plot, 2 ** 20, 28, 'pos2-v1', NO_GROUP);
  const t0 = performance.now();
  const bid = firstBid(nc, t0);
  const all = counted(nc, 'hdd-farm', disks * plotsPerDisk, t0);
  const h = startIn(undefined, harvesterArgv(nats, 'hdd-farm', '127.0.0.1', dirs), path.join(scratch, 'harvester.log'));
  try {
    const gone = new Promise<never>((_, reject) => {
      const log = () => fs.readFileSync(path.join(scratch, 'harvester.log'), 'utf8').slice(-500);
      void h.exited.then((code) => reject(new Error(`the farm's harvester exited (${code}): ${log()}`)));
      // Stuck, not slow: 360,000 plots took 13 s to the first bid.
      setTimeout(() => reject(new Error('no bid from the farm after 10 min')), 10 * 60_000).unref();
    });
    const firstBidSeconds = await Promise.race([bid.at, gone]);
    const s0 = performance.now();
    const send = await timed([process.execPath, CLI, 'send', '--nats', nats, '--log-level', 'warn', plot], scratch)
      .done;
    if (send.code !== 0) throw new Error(`send --nats exited ${send.code}: ${send.stderr.trim().slice(-300)}`);
    const sendSeconds = (performance.now() - s0) / 1000;
    const countedSeconds = await Promise.race([all, gone]);
    await settle(h.pid);
    const settledSeconds = (performance.now() - t0) / 1000;
    const c0 = cpu(h.pid);
    await sleep(10_000);
    const idleCpuPercent = Math.round(((cpu(h.pid) - c0) / 10) * 1000) / 10;
    const r: FarmResult = {
      disks,
      plotsPerDisk,
      firstBidSeconds: r1(firstBidSeconds),
      countedSeconds: r1(countedSeconds),
      sendSeconds: Math.round(sendSeconds * 100) / 100,
      settledSeconds: r1(settledSeconds),
      rssMB: statusMB(h.pid, 'VmRSS'),
      peakRssMB: statusMB(h.pid, 'VmHWM'),
      idleCpuPercent,
    };
    process.stdout.write(`  farm: ${JSON.stringify(r)}\n`);
    return r;
  } finally {
    bid.stop();
    await h.stop();
  }
}

export function farmSummary(f: FarmResult): string {
  const plots = (f.disks * f.plotsPerDisk).toLocaleString('en');
  return [
    `A harvester of ${f.disks} disks x ${f.plotsPerDisk.toLocaleString('en')} plots (${plots} files, tmpfs: no I/O cap), from its spawn:`,
    '',
    '| first bid (s) | every plot counted (s) | then `send --nats` of 1 MiB (s) | CPU quiet after (s) | RSS MB (peak) | idle CPU, % of a core |',
    '|---:|---:|---:|---:|---:|---:|',
    `| ${f.firstBidSeconds} | ${f.countedSeconds} | ${f.sendSeconds} | ${f.settledSeconds} | ${f.rssMB} (${f.peakRssMB}) | ${f.idleCpuPercent} |`,
  ].join('\n');
}
