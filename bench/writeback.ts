/**
 * The `writeback` scenario: PoS2 plots one after another onto one disk, the way a harvester disk
 * takes them (one file at a time), from a plotter's fast storage (/dev/shm) over loopback into a
 * directory on a real disk (--disk-dir). It tells what write-behind (--flush-every,
 * src/transfer/receive/disk-writer.ts) is worth, in the same run, against:
 * - plotferry --flush-every 0: the final fsync writes the whole file back, and the disk idles
 *   while the next file arrives;
 * - nc -N, one file after another, each synced (`sync FILE`) before the next starts: the same
 *   safety as plotferry's (a file is on the disk before the next one goes), done by hand.
 *
 * Each run sends all the files; the clock runs from the first byte to the last file synced. The
 * page cache is written back (`sync`) between runs, so no run pays for the one before. From the
 * receivers' `stored` log lines: each file's final fsync (`syncMs`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NO_GROUP, writeSamplePlot } from '../src/demo/sample.js';
import { loopback } from './link.js';
import { CLI, Peer, PeerKind, peerTarget, startPeer } from './peers.js';
import { freePort, hasCommand, listening, median, timed } from './proc.js';

const MiB = 1024 * 1024;

export interface WritebackRow {
  tool: string;
  label: string;
  /** MB/s of each counted run. */
  mbps: number[];
  /** Each file's final fsync, ms (plotferry only). */
  syncMs: number[];
  ok: boolean;
  error?: string;
}

export interface WritebackResult {
  describe: string;
  files: number;
  fileBytes: number;
  rounds: number;
  rows: WritebackRow[];
  skipped?: string;
}

const VARIANTS = [
  { tool: 'plotferry', label: 'plotferry (write-behind, --flush-every 64M)' },
  { tool: 'plotferry-wb0', label: 'plotferry --flush-every 0' },
  { tool: 'nc', label: 'nc -N, then sync FILE, per file' },
] as const;

/** Whether `dir` is on a file system that writes back to a disk (not tmpfs or ramfs). */
function onRealDisk(dir: string): boolean {
  const r = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return r.status === 0 && !/tmpfs|ramfs/.test(r.stdout);
}

/** `syncMs` of the `stored` lines a peer logged after byte `from` of its log. */
function storedSyncs(log: string, from: number): number[] {
  const text = fs.readFileSync(log, 'utf8').slice(from);
  const out: number[] = [];
  for (const line of text.split('\n')) {
    try {
      const j = JSON.parse(line) as { msg?: string; syncMs?: number };
      if (j.msg === 'stored' && typeof j.syncMs === 'number') out.push(j.syncMs);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

export async function runWriteback(
  diskDir: string,
  opts: { files?: number; fileBytes?: number; rounds?: number; warmup?: number } = {},
): Promise<WritebackResult> {
  const files = opts.files ?? 4;
  const fileBytes = opts.fileBytes ?? 1024 * MiB;
  const rounds = opts.rounds ?? 3;
  const describe = `${files} x ${fileBytes / MiB} MiB, one after another, /dev/shm to ${diskDir} over loopback`;
  const base = { describe, files, fileBytes, rounds, rows: [] };
  if (!onRealDisk(diskDir)) return { ...base, skipped: `${diskDir} is not on a disk (tmpfs): give --disk-dir` };
  const link = loopback();
  const work = fs.mkdtempSync(path.join(diskDir, 'pf-writeback-'));
  const srcDir = fs.mkdtempSync('/dev/shm/pf-writeback-src-');
  const peers = new Map<string, Peer>();
  try {
    const [target, scratch] = ['dst', 'scratch'].map((d) => path.join(work, d));
    for (const d of [target!, scratch!]) fs.mkdirSync(d);
    const srcs = Array.from({ length: files }, (_, i) => path.join(srcDir, `plot-k28-wb${i}.plot2`));
    for (const s of srcs) writeSamplePlot(s, fileBytes, 28, 'pos2-v1', NO_GROUP);
    for (const kind of ['plotferry', 'plotferry-wb0'] as const)
      peers.set(kind, await startPeer(kind, { link, target: target!, scratch: scratch! }));
    const rows: WritebackRow[] = VARIANTS.filter((v) => v.tool !== 'nc' || hasCommand('nc')).map((v) => ({
      ...v,
      mbps: [],
      syncMs: [],
      ok: true,
    }));
    for (let round = 1 - (opts.warmup ?? 1); round <= rounds; round++) {
      for (const row of rows) {
        const dir = peerTarget(row.tool === 'nc' ? undefined : (row.tool as PeerKind), target!);
        for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true, recursive: true });
        spawnSync('sync');
        const peer = peers.get(row.tool);
        const log = path.join(scratch!, `${row.tool}.log`);
        const logFrom = peer ? fs.statSync(log).size : 0;
        const t0 = process.hrtime.bigint();
        let error: string | undefined;
        if (peer) {
          const argv = [process.execPath, CLI, 'send', '--to', `${link.host}:${peer.port}`, '--token', peer.secret];
          const r = await timed([...argv, '--log-level', 'warn', ...srcs], scratch!).done;
          if (r.code !== 0) error = `send exited ${r.code}: ${r.stderr.trim().slice(-300)}`;
        } else {
          for (const s of srcs) {
            const port = await freePort();
            const out = path.join(dir, path.basename(s));
            const recv = timed(['nc', '-l', link.host, String(port)], scratch!, { stdout: out });
            await listening(port);
            const sent = await timed(['nc', '-N', link.host, String(port)], scratch!, { stdin: s }).done;
            const got = await recv.done;
            if (sent.code !== 0 || got.code !== 0) error = `nc exited ${sent.code}/${got.code}`;
            spawnSync('sync', [out]);
          }
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        for (const s of srcs) {
          const copy = path.join(dir, path.basename(s));
          if (!error && spawnSync('cmp', ['-s', s, copy]).status !== 0) error = `${copy} is not byte-exact`;
        }
        const mbps = (files * fileBytes) / 1e6 / seconds;
        if (error) {
          row.ok = false;
          row.error = error;
        }
        if (round > 0) {
          row.mbps.push(mbps);
          if (peer) row.syncMs.push(...storedSyncs(log, logFrom));
        }
        process.stdout.write(
          `  ${round > 0 ? `round ${round}` : 'warm-up'} ${row.tool.padEnd(14)} ${mbps.toFixed(0).padStart(5)} MB/s ${error ? `FAILED: ${error}` : ''}\n`,
        );
      }
    }
    return { ...base, rows };
  } finally {
    for (const p of peers.values()) p.stop();
    await new Promise((r) => setTimeout(r, 300));
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(srcDir, { recursive: true, force: true });
  }
}

export function writebackSummary(r: WritebackResult): string {
  const pf = r.rows.find((x) => x.tool === 'plotferry');
  const pfMedian = pf && pf.mbps.length ? median(pf.mbps) : undefined;
  const lines = [
    '| receiver | MB/s median (min–max) | write-behind ÷ it | final fsync per file, median (max) |',
    '|---|---:|---:|---:|',
  ];
  for (const row of r.rows) {
    const m = row.mbps.length ? median(row.mbps) : NaN;
    const range = row.mbps.length ? `${Math.min(...row.mbps).toFixed(0)}–${Math.max(...row.mbps).toFixed(0)}` : '–';
    const ratio = pfMedian && m ? (pfMedian / m).toFixed(2) : '–';
    const sync = row.syncMs.length
      ? `${median(row.syncMs).toFixed(0)} ms (${Math.max(...row.syncMs).toFixed(0)} ms)`
      : row.tool === 'nc'
        ? '(sync FILE: in the MB/s)'
        : '–';
    lines.push(
      `| ${row.label}${row.ok ? '' : ` FAILED: ${row.error}`} | ${m.toFixed(0)} (${range}) | ${ratio} | ${sync} |`,
    );
  }
  return lines.join('\n');
}
