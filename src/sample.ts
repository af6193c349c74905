/** Sample "plots" of random bytes, for the demo, the tests and the bench. */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';

/** Writes `size` random bytes to `file` (random, so nothing along the way can shortcut them). */
export function writeRandomFile(file: string, size: number): void {
  const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 4 * 1024 * 1024));
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
