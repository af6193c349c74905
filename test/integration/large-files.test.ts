/**
 * Files of plot-group size (30-120 GB) without writing them: sparse files, whose holes read as
 * zeros. A 63 GB group file is judged whole from its chunk index (read past 4 GiB), and a transfer
 * resumes from an offset past 2^32 and sends only the tail. Real files, a real listener.
 */
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sampleGroupIndex, sampleHeader, sampleTables } from '../../src/demo/sample.js';
import { checkPlotFile } from '../../src/storage/plot-file.js';
import { partialPathFor } from '../../src/storage/hidden-names.js';
import { sendFile } from '../../src/transfer/sender.js';
import { ls } from '../helpers/files.js';
import { TOKEN, useFixture } from '../helpers/listener.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** `bytes` written at `at` into `file` (created sparse at `size` bytes when new). */
function writeAt(file: string, size: number, bytes: Buffer, at: number): void {
  if (!fs.existsSync(file)) fs.writeFileSync(file, '');
  fs.truncateSync(file, Math.max(size, fs.statSync(file).size));
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(file: string, at: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, b, 0, length, at);
  } finally {
    fs.closeSync(fd);
  }
  return b;
}

describe('files of plot-group size', () => {
  const fx = useFixture();

  it('a 63 GB group file (k 28, 64 plots) is whole by its chunk index; cut short, it is not', async () => {
    // 2^22 chunks of about the size pos2-chip expects for 64 plots (15,075 bytes): ~63 GB.
    const size = 2 ** 22 * 15_075 + 51 + 128 + 4 * MiB;
    const header = sampleHeader('pos2-group', { k: 28, groupSize: 64 });
    const index = sampleGroupIndex(header, size);
    assert.ok(index, 'an index fits');
    const f = path.join(fx.src, 'plot-k28-g64.gplot');
    writeAt(f, size, header, 0);
    writeAt(f, size, index, size - index.length);
    const at = Number(header.readBigUInt64LE(42));
    assert.ok(at > 2 ** 32 * 14, `its index starts past 4 GiB (${at})`);
    const whole = await checkPlotFile(f);
    assert.equal(whole.kind, 'complete', 'why' in whole ? whole.why : '');
    fs.truncateSync(f, size - 1000);
    assert.equal((await checkPlotFile(f)).kind, 'incomplete', 'its index cut short');
    fs.truncateSync(f, at);
    assert.equal((await checkPlotFile(f)).kind, 'incomplete', 'its chunks not all there');
    fs.rmSync(f);
  });

  it('resumes from an offset past 2^32 and sends only the tail', async () => {
    // A PoS2 plot of 4 GiB + 3 MiB: its header and chunk table, a hole, 3 MiB of random tail.
    const size = 4 * GiB + 3 * MiB;
    const file = path.join(fx.src, 'plot-k28-big.plot2');
    const head = sampleHeader('pos2-v1', { memo: Buffer.alloc(0) });
    writeAt(file, size, Buffer.concat([head, sampleTables('pos2-v1', head.length, size)]), 0);
    const tail = randomFillSync(Buffer.alloc(3 * MiB));
    writeAt(file, size, tail, size - tail.length);
    assert.equal((await checkPlotFile(file)).kind, 'complete');
    // The partial copy a broken transfer left: the first 4 GiB + 1 MiB.
    const keep = 4 * GiB + MiB;
    const partial = partialPathFor(fx.dst, path.basename(file), size);
    writeAt(partial, keep, readAt(file, 0, 4096), 0);
    writeAt(partial, keep, tail.subarray(0, MiB), keep - MiB);

    const r = await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file });
    assert.equal(r.resumedFrom, keep);
    assert.ok(keep > 2 ** 32);
    assert.equal(r.bytesSent, 2 * MiB);
    // The receiver checked the whole file's hash before it took it; here its ends, byte for byte.
    assert.equal(fs.statSync(r.remotePath).size, size);
    assert.ok(readAt(r.remotePath, size - tail.length, tail.length).equals(tail));
    assert.ok(readAt(r.remotePath, 0, 4096).equals(readAt(file, 0, 4096)));
    assert.deepEqual(ls(fx.dst), ['plot-k28-big.plot2'], 'the partial copy became the file');
    await fx.l.nextOutcome();
    fs.rmSync(r.remotePath);
    fs.rmSync(file);
  });
});
