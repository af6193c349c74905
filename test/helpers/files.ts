import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LEDGER_NAME } from '../../src/storage/ledger.js';
import { PLOT_INDEX_NAME } from '../../src/storage/plot-index.js';
import { RECEIVER_LOCK } from '../../src/wire/names.js';

export { writeRandomFile, writeSamplePlot } from '../../src/demo/sample.js';
import { NO_GROUP, writeSamplePlot } from '../../src/demo/sample.js';

/** A fresh directory under /dev/shm (fast) or the temp dir; removed by the returned cleanup. */
export async function tmpDir(prefix = 'pf-test-', base?: string): Promise<string> {
  const root = base ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
  return fsp.mkdtemp(path.join(root, prefix));
}

export async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * Every entry of `dir`, for "nothing left behind" checks, except the directory's hash ledger
 * (`.plotferry-ledger`), its plot index (`.plotferry-plot-index`) and a running receiver's claim
 * on the directory (`.plotferry-receiver.lock`); lsAll() shows them too.
 */
export function ls(dir: string): string[] {
  return lsAll(dir).filter((f) => f !== LEDGER_NAME && f !== PLOT_INDEX_NAME && f !== RECEIVER_LOCK);
}

export function lsAll(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * A fresh directory under `/tmp` with a tmpfs of `mb` MiB mounted on it (root only): a disk of
 * fixed size. Unmounted and removed by the cleanup pushed onto `cleanup`.
 */
export async function tmpfsDisk(prefix: string, mb: number, cleanup: (() => unknown)[]): Promise<string> {
  const d = await tmpDir(prefix, '/tmp');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', d]);
  cleanup.push(async () => {
    execFileSync('umount', [d]);
    await fsp.rm(d, { recursive: true, force: true });
  });
  return d;
}

/**
 * A whole plot of `size` bytes (at least 67) for a test to send: a PoS2 `pos2` v1 header with no
 * memo (so no plot group: placed by free space alone, as random bytes were, and never a PoS1
 * plot that a replot may delete), one chunk to the end, random bytes. Plotters send only whole
 * plots (storage/plot-file.ts); random bytes are "not a plot" now.
 */
export function writePlot(file: string, size: number): void {
  writeSamplePlot(file, size, 28, 'pos2-v1', NO_GROUP);
}
