/**
 * `send --move` says what happened to each file, and deletes a source only when a verified copy
 * that is provably another file exists.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { isRoot, ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { TOKEN, useFixture, waitFor } from '../helpers/listener.js';
import { startProxy } from '../helpers/proxy.js';

const send = (port: number, ...args: string[]) =>
  runCli(['send', '--to', `127.0.0.1:${port}`, '--token', TOKEN, '--json', ...args]);

describe('send --move: what happened to each file', () => {
  const fx = useFixture();

  // Regression: with the RESULT frame lost, every run retried, got PF_EXISTS and exited 1 with
  // "not delivered", though the receiver held a verified identical copy with its hash record.
  it('a RESULT lost on the way back: the stored copy is verified identical, the source goes, exit 0', async () => {
    const file = path.join(fx.src, 'lost-result.plot');
    writePlot(file, 3 * 2 ** 20 + 11);
    const sum = await sha256(file);
    const proxy = await startProxy({ targetPort: fx.l.port, dropResults: 1 });
    try {
      const r = await send(proxy.port, '--move', '--retries', '1', file);
      assert.equal(proxy.droppedResults(), 1, 'the RESULT was cut');
      assert.equal(r.code, 0, r.stderr);
      const [j] = jsonLines(r.stdout);
      assert.equal(j?.status, 'sent', r.stdout);
      assert.equal(j?.alreadyStored, true);
      assert.equal(j?.sourceRemoved, true);
      assert.equal(fs.existsSync(file), false, 'source removed');
      assert.equal(await sha256(path.join(fx.dst, 'lost-result.plot')), sum);
      assert.match(r.stderr, /holds this file already, verified identical/);
    } finally {
      await proxy.close();
    }
  });

  it('a receiver holding another file of that name: PF_EXISTS saying so, source kept', async () => {
    const file = path.join(fx.src, 'conflict.plot');
    writePlot(file, 5000);
    assert.equal((await send(fx.l.port, file)).code, 0);
    writePlot(file, 5000); // same name and size, other bytes
    const r = await send(fx.l.port, '--move', file);
    assert.equal(r.code, 1);
    const [j] = jsonLines(r.stdout);
    assert.equal((j?.error as { code: string }).code, 'PF_EXISTS');
    assert.match((j?.error as { message: string }).message, /different file/);
    assert.ok(fs.existsSync(file), 'source kept');
  });

  // The direct-mode twin of sweep's item 1: the receiver's copy is the source itself.
  it("sending a file from the receiver's own directory removes nothing: PF_SAME_FILE", async () => {
    const file = path.join(fx.src, 'own.plot');
    writePlot(file, 7000);
    assert.equal((await send(fx.l.port, file)).code, 0);
    const stored = path.join(fx.dst, 'own.plot');
    const sum = await sha256(stored);
    const r = await send(fx.l.port, '--move', stored);
    assert.equal(r.code, 1, r.stderr);
    const [j] = jsonLines(r.stdout);
    assert.equal((j?.error as { code: string }).code, 'PF_SAME_FILE', r.stdout);
    assert.equal(await sha256(stored), sum, 'the stored plot is untouched');
    assert.ok(ls(fx.dst).includes('own.plot'));
  });

  // Regression: a source that could not be deleted was reported as PF_SOURCE, "not delivered;
  // their sources are kept", though the file was verified and stored.
  it('a source that cannot be deleted: delivered, with a deleteError, and the summary says so', async () => {
    const dir = await tmpDir('pf-ro-src-');
    const file = path.join(dir, 'undeletable.plot');
    writePlot(file, 9000);
    let view = dir;
    if (isRoot) {
      // Root ignores permissions: a read-only bind mount is a directory root cannot write to.
      view = await tmpDir('pf-ro-view-');
      execFileSync('mount', ['--bind', '-o', 'ro', dir, view]);
    } else fs.chmodSync(dir, 0o555);
    try {
      const r = await send(fx.l.port, '--move', path.join(view, 'undeletable.plot'));
      assert.equal(r.code, 1, 'exit 1: something needs a human');
      const [j] = jsonLines(r.stdout);
      assert.equal(j?.status, 'sent', r.stdout);
      assert.equal(j?.sourceRemoved, false);
      assert.equal((j?.deleteError as { code: string }).code, 'PF_DELETE_FAILED');
      assert.match(r.stderr, /delivered and verified, but their sources could not be deleted/);
      assert.doesNotMatch(r.stderr, /not delivered/);
      assert.ok(ls(fx.dst).includes('undeletable.plot'));
    } finally {
      if (isRoot) {
        execFileSync('umount', [view]);
        await fsp.rm(view, { recursive: true, force: true });
      } else fs.chmodSync(dir, 0o755);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  // Regression: after SIGINT, `send --json` printed a line only for the
  // file in flight; the files after it vanished from the output.
  it('SIGINT mid-send: one JSON line for every file, the ones not sent say so, every source kept', async () => {
    const files = ['a', 'b', 'c'].map((n) => path.join(fx.src, `sigint-${n}.plot`));
    for (const f of files) writePlot(f, 4 * 2 ** 20);
    const slow = await startProxy({ targetPort: fx.l.port, rateBytesPerSec: 2 * 2 ** 20 });
    try {
      const s = startCli(['send', '--to', `127.0.0.1:${slow.port}`, '--token', TOKEN, '--json', '--move', ...files]);
      await waitFor(() => slow.forwarded() > 2 ** 20, 15_000, 'the first file to be under way');
      s.child.kill('SIGINT');
      const r = await s.done;
      assert.equal(r.code, 1);
      const lines = jsonLines(r.stdout);
      assert.deepEqual(
        lines.map((l) => l.file),
        files,
        r.stdout,
      );
      for (const l of lines) {
        assert.equal(l.status, 'failed');
        assert.equal((l.error as { code: string }).code, 'PF_ABORTED');
      }
      for (const f of files) assert.ok(fs.existsSync(f), `${f} kept`);
    } finally {
      await slow.close();
    }
  });
});
