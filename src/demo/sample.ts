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

/**
 * Random bytes behind a v1 Chia plot header ("Proof of Space Plot", a random id, k, "v1.0", a
 * 128-byte memo), so a receiver with --verify-plot-header takes it. Not a farmable plot.
 */
export function writeSamplePlot(file: string, size: number, k = 32): void {
  writeRandomFile(file, size);
  const memo = 128;
  const head = Buffer.alloc(19 + 32 + 1 + 2 + 4 + 2);
  head.write('Proof of Space Plot', 0, 'latin1');
  randomFillSync(head, 19, 32);
  head[51] = k;
  head.writeUInt16BE(4, 52);
  head.write('v1.0', 54, 'latin1');
  head.writeUInt16BE(memo, 58);
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, head, 0, Math.min(head.length, size), 0);
  } finally {
    fs.closeSync(fd);
  }
}
