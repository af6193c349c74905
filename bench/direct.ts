/**
 * Direct-mode benchmark: plotferry against `nc -N` (netcat-openbsd) and `socat -b 1048576`,
 * the same file from /dev/shm to /dev/shm over loopback, interleaved (A B C A B C ...), every
 * copy checked byte-exact. Prints the medians with min and max, each tool's ratio to plotferry,
 * CPU seconds per GiB and peak RSS of each side, and writes bench/results/direct-*.json.
 *
 *   npm run bench -- --size 2G --rounds 5
 *   npm run bench -- --size 8G --rounds 1 --tools plotferry     (memory flat in file size?)
 *
 * Each sender and each nc/socat receiver runs under /usr/bin/time (CPU and max RSS); the
 * plotferry listener is long-running, so its CPU is read from /proc before and after each
 * transfer and its peak RSS is VmHWM.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { parseBytes } from '../src/config.js';
import { writeRandomFile } from '../src/sample.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../src/cli/main.js');
const RESULTS = path.resolve(here, '../../bench/results');
const TOOLS = ['plotferry', 'nc', 'socat'] as const;
type Tool = (typeof TOOLS)[number];

const args = yargs(hideBin(process.argv))
  .option('size', { type: 'string', default: '2G', describe: 'file size' })
  .option('rounds', { type: 'number', default: 3 })
  .option('tools', { type: 'string', default: TOOLS.join(','), describe: 'comma-separated: plotferry,nc,socat' })
  .option('dir', { type: 'string', default: '/dev/shm', describe: 'where source and target live' })
  .option('save', { type: 'boolean', default: true, describe: 'write bench/results/direct-*.json' })
  .strict()
  .parseSync();

interface Run {
  tool: Tool;
  round: number;
  seconds: number;
  mbps: number;
  ok: boolean;
  senderCpu: number;
  receiverCpu: number;
  senderRssMB: number;
  receiverRssMB: number;
  error?: string;
}

const size = parseBytes(args.size, 'size');
const tools = args.tools.split(',').map((t) => t.trim()) as Tool[];
for (const t of tools) if (!TOOLS.includes(t)) throw new Error(`unknown tool ${t}`);

const work = fs.mkdtempSync(path.join(args.dir, 'pf-bench-'));
const srcFile = path.join(work, 'src', 'bench.plot');
const target = path.join(work, 'dst');
fs.mkdirSync(path.dirname(srcFile));
fs.mkdirSync(target);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** Waits until something LISTENs on `port`, without connecting (nc would take the probe). */
async function listening(port: number): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (let i = 0; i < 500; i++) {
    const t = fs.readFileSync('/proc/net/tcp', 'utf8') + fs.readFileSync('/proc/net/tcp6', 'utf8');
    if (t.split('\n').some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing listens on ${port}`);
}

interface Timed {
  done: Promise<{ code: number | null; cpu: number; rssMB: number; stdout: string }>;
}

/** Runs argv under /usr/bin/time; stdin/stdout may be files. */
function timed(argv: string[], io: { stdin?: string; stdout?: string } = {}): Timed {
  const tf = path.join(work, `time-${randomBytes(4).toString('hex')}`);
  const stdin = io.stdin ? fs.openSync(io.stdin, 'r') : 'ignore';
  const stdout = io.stdout ? fs.openSync(io.stdout, 'w') : 'pipe';
  const child = spawn('/usr/bin/time', ['-o', tf, '-f', '%U %S %M', ...argv], { stdio: [stdin, stdout, 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  return {
    done: new Promise((resolve) =>
      child.on('close', (code) => {
        if (typeof stdin === 'number') fs.closeSync(stdin);
        if (typeof stdout === 'number') fs.closeSync(stdout);
        const [u, s, m] = fs.readFileSync(tf, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
        fs.rmSync(tf, { force: true });
        if (code !== 0) process.stderr.write(`${argv.join(' ')} exited ${code}: ${err.slice(-500)}\n`);
        resolve({ code, cpu: u! + s!, rssMB: m! / 1024, stdout: out });
      }),
    ),
  };
}

function procCpu(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, in clock ticks (100 per second on Linux).
  return (Number(f[11]) + Number(f[12])) / 100;
}

function procRssMB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function sameBytes(a: string, b: string): boolean {
  return fs.existsSync(b) && fs.statSync(b).size === fs.statSync(a).size && spawnSync('cmp', ['-s', a, b]).status === 0;
}

const token = randomBytes(16).toString('hex');
let listener: ReturnType<typeof spawn> | undefined;
let listenerPort = 0;

async function startListener(): Promise<void> {
  listenerPort = await freePort();
  listener = spawn(
    process.execPath,
    [
      CLI,
      'listen',
      '--dir',
      target,
      '--host',
      '127.0.0.1',
      '--port',
      String(listenerPort),
      '--token',
      token,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await listening(listenerPort);
}

async function runOnce(tool: Tool, round: number): Promise<Run> {
  for (const f of fs.readdirSync(target)) fs.rmSync(path.join(target, f));
  const out = path.join(target, 'bench.plot');
  const port = await freePort();
  let receiver: Timed | undefined;
  let sender: Timed;
  let rxCpu0 = 0;
  const t0 = process.hrtime.bigint();
  if (tool === 'plotferry') {
    rxCpu0 = procCpu(listener!.pid!);
    sender = timed([
      process.execPath,
      CLI,
      'send',
      '--to',
      `127.0.0.1:${listenerPort}`,
      '--token',
      token,
      '--json',
      '--log-level',
      'warn',
      srcFile,
    ]);
  } else {
    receiver =
      tool === 'nc'
        ? timed(['nc', '-l', '127.0.0.1', String(port)], { stdout: out })
        : timed(['socat', '-u', '-b', '1048576', `TCP-LISTEN:${port},reuseaddr`, `OPEN:${out},creat,trunc`]);
    await listening(port);
    sender =
      tool === 'nc'
        ? timed(['nc', '-N', '127.0.0.1', String(port)], { stdin: srcFile })
        : timed(['socat', '-u', '-b', '1048576', `OPEN:${srcFile}`, `TCP:127.0.0.1:${port}`]);
  }
  const t1 = process.hrtime.bigint(); // receivers start before the clock for nc/socat
  const [s, r] = await Promise.all([sender.done, receiver?.done]);
  const seconds = Number(process.hrtime.bigint() - (tool === 'plotferry' ? t0 : t1)) / 1e9;
  const ok = s.code === 0 && (!r || r.code === 0) && sameBytes(srcFile, out);
  return {
    tool,
    round,
    seconds,
    mbps: size / 1e6 / seconds,
    ok,
    senderCpu: s.cpu,
    receiverCpu: r ? r.cpu : procCpu(listener!.pid!) - rxCpu0,
    senderRssMB: s.rssMB,
    receiverRssMB: r ? r.rssMB : procRssMB(listener!.pid!),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}`;
  process.stdout.write(
    `plotferry direct bench: ${args.size} file, ${args.rounds} round(s), ${tools.join(' ')}, ${args.dir} -> ${args.dir} over loopback\nmachine: ${machine}\n`,
  );
  writeRandomFile(srcFile, size);
  if (tools.includes('plotferry')) await startListener();
  const runs: Run[] = [];
  for (let round = 1; round <= args.rounds; round++) {
    for (const tool of tools) {
      const r = await runOnce(tool, round);
      runs.push(r);
      process.stdout.write(
        `  round ${round} ${tool.padEnd(9)} ${r.mbps.toFixed(0).padStart(5)} MB/s ${r.ok ? '' : 'FAILED'}\n`,
      );
    }
  }
  const gib = size / 2 ** 30;
  const rows = tools.map((tool) => {
    const rs = runs.filter((r) => r.tool === tool && r.ok);
    const mb = rs.map((r) => r.mbps);
    return {
      tool,
      ok: rs.length,
      runs: runs.filter((r) => r.tool === tool).length,
      medianMBps: rs.length ? median(mb) : 0,
      minMBps: rs.length ? Math.min(...mb) : 0,
      maxMBps: rs.length ? Math.max(...mb) : 0,
      senderCpuPerGiB: rs.length ? median(rs.map((r) => r.senderCpu)) / gib : 0,
      receiverCpuPerGiB: rs.length ? median(rs.map((r) => r.receiverCpu)) / gib : 0,
      senderRssMB: Math.max(0, ...rs.map((r) => r.senderRssMB)),
      receiverRssMB: Math.max(0, ...rs.map((r) => r.receiverRssMB)),
    };
  });
  const pf = rows.find((r) => r.tool === 'plotferry');
  process.stdout.write(
    `\n| tool | MB/s median (min-max) | plotferry / tool | CPU s/GiB send / recv | peak RSS MB send / recv | ok |\n|---|---|---|---|---|---|\n`,
  );
  for (const r of rows) {
    const ratio = pf && r.medianMBps ? (pf.medianMBps / r.medianMBps).toFixed(2) : '-';
    process.stdout.write(
      `| ${r.tool} | ${r.medianMBps.toFixed(0)} (${r.minMBps.toFixed(0)}-${r.maxMBps.toFixed(0)}) | ${ratio} | ${r.senderCpuPerGiB.toFixed(2)} / ${r.receiverCpuPerGiB.toFixed(2)} | ${r.senderRssMB.toFixed(0)} / ${r.receiverRssMB.toFixed(0)} | ${r.ok}/${r.runs} |\n`,
    );
  }
  if (args.save) {
    fs.mkdirSync(RESULTS, { recursive: true });
    const file = path.join(RESULTS, `direct-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify({ machine, size, rounds: args.rounds, rows, runs }, null, 2));
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), file)}\n`);
  }
  if (runs.some((r) => !r.ok)) process.exitCode = 1;
}

try {
  await main();
} finally {
  listener?.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}
