/**
 * The bench's `many-10gbe` scenario: many PoS2-sized plots over the emulated 10GbE
 * link (link.ts) against one large plot on the same link, in the same run:
 *   - 1 plot of 6 GiB, `sweep --concurrency 1`: one plotferry stream;
 *   - 12 plots of 512 MiB (the same 6 GiB), `sweep --concurrency 4`.
 * Target: the 12 plots' aggregate MB/s >= 0.9 x the one stream's. Both are whole `plotferry
 * sweep` runs (process start, NATS, bids, claims, hashes, fsync, RESULT, source deletion).
 *
 * The farm lives in the receivers' network namespace: a nats-server and 2 harvester processes
 * x 2 disks, each disk its own tmpfs; `sweep` runs in the senders' namespace and reaches NATS and
 * the harvesters across the link. Every copy is checked against its source's XXH64 (taken
 * before the sweep), and every source must be gone after it. Needs root.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { natsServerPath } from '../src/demo/nats-server.js';
import { NO_GROUP, writeSamplePlot } from '../src/demo/sample.js';
import { hashFile } from '../src/transfer/hash.js';
import { cannotEmulate, tenGbE } from './link.js';
import { harvesterArgv, ManyRow, sweepArgv } from './many.js';
import { CLI } from './peers.js';
import { timed } from './proc.js';

const MiB = 2 ** 20;
const NATS_PORT = 4222;
const write = (s: string) => process.stdout.write(s);

export interface Many10gResult {
  rows: ManyRow[];
  skipped?: string;
  describe?: string;
}

export async function runMany10gbe(work: string): Promise<Many10gResult> {
  const why =
    cannotEmulate() ?? (natsServerPath() ? undefined : 'nats-server is missing (apt-get install nats-server)');
  if (why) return { rows: [], skipped: why };
  const link = tenGbE();
  const base = fs.mkdtempSync(path.join(work, 'pf-many10g-'));
  const mounted: string[] = [];
  const procs: ReturnType<typeof spawn>[] = [];
  const rows: ManyRow[] = [];
  try {
    procs.push(
      spawn(
        link.recvPrefix[0]!,
        [...link.recvPrefix.slice(1), natsServerPath()!, '-a', link.host, '-p', `${NATS_PORT}`],
        {
          stdio: 'ignore',
        },
      ),
    );
    const nats = `nats://${link.host}:${NATS_PORT}`;
    const disks: string[] = [];
    for (const h of ['h1', 'h2']) {
      const dirs = ['d1', 'd2'].map((d) => path.join(base, h, d));
      for (const d of dirs) {
        fs.mkdirSync(d, { recursive: true });
        if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=7g', 'tmpfs', d]).status === 0) mounted.push(d);
      }
      disks.push(...dirs);
      const argv = [...link.recvPrefix, ...harvesterArgv(nats, `b10-${h}`, link.host, dirs)];
      procs.push(spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }));
    }
    // Ready once both harvesters answer a status ping from the senders' side.
    for (let i = 0; i < 100; i++) {
      const r = spawnSync(
        link.sendPrefix[0]!,
        [...link.sendPrefix.slice(1), process.execPath, CLI, 'status', '--nats', nats, '--json', '--wait', '0.3'],
        { encoding: 'utf8' },
      );
      if (r.stdout.split('\n').filter((l) => l.startsWith('{')).length === 2) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    const src = path.join(base, 'src');
    const workloads = [
      { name: 'warm-up: 4 x 512 MiB, concurrency 4', n: 4, size: 512 * MiB, concurrency: 4 },
      { name: '1 x 6 GiB, concurrency 1', n: 1, size: 6144 * MiB, concurrency: 1 },
      { name: '12 x 512 MiB, concurrency 4', n: 12, size: 512 * MiB, concurrency: 4 },
    ];
    for (const w of workloads) {
      fs.rmSync(src, { recursive: true, force: true });
      fs.mkdirSync(src);
      const sums = new Map<string, string>();
      for (let i = 0; i < w.n; i++) {
        const f = path.join(src, `plot-k28-10g-${String(i).padStart(2, '0')}.plot2`);
        writeSamplePlot(f, w.size, 28, 'pos2-v1', NO_GROUP);
        sums.set(path.basename(f), await hashFile(f));
      }
      const t0 = process.hrtime.bigint();
      const r = await timed(sweepArgv(nats, w.concurrency, src), base, {}, link.sendPrefix).done;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      let error = r.code !== 0 ? `sweep exited ${r.code}: ${r.stderr.trim().slice(-300)}` : undefined;
      const left = fs.readdirSync(src).filter((f) => !f.startsWith('.'));
      if (!error && left.length) error = `${left.length} sources left`;
      const found = new Map<string, string>();
      for (const d of disks) for (const f of fs.readdirSync(d)) if (!f.startsWith('.')) found.set(f, path.join(d, f));
      for (const [name, sum] of sums) {
        const at = found.get(name);
        if (!at) error ??= `${name} did not arrive`;
        else if ((await hashFile(at)) !== sum) error ??= `${at} is not byte-exact`;
      }
      for (const d of disks)
        for (const f of fs.readdirSync(d)) fs.rmSync(path.join(d, f), { recursive: true, force: true });
      const row: ManyRow = {
        workload: w.name,
        tool: 'plotferry sweep',
        files: w.n,
        bytes: w.n * w.size,
        seconds,
        ok: !error,
        ...(error ? { error } : {}),
      };
      rows.push(row);
      write(
        `  ${w.name.padEnd(36)} ${seconds.toFixed(2).padStart(7)} s ${(row.bytes / 1e6 / seconds).toFixed(0).padStart(6)} MB/s  sender CPU ${r.cpu.toFixed(2)} s ${error ? `FAILED: ${error}` : ''}\n`,
      );
    }
    return { rows, describe: link.describe };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.on('exit', r)))));
    for (const d of mounted) spawnSync('umount', [d]);
    fs.rmSync(base, { recursive: true, force: true });
    link.close();
  }
}

/** The table and the target, from one run's rows. */
export function many10gbeSummary(rows: readonly ManyRow[]): string {
  const lines = ['| workload | seconds | files/s | MB/s |', '|---|---:|---:|---:|'];
  for (const r of rows.filter((r) => !r.workload.startsWith('warm-up')))
    lines.push(
      `| ${r.workload} | ${r.seconds.toFixed(2)} | ${(r.files / r.seconds).toFixed(2)} | ${(r.bytes / 1e6 / r.seconds).toFixed(0)} |`,
    );
  const one = rows.find((r) => r.workload.startsWith('1 x 6 GiB'));
  const many = rows.find((r) => r.workload.startsWith('12 x 512 MiB'));
  if (one?.ok && many?.ok) {
    const ratio = many.bytes / many.seconds / (one.bytes / one.seconds);
    lines.push(
      '',
      `- 12 x 512 MiB at concurrency 4 over 1 x 6 GiB, aggregate MB/s: ${ratio.toFixed(2)} (target >= 0.9: ${ratio >= 0.9 ? 'met' : 'NOT met'})`,
    );
  }
  return lines.join('\n');
}
