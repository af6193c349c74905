/** storage/source.ts: a source is deleted only while it is the very file whose bytes were verified. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { openFileChange, openSource, removeSource, sourceChange, sourceIdOf } from '../../src/storage/source.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-source-'));
const idOf = (f: string) => sourceIdOf(fs.statSync(f, { bigint: true }));
const code = (c: string) => (e: unknown) => e instanceof PlotferryError && e.code === c;

describe('source identity', () => {
  it('names each change, and none for the same file', () => {
    const a = { dev: 1n, ino: 2n, size: 3n, mtimeNs: 4n, ctimeNs: 5n };
    assert.equal(sourceChange(a, { ...a }), undefined);
    assert.match(sourceChange(a, { ...a, ino: 9n })!, /another file/);
    assert.match(sourceChange(a, { ...a, dev: 9n })!, /another file/);
    assert.match(sourceChange(a, { ...a, size: 9n })!, /size/);
    assert.match(sourceChange(a, { ...a, mtimeNs: 9n })!, /mtime/);
    assert.match(sourceChange(a, { ...a, ctimeNs: 9n })!, /ctime/);
  });

  it('a same-size rewrite in place keeps the source (PF_SOURCE_CHANGED)', async () => {
    const f = path.join(tmp, 'inplace.plot2');
    fs.writeFileSync(f, Buffer.alloc(4096, 1));
    const was = idOf(f);
    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, Buffer.from('XXXXXXXX'), 0, 8, 1000);
    fs.closeSync(fd);
    await assert.rejects(removeSource(f, was, 'h:/d/x'), code('PF_SOURCE_CHANGED'));
    assert.ok(fs.existsSync(f), 'kept');
  });

  it('a file put back under the name with the old times is another file', async () => {
    const f = path.join(tmp, 'replaced.plot2');
    fs.writeFileSync(f, Buffer.alloc(100, 1));
    const was = idOf(f);
    const st = fs.statSync(f);
    fs.rmSync(f);
    fs.writeFileSync(f, Buffer.alloc(100, 1));
    fs.utimesSync(f, st.atime, st.mtime);
    await assert.rejects(removeSource(f, was, 'h:/d/x'), code('PF_SOURCE_CHANGED'));
    assert.ok(fs.existsSync(f));
  });

  it('the same file is removed; one gone already is reported as gone, not as a failure', async () => {
    const f = path.join(tmp, 'same.plot2');
    fs.writeFileSync(f, Buffer.alloc(100, 1));
    const was = idOf(f);
    assert.equal(await removeSource(f, was, 'h:/d/x'), 'removed');
    assert.ok(!fs.existsSync(f));
    assert.equal(await removeSource(f, was, 'h:/d/x'), 'gone');
  });

  it('a symbolic link is refused as a source (PF_SOURCE), and its target is left alone', async () => {
    const target = path.join(tmp, 'target.plot2');
    fs.writeFileSync(target, Buffer.alloc(100, 1));
    const link = path.join(tmp, 'link.plot2');
    fs.symlinkSync(target, link);
    await assert.rejects(openSource(link), (e) => code('PF_SOURCE')(e) && /symbolic link/.test((e as Error).message));
    assert.ok(fs.existsSync(target));
  });

  it('an open file whose last name was removed meanwhile is unchanged by that alone (its bytes are the ones read)', () => {
    const a = { dev: 1n, ino: 2n, size: 3n, mtimeNs: 4n, ctimeNs: 5n };
    assert.equal(openFileChange(a, { ...a, ctimeNs: 9n, nlink: 0n }), undefined, 'removed by hand: deliver it');
    assert.match(openFileChange(a, { ...a, ctimeNs: 9n, nlink: 1n })!, /ctime/, 'still named: a ctime change counts');
    assert.match(openFileChange(a, { ...a, ctimeNs: 9n, mtimeNs: 8n, nlink: 0n })!, /mtime/, 'written, then removed');
    assert.match(openFileChange(a, { ...a, size: 1n, nlink: 0n })!, /size/);
  });
});
