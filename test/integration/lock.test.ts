/** The per-plot lock: held only while its owner provably runs. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lockPathFor, tryLock } from '../../src/plotter/lock.js';
import { encodeOwner, selfOwner } from '../../src/storage/owner.js';
import { lsAll, tmpDir } from '../helpers/files.js';

describe('plot lock', () => {
  let dir: string;
  let plot: string;
  before(async () => {
    dir = await tmpDir('pf-lock-');
    plot = path.join(dir, 'p.plot');
    fs.writeFileSync(plot, 'x');
  });
  after(() => fsp.rm(dir, { recursive: true, force: true }));

  const take = async () => {
    const r = await tryLock(plot);
    assert.ok(r.ok, `taken (held by ${r.ok ? '' : r.holder})`);
    return r.lock;
  };
  const write = (content: string) => fs.writeFileSync(lockPathFor(plot), content);

  // Regression: `echo 1 > DIR/.plotferry-lock-p.plot` blocked the plot forever (PID 1 always runs).
  it('a bare PID that is not a plotferry sweep is stale', async () => {
    write('1\n');
    const l = await take();
    await l.release();
    assert.deepEqual(lsAll(dir), ['p.plot']);
  });

  it('a live holder keeps it; release removes only our own lock', async () => {
    const l = await take();
    const second = await tryLock(plot);
    assert.equal(second.ok, false);
    assert.match(!second.ok ? second.holder : '', new RegExp(`pid ${process.pid}`));
    // Someone replaced the lock meanwhile: our release leaves theirs alone.
    const theirs = { ...selfOwner('sweep'), host: 'elsewhere' };
    write(encodeOwner(theirs));
    await l.release();
    assert.ok(fs.existsSync(lockPathFor(plot)));
    fs.rmSync(lockPathFor(plot));
  });

  it('a reused PID (same PID, other start time or other boot) is stale', async () => {
    write(encodeOwner({ ...selfOwner('sweep'), start: '1' }));
    await (await take()).release();
    write(encodeOwner({ ...selfOwner('sweep'), boot: 'an-earlier-boot' }));
    await (await take()).release();
  });

  it('a lock whose process exited is stale; one from another host is not', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    write(encodeOwner({ ...selfOwner('sweep'), pid: child.pid! }));
    await (await take()).release();
    write(encodeOwner({ ...selfOwner('sweep'), host: `${os.hostname()}-other` }));
    const r = await tryLock(plot);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.holder : '', /cannot check/);
    fs.rmSync(lockPathFor(plot));
  });

  it('an old bare-PID lock of a live plotferry sweep still holds', async () => {
    // A process whose command line reads like an old sweep's.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)', 'plotferry', 'sweep']);
    try {
      write(`${child.pid}\n`);
      assert.equal((await tryLock(plot)).ok, false);
    } finally {
      child.kill();
      fs.rmSync(lockPathFor(plot));
    }
  });

  it('of many sweeps taking over one stale lock at once, exactly one gets it', async () => {
    for (let round = 0; round < 20; round++) {
      write('1\n');
      const all = await Promise.all(Array.from({ length: 8 }, () => tryLock(plot)));
      const won = all.filter((r) => r.ok);
      assert.equal(won.length, 1, `round ${round}: ${won.length} took it`);
      for (const r of won) if (r.ok) await r.lock.release();
      assert.deepEqual(lsAll(dir), ['p.plot'], 'no lock and nothing renamed aside is left');
    }
  });
});
