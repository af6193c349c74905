/**
 * The bench's `hold` scenario: a harvester whose 2 disks each hold 20,000 plot files
 * (empty files: what is measured is per-plot bookkeeping, not bytes), as an 18 TB disk of PoS2
 * plots does. Measured through a real nats-server against a real harvester process:
 *   - start-up: spawn to the first heartbeat (the inventory's first scan of 40,000 plots);
 *   - `has` and an answerAll announce (the bid): round trip from this process, median and 99th
 *     percentile of 200 each; a status ping to the heartbeat it triggers, 10 of them (a harvester
 *     answers one ping a second at most). Targets: under 5 ms;
 *   - idle CPU of the harvester over 10 s with nothing to do (target: under 1% of a core).
 * Beside them, in the same run, the same round trips to a bare NATS responder process
 * (nats-echo.ts): the floor that the machine sets before any harvester work.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { connect, createInbox, NatsConnection } from 'nats';
import { startNatsServer } from '../src/demo/nats-server.js';
import { fileURLToPath } from 'node:url';
import { harvesterArgv } from './many.js';

export interface HoldResult {
  plots: number;
  startupSeconds: number;
  /** Spawn to its CPU going quiet (the background header reads done): when the timing starts. */
  settledSeconds: number;
  has: Percentiles;
  bid: Percentiles;
  heartbeat: Percentiles;
  idleCpuPercent: number;
}
interface Percentiles {
  p50: number;
  p99: number;
}

export const PER_DISK = 20_000;
const ROUNDS = 200;
const enc = (o: object) => new TextEncoder().encode(JSON.stringify(o));

function percentiles(ms: number[]): Percentiles {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 100) / 100;
  return { p50: at(0.5), p99: at(0.99) };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** First reply to `subject`, in ms, via a fresh inbox (a request that does not stop at the first). */
async function roundTrip(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  accept: (m: string) => boolean,
): Promise<number> {
  const inbox = createInbox();
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`no answer on ${subject}`));
    }, 5_000);
    const sub = nc.subscribe(inbox, {
      callback: (_e, m) => {
        if (!accept(new TextDecoder().decode(m.data))) return;
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(performance.now() - t0);
      },
    });
    nc.publish(subject, data, { reply: inbox });
  });
}

/** ROUNDS `has` (a held name and a new one in turn) and answerAll announces, one at a time. */
async function roundTrips(nc: NatsConnection): Promise<{ has: Percentiles; bid: Percentiles }> {
  const has: number[] = [];
  const bid: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const name = i % 2 ? `plot-k28-${(i * 97).toString(16).padStart(64, '0')}.plot2` : `plot-k28-new-${i}.plot2`;
    has.push(
      await roundTrip(nc, 'plotferry.has', enc({ kind: 'has', v: 1, name, size: 0, answerAll: true }), () => true),
    );
    bid.push(
      await roundTrip(
        nc,
        'plotferry.announce',
        enc({
          kind: 'announce',
          v: 1,
          id: `b${i}`,
          name: `plot-k28-bid-${i}.plot2`,
          size: 1024,
          plotter: 'bench',
          exclude: [],
          answerAll: true,
        }),
        () => true,
      ),
    );
  }
  return { has: percentiles(has), bid: percentiles(bid) };
}

/** The same round trips to a bare responder process (nats-echo.ts): the machine's floor. */
export async function runEcho(): Promise<{ has: Percentiles; bid: Percentiles }> {
  const nats = await startNatsServer();
  const echo = spawn(process.execPath, [fileURLToPath(new URL('./nats-echo.js', import.meta.url)), nats.url], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const nc = await connect({ servers: nats.url });
  try {
    await new Promise<void>((resolve, reject) => {
      echo.stdout.once('data', () => resolve());
      echo.once('exit', (code) => reject(new Error(`nats-echo exited (${code})`)));
    });
    return await roundTrips(nc);
  } finally {
    echo.kill();
    await new Promise((r) => echo.once('exit', r));
    await nc.close();
    await nats.stop();
  }
}

export async function runHold(work: string, perDisk = PER_DISK): Promise<HoldResult> {
  const base = fs.mkdtempSync(path.join(work, 'pf-hold-'));
  const nats = await startNatsServer();
  const dirs = ['d1', 'd2'].map((d) => path.join(base, d));
  for (const d of dirs) {
    fs.mkdirSync(d);
    for (let i = 0; i < perDisk; i++)
      fs.closeSync(fs.openSync(path.join(d, `plot-k28-${i.toString(16).padStart(64, '0')}.plot2`), 'w'));
  }
  const nc = await connect({ servers: nats.url });
  const beats = nc.subscribe('plotferry.heartbeat.*');
  const t0 = performance.now();
  const [node, ...argv] = harvesterArgv(nats.url, 'hold', '127.0.0.1', dirs);
  const h = spawn(node!, argv, { stdio: 'ignore' });
  try {
    const ping = setInterval(() => nc.publish('plotferry.status'), 50);
    for await (const m of beats) {
      const hb = JSON.parse(new TextDecoder().decode(m.data)) as { dirs: { plots: number }[] };
      if (hb.dirs.reduce((n, d) => n + d.plots, 0) === 2 * perDisk) break;
    }
    clearInterval(ping);
    const startupSeconds = (performance.now() - t0) / 1000;
    // The round trips are timed once the start-up work is done: the PoS2 headers (for their
    // plot groups) are read after the first scan, in the background. Quiet: at most one tick
    // (10 ms of CPU) in half a second, for at most a minute.
    for (let c = cpuSeconds(h.pid!), i = 0; i < 120; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = cpuSeconds(h.pid!);
      if (now - c <= 0.01) break;
      c = now;
    }
    const settledSeconds = (performance.now() - t0) / 1000;
    const { has, bid } = await roundTrips(nc);
    const heartbeat: number[] = [];
    const hbSub = nc.subscribe('plotferry.heartbeat.hold');
    const iter = hbSub[Symbol.asyncIterator]();
    // A harvester answers at most one status ping a second (a ping from anyone must not make it
    // spin): 10 pings, 1.1 s apart.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 1_100));
      const t = performance.now();
      nc.publish('plotferry.status');
      await iter.next();
      heartbeat.push(performance.now() - t);
    }
    hbSub.unsubscribe();
    // Idle: nothing asked of it for 10 s (its own 5 s heartbeats go on, as in a real farm).
    await new Promise((r) => setTimeout(r, 1_000));
    const c0 = cpuSeconds(h.pid!);
    await new Promise((r) => setTimeout(r, 10_000));
    const idleCpuPercent = Math.round(((cpuSeconds(h.pid!) - c0) / 10) * 1000) / 10;
    return {
      plots: 2 * perDisk,
      startupSeconds: Math.round(startupSeconds * 100) / 100,
      settledSeconds: Math.round(settledSeconds * 100) / 100,
      has,
      bid,
      heartbeat: percentiles(heartbeat),
      idleCpuPercent,
    };
  } finally {
    h.kill();
    await new Promise((r) => h.once('exit', r));
    beats.unsubscribe();
    await nc.close();
    await nats.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** The full harvester beside an empty one, measured in the same run: what the plots cost. */
export function holdSummary(
  full: HoldResult,
  empty: HoldResult,
  echo?: { has: Percentiles; bid: Percentiles },
): string {
  const ok = (v: number, max: number) => (v < max ? 'met' : 'NOT met');
  const row = (what: string, f: Percentiles, e: Percentiles, x?: Percentiles) =>
    `| ${what} | ${f.p50} | ${f.p99} | ${e.p50} | ${e.p99} | ${x ? `${x.p50} | ${x.p99}` : '- | -'} | < 5 (${ok(f.p99, 5)}) |`;
  return [
    `| round trip, ms | ${full.plots} plots: median | p99 | no plots: median | p99 | bare NATS responder: median | p99 | target (p99) |`,
    '|---|---:|---:|---:|---:|---:|---:|---|',
    row('`has`', full.has, empty.has, echo?.has),
    row('bid (answerAll announce)', full.bid, empty.bid, echo?.bid),
    row('heartbeat after a status ping', full.heartbeat, empty.heartbeat),
    '',
    `- idle CPU over 10 s: ${full.idleCpuPercent}% of one core with ${full.plots} plots, ${empty.idleCpuPercent}% with none (target < 1%: ${ok(full.idleCpuPercent, 1)})`,
    `- start-up to the first heartbeat with every plot counted: ${full.startupSeconds} s (${empty.startupSeconds} s with none); its CPU quiet (every PoS2 header read, for the plot groups) after ${full.settledSeconds} s, when the round trips are timed`,
  ].join('\n');
}
