import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { DiskWriter } from '../../src/transfer/receive/disk-writer.js';

const MiB = 1024 * 1024;
const log = pino({ level: 'silent' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-writer-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `count` MiB buffers (buffer i filled with i) through a writer and waits for it. */
async function writeFile(fd: number, count: number, flushEvery: number, onFlushError = (_e: Error) => {}) {
  const back: Buffer[] = [];
  const errors: (NodeJS.ErrnoException | null)[] = [];
  const w = new DiskWriter(fd, 0, log, (b, e) => (back.push(b), errors.push(e)), { flushEvery, onFlushError });
  for (let i = 0; i < count; i++) w.write(Buffer.alloc(MiB, i), MiB, i * MiB);
  await w.whenIdle();
  w.close();
  return { w, back, errors };
}

describe('disk writer: write-behind', () => {
  it('flushes while the file is written, at most one at a time, and writes every byte in place', async () => {
    const file = path.join(dir, 'a');
    const fd = fs.openSync(file, 'w');
    const { w, back, errors } = await writeFile(fd, 8, 2 * MiB);
    fs.closeSync(fd);
    assert.equal(back.length, 8, 'every buffer comes back');
    assert.ok(
      errors.every((e) => e === null),
      'no write failed',
    );
    // 8 MiB in 2 MiB steps, one flush at a time: at least one, at most 4.
    assert.ok(w.flushes >= 1 && w.flushes <= 4, `flushes: ${w.flushes}`);
    assert.equal(w.durable, 8 * MiB);
    const got = fs.readFileSync(file);
    assert.equal(got.length, 8 * MiB);
    for (let i = 0; i < 8; i++) assert.equal(got[i * MiB + 123], i, `MiB ${i} holds its own bytes`);
  });

  it('flushEvery 0 never flushes (the final fsync does it all)', async () => {
    const fd = fs.openSync(path.join(dir, 'b'), 'w');
    const { w } = await writeFile(fd, 4, 0);
    fs.closeSync(fd);
    assert.equal(w.flushes, 0);
  });

  it('a flush that fails fails the file once, and whenIdle() waits for the flush under way', async () => {
    // /dev/null takes writes and refuses fdatasync (EINVAL): a disk whose write-back failed.
    const fd = fs.openSync('/dev/null', 'w');
    const failures: NodeJS.ErrnoException[] = [];
    const { w } = await writeFile(fd, 4, MiB, (e) => failures.push(e));
    fs.closeSync(fd);
    // whenIdle() resolved only after the flush came back, so its failure is already known here.
    assert.equal(failures.length, 1, 'reported once, before whenIdle() resolved');
    assert.equal(failures[0]!.code, 'EINVAL');
    assert.equal(w.flushes, 1, 'no flush after the failure');
  });
});
