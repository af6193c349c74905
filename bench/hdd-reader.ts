/**
 * A farming harvester's lookups, for the hdd scenario: random 4 KiB reads of one file, one at a
 * time, PER_SECOND of them a second (default 20), each timed, until killed. O_DIRECT where the
 * file system allows it, so that every read goes to the disk as a proof lookup on an HDD would
 * (the page cache would answer a repeat). The pace stays well under the disk's read cap: alone
 * on the disk, a lookup never waits for the cap, only behind other readers.
 *
 *   node dist/bench/hdd-reader.js FILE LOG [PER_SECOND]
 *
 * LOG gets a line per read: "END_MS LATENCY_MS" (END_MS on Date.now()'s clock, so the bench can
 * cut the log into its phases), and first a line "# direct" or "# buffered".
 */
import fs from 'node:fs';
import { alignedBuffers } from '../src/storage/buffers.js';

const BLOCK = 4096;
const [file, logPath, rate] = process.argv.slice(2);
const intervalMs = 1000 / Number(rate ?? 20);
if (!file || !logPath) {
  process.stderr.write('usage: hdd-reader FILE LOG\n');
  process.exit(2);
}

let fd: number;
let mode = 'direct';
try {
  fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
} catch {
  mode = 'buffered';
  fd = fs.openSync(file, 'r');
}
const blocks = Math.floor(fs.fstatSync(fd).size / BLOCK);
// O_DIRECT wants a buffer aligned to the device's block: a page-aligned one is.
const buf = alignedBuffers(1, BLOCK)[0]!;
const log = fs.openSync(logPath, 'w');
fs.writeSync(log, `# ${mode}\n`);
process.on('SIGTERM', () => process.exit(0));

// Synchronous on purpose: one read in flight, as a lookup waits for its answer. The next starts
// one interval after this one started, or at once if this one took longer (no catching up).
function lookup(): void {
  const at = Math.floor(Math.random() * blocks) * BLOCK;
  const t0 = performance.now();
  fs.readSync(fd, buf, 0, BLOCK, at);
  const ms = performance.now() - t0;
  fs.writeSync(log, `${Date.now()} ${ms.toFixed(3)}\n`);
  setTimeout(lookup, Math.max(0, intervalMs - ms));
}
lookup();
