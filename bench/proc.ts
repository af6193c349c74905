/**
 * Process helpers for the bench: run a command under /usr/bin/time (CPU and peak RSS), read a
 * long-running peer's CPU from /proc (its own plus its reaped children's, so sshd's and the rsync
 * daemon's per-connection children count), wait for a port to listen.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface Finished {
  code: number | null;
  cpu: number;
  rssMB: number;
  stdout: string;
  stderr: string;
}

export interface Timed {
  done: Promise<Finished>;
  kill(): void;
}

/**
 * Runs argv under /usr/bin/time (behind `prefix`, e.g. `ip netns exec NS`); stdin/stdout may be
 * files. `scratch` holds time's output.
 */
export function timed(
  argv: string[],
  scratch: string,
  io: { stdin?: string; stdout?: string } = {},
  prefix: string[] = [],
): Timed {
  const tf = path.join(scratch, `time-${randomBytes(4).toString('hex')}`);
  const stdin = io.stdin ? fs.openSync(io.stdin, 'r') : 'ignore';
  const stdout = io.stdout ? fs.openSync(io.stdout, 'w') : 'pipe';
  const full = [...prefix, '/usr/bin/time', '-o', tf, '-f', '%U %S %M', ...argv];
  const child = spawn(full[0]!, full.slice(1), { stdio: [stdin, stdout, 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  return {
    kill: () => child.kill('SIGTERM'),
    done: new Promise((resolve) =>
      child.on('close', (code) => {
        if (typeof stdin === 'number') fs.closeSync(stdin);
        if (typeof stdout === 'number') fs.closeSync(stdout);
        let cpu = 0;
        let rssMB = 0;
        try {
          const [u, s, m] = fs.readFileSync(tf, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
          cpu = u! + s!;
          rssMB = m! / 1024;
        } catch {
          // killed before time wrote its line
        }
        fs.rmSync(tf, { force: true });
        resolve({ code, cpu, rssMB, stdout: out, stderr: err });
      }),
    ),
  };
}

/** CPU seconds of a process and of its children it has reaped (utime, stime, cutime, cstime). */
export function procCpu(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** Peak RSS (VmHWM) of a process, in MB. */
export function procRssMB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Whether `bin` is on PATH or in /usr/sbin (where sshd, ip and tc live). */
export function hasCommand(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/**
 * Waits until something LISTENs on `port`, without connecting (nc would take the probe). In a
 * network namespace, /proc/net is that namespace's only when read from inside it, so this reads
 * /proc/<pid>/net of a process living there.
 */
export async function listening(port: number, pidInNamespace?: number): Promise<void> {
  const base = pidInNamespace ? `/proc/${pidInNamespace}/net` : '/proc/net';
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  for (let i = 0; i < 1000; i++) {
    let t = '';
    for (const f of ['tcp', 'tcp6']) {
      try {
        t += fs.readFileSync(`${base}/${f}`, 'utf8');
      } catch {
        // the process may not have started yet
      }
    }
    if (t.split('\n').some((l) => l.includes(hex) && / 0A /.test(l))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nothing listens on port ${port}`);
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
