/**
 * Who owns a lock file, in a form that survives PID reuse. A bare PID proves nothing after a
 * power loss: the PIDs of the next boot are handed out again, often to something long-lived
 * (`echo 1 > lock` named init). So a lock records the PID together with that process's start
 * time (field 22 of /proc/PID/stat, clock ticks since boot) and the kernel's boot id: the owner
 * is alive only while a process with that PID exists *and* started at that tick *in this boot*.
 * The host name covers locks on shared file systems (NFS), where another host's PIDs cannot be
 * checked at all.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

export interface Owner {
  pid: number;
  /** /proc/PID/stat starttime of the owner ('' where /proc is not there). */
  start: string;
  /** /proc/sys/kernel/random/boot_id ('' where it is not there). */
  boot: string;
  host: string;
  /** What holds it ("sweep", "listen", "harvester"), for messages. */
  role: string;
  /** Random, so a lock can be recognised from elsewhere (see plotter/lock.ts). */
  token: string;
}

/** 'other-host': held from another host, whose processes cannot be checked from here. */
export type Liveness = 'alive' | 'dead' | 'other-host';

let bootId: string | undefined;
function currentBootId(): string {
  bootId ??= readText('/proc/sys/kernel/random/boot_id').trim();
  return bootId;
}

function readText(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** starttime of `pid`, or '' when there is no such process (or no /proc). */
export function processStart(pid: number): string {
  const stat = readText(`/proc/${pid}/stat`);
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return stat ? (rest[19] ?? '') : '';
}

/** Our own start time: read once (a lock per plot read /proc/self/stat every time). */
let selfStart: string | undefined;

export function selfOwner(role: string): Owner {
  selfStart ??= processStart(process.pid);
  return {
    pid: process.pid,
    start: selfStart,
    boot: currentBootId(),
    host: os.hostname(),
    role,
    token: randomBytes(12).toString('hex'),
  };
}

export function encodeOwner(o: Owner): string {
  return `${JSON.stringify(o)}\n`;
}

/** The owner a lock file names, or undefined when its content is not an owner record. */
export function decodeOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (
      typeof o.pid === 'number' &&
      Number.isSafeInteger(o.pid) &&
      o.pid > 0 &&
      typeof o.start === 'string' &&
      typeof o.boot === 'string' &&
      typeof o.host === 'string' &&
      typeof o.role === 'string' &&
      typeof o.token === 'string'
    )
      return o as Owner;
  } catch {
    // not JSON: an old bare-PID lock, or junk
  }
  return undefined;
}

export function liveness(o: Owner): Liveness {
  if (o.host !== os.hostname()) return 'other-host';
  if (o.boot !== currentBootId()) return 'dead'; // written before this boot
  if (!pidExists(o.pid)) return 'dead';
  // Where /proc is missing both are '': the PID check is all there is.
  return processStart(o.pid) === o.start ? 'alive' : 'dead';
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** For messages: "sweep (pid 1234 on host h)". */
export function describeOwner(o: Owner): string {
  return `${o.role} (pid ${o.pid} on ${o.host})`;
}
