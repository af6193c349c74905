/**
 * The hdd scenario's machinery (root): ext4 on loop devices over image files, a cgroup v1 blkio
 * group that caps their reads at an HDD's seek rate, processes started inside that group, and
 * plot files written fast. Everything made is undone by Cleanup.run(), in reverse order, also
 * when a step fails.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sampleHeader, sampleTables } from '../src/demo/sample.js';
import { readsOf } from './hdd-stats.js';
import { hasCommand } from './proc.js';

const BLKIO = '/sys/fs/cgroup/blkio';

/** Steps that undo what was made, last made first undone; each runs even if another fails. */
export class Cleanup {
  private readonly steps: { what: string; undo: () => void }[] = [];

  push(what: string, undo: () => void): void {
    this.steps.push({ what, undo });
  }

  run(): string[] {
    const failed: string[] = [];
    for (const s of this.steps.reverse()) {
      try {
        s.undo();
      } catch (err) {
        failed.push(`${s.what}: ${(err as Error).message}`);
      }
    }
    this.steps.length = 0;
    return failed;
  }
}

/** Why this machine cannot run the scenario, or undefined. */
export function cannotRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount, a blkio cgroup)';
  if (!fs.existsSync(path.join(BLKIO, 'cgroup.procs'))) return `no cgroup v1 blkio hierarchy at ${BLKIO}`;
  for (const bin of ['losetup', 'mkfs.ext4', 'mount', 'umount']) if (!hasCommand(bin)) return `${bin} is missing`;
  return undefined;
}

function run(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim();
}

export interface LoopDisk {
  dev: string;
  /** "MAJ:MIN", as blkio's files name the device. */
  majMin: string;
  mount: string;
}

/** An ext4 file system of `bytes` on a loop device over a sparse image in `base`, mounted. */
export function loopDisk(base: string, name: string, bytes: number, cleanup: Cleanup): LoopDisk {
  const image = path.join(base, `${name}.img`);
  fs.writeFileSync(image, '');
  cleanup.push(`rm ${image}`, () => fs.rmSync(image, { force: true }));
  fs.truncateSync(image, bytes);
  const dev = run(['losetup', '--find', '--show', image]);
  cleanup.push(`losetup -d ${dev}`, () => void run(['losetup', '-d', dev]));
  // Inode tables written now, not by a kernel thread in the background of the measurements.
  run(['mkfs.ext4', '-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', dev]);
  const mount = path.join(base, name);
  fs.mkdirSync(mount);
  cleanup.push(`rmdir ${mount}`, () => fs.rmdirSync(mount));
  run(['mount', dev, mount]);
  cleanup.push(`umount ${mount}`, () => unmount(mount));
  const majMin = fs.readFileSync(`/sys/block/${path.basename(dev)}/dev`, 'utf8').trim();
  return { dev, majMin, mount };
}

/**
 * Unmounts `dir`; if a process still has files open there (a harvester killed by Ctrl-C at the
 * same moment), detaches it lazily, so that the loop device and the directory can still go.
 */
export function unmount(dir: string): void {
  if (spawnSync('umount', [dir]).status === 0) return;
  run(['umount', '-l', dir]);
}

export interface ReadCap {
  /** The group's cgroup.procs: a process writes its pid there to join. */
  procs: string;
  /** Reads the group has issued to the device so far. */
  reads(majMin: string): number;
}

/** A blkio group capping reads of each of `majMins` at `iops` per second. */
export function readCap(name: string, majMins: readonly string[], iops: number, cleanup: Cleanup): ReadCap {
  const dir = path.join(BLKIO, name);
  fs.mkdirSync(dir);
  cleanup.push(`rmdir ${dir}`, () => {
    // A group that still has processes cannot go: they are moved back to the root group first.
    for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
      fs.writeFileSync(path.join(BLKIO, 'cgroup.procs'), pid);
    fs.rmdirSync(dir);
  });
  for (const mm of majMins) fs.writeFileSync(path.join(dir, 'blkio.throttle.read_iops_device'), `${mm} ${iops}`);
  return {
    procs: path.join(dir, 'cgroup.procs'),
    reads: (mm) => readsOf(fs.readFileSync(path.join(dir, 'blkio.throttle.io_serviced'), 'utf8'), mm),
  };
}

/** Every process startIn() started and that has not exited: what a Ctrl-C must end first. */
const running = new Set<ChildProcess>();

/** Ends (SIGKILL) every process startIn() started that is still running. */
export function killAll(): void {
  for (const c of running) c.kill('SIGKILL');
}

export interface Daemon {
  pid: number;
  /** SIGTERM, then resolves when it has exited. */
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * `argv` started inside the group of `procs` (or none): the shell joins the group and then
 * becomes the process, so that it does no I/O outside it. Its output goes to `logFile`.
 */
export function startIn(procs: string | undefined, argv: readonly string[], logFile: string): Daemon {
  const log = fs.openSync(logFile, 'a');
  const full = procs ? ['sh', '-c', 'echo $$ > "$0" && exec "$@"', procs, ...argv] : argv;
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  running.add(child);
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      running.delete(child);
      r(code);
    }),
  );
  return {
    pid: child.pid!,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Written-back dirty pages, then the page cache, dentries and inodes dropped: a cold start. */
export function dropCaches(): void {
  spawnSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

/**
 * `count` PoS2 plot files of `size` bytes in `dir`, named and headed as chia writes them (each
 * its own id and memo: a group of one, as every chia 3.0 plot is), zeros behind the header:
 * what a start reads is names, inodes and headers, not the bytes behind them.
 */
export function writePlots(dir: string, count: number, size: number): void {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < count; i++) {
    const id = randomFillSync(Buffer.alloc(32));
    const header = sampleHeader('pos2-v1', { k: 28, id });
    const head = Buffer.concat([header, sampleTables('pos2-v1', header.length, size, 28)]);
    buf.fill(0);
    head.copy(buf);
    const fd = fs.openSync(path.join(dir, `plot-k28-${id.toString('hex')}.plot2`), 'w');
    try {
      fs.writeSync(fd, buf);
    } finally {
      fs.closeSync(fd);
    }
  }
}
