import { createHash, randomFillSync } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh directory under /dev/shm (fast) or the temp dir; removed by the returned cleanup. */
export async function tmpDir(prefix = 'pf-test-', base?: string): Promise<string> {
  const root = base ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
  return fsp.mkdtemp(path.join(root, prefix));
}

export function writeRandomFile(file: string, size: number): void {
  const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 4 << 20));
  const fd = fs.openSync(file, 'w');
  try {
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = Math.min(buf.length, size - pos);
      randomFillSync(buf, 0, n);
      fs.writeSync(fd, buf, 0, n, pos);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Every entry of `dir`, for "nothing left behind" checks. */
export function ls(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
