/** The command line as a farmer's cron job runs it: real processes, exit codes, signals. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { startListener, TOKEN, useFixture, waitFor } from '../helpers/listener.js';
import { encodeOwner, selfOwner } from '../../src/storage/owner.js';
import { startProxy } from '../helpers/proxy.js';
import { assertResultLines } from '../helpers/result-lines.js';

const MiB = 2 ** 20;

describe('plotferry send', () => {
  const fx = useFixture();

  it('keeps the sources by default and deletes them with --move, after verification', async () => {
    const keep = path.join(fx.src, 'keep.plot');
    const move1 = path.join(fx.src, 'move1.plot');
    const move2 = path.join(fx.src, 'move2.plot');
    for (const f of [keep, move1, move2]) writePlot(f, MiB + 7);
    const sums = await Promise.all([keep, move1, move2].map(sha256));

    const r1 = await runCli(['send', '--to', `127.0.0.1:${fx.l.port}`, '--token', TOKEN, '--json', keep]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.ok(fs.existsSync(keep), 'source kept without --move');

    // The env file of a farm host names its NATS: `send --to` by hand still goes direct (it was refused).
    const r2 = await runCli(['send', '--to', `127.0.0.1:${fx.l.port}`, '--json', '--move', move1, move2], {
      PLOTFERRY_TOKEN: TOKEN,
      PLOTFERRY_NATS: 'nats://127.0.0.1:1',
    });
    assert.equal(r2.code, 0, r2.stderr);
    const results = jsonLines(r2.stdout);
    assert.equal(results.length, 2);
    // One schema with sweep's (docs/commands.md, "Result lines"): it was ok/moved/bytes.
    assertResultLines(results);
    for (const [i, f] of [move1, move2].entries()) {
      const res = results[i]!;
      assert.equal(res.status, 'sent');
      assert.equal(res.sourceRemoved, true);
      assert.equal(res.size, MiB + 7);
      assert.match(String(res.hash), /^[0-9a-f]{16}$/);
      assert.equal(fs.existsSync(f), false, 'source removed with --move');
      assert.equal(await sha256(String(res.remotePath)), sums[i + 1]);
    }
  });

  it('--bwlimit caps the rate', async () => {
    const file = path.join(fx.src, 'slow.plot');
    writePlot(file, 2_000_000);
    const r = await runCli([
      'send',
      '--to',
      `127.0.0.1:${fx.l.port}`,
      '--token',
      TOKEN,
      '--bwlimit',
      '4',
      '--json',
      file,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [res] = jsonLines(r.stdout);
    // 2 MB at 4 MB/s: the last of four 512 KiB reads is written at >= 0.39 s.
    assert.ok(Number(res?.seconds) >= 0.38, `took ${String(res?.seconds)} s`);
    assert.equal(await sha256(String(res?.remotePath)), await sha256(file));
  });

  it('exits 1 and keeps the source when the stream is corrupted in transit', async () => {
    const file = path.join(fx.src, 'corrupt.plot');
    writePlot(file, 2 * MiB);
    const sum = await sha256(file);
    const proxy = await startProxy({ targetPort: fx.l.port, flipAt: 200_000 });
    try {
      const r = await runCli([
        'send',
        '--to',
        `127.0.0.1:${proxy.port}`,
        '--token',
        TOKEN,
        '--move',
        '--retries',
        '0',
        '--json',
        file,
      ]);
      assert.equal(r.code, 1);
      const [res] = jsonLines(r.stdout);
      assert.equal(res?.status, 'failed');
      assert.equal((res?.error as { code: string }).code, 'PF_HASH_MISMATCH');
      assert.equal(await sha256(file), sum, 'source intact despite --move');
      assert.equal(fs.existsSync(path.join(fx.dst, 'corrupt.plot')), false);
    } finally {
      await proxy.close();
    }
  });

  it('retries a corrupted transfer and delivers it once the link is clean', async () => {
    const file = path.join(fx.src, 'retry.plot');
    writePlot(file, MiB);
    // The proxy flips a byte on the first connection only.
    const flipping = await startProxy({ targetPort: fx.l.port, flipAt: 100_000 });
    let first = true;
    const clean = await startProxy({ targetPort: fx.l.port });
    const front = await import('node:net').then(
      ({ default: net }) =>
        new Promise<{ port: number; close: () => void }>((resolve) => {
          const s = net.createServer((c) => {
            const port = first ? flipping.port : clean.port;
            first = false;
            const u = net.connect(port, '127.0.0.1');
            c.pipe(u).pipe(c);
            c.on('error', () => u.destroy());
            u.on('error', () => c.destroy());
          });
          s.listen(0, '127.0.0.1', () =>
            resolve({ port: (s.address() as { port: number }).port, close: () => s.close() }),
          );
        }),
    );
    try {
      const r = await runCli(['send', '--to', `127.0.0.1:${front.port}`, '--token', TOKEN, '--move', '--json', file], {
        PLOTFERRY_LOG_LEVEL: 'warn',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /retrying/);
      assert.equal(jsonLines(r.stdout)[0]?.status, 'sent');
      assert.equal(fs.existsSync(file), false);
    } finally {
      front.close();
      await flipping.close();
      await clean.close();
    }
  });

  it('takes its options from a --config JSON file', async () => {
    const file = path.join(fx.src, 'configured.plot');
    writePlot(file, 1000);
    const config = path.join(fx.src, 'plotferry.json');
    fs.writeFileSync(config, JSON.stringify({ to: `127.0.0.1:${fx.l.port}`, token: TOKEN, json: true, move: true }));
    const r = await runCli(['send', '--config', config, file], { PLOTFERRY_TOKEN: '' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonLines(r.stdout)[0]?.sourceRemoved, true);
    assert.equal(fs.existsSync(file), false);
  });

  it('fails clearly, exit 2 (a usage error), without a token', async () => {
    const r = await runCli(['send', '--to', `127.0.0.1:${fx.l.port}`, path.join(fx.src, 'x.plot')], {
      PLOTFERRY_TOKEN: '',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PF_CONFIG: no token.*PLOTFERRY_TOKEN/s);
  });

  it("exits 1 with the receiver's reason for a wrong token", async () => {
    const file = path.join(fx.src, 'auth.plot');
    writePlot(file, 100);
    const r = await runCli([
      'send',
      '--to',
      `127.0.0.1:${fx.l.port}`,
      '--token',
      'wrong',
      '--log-level',
      'error',
      file,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PF_AUTH|wrong token/);
    assert.ok(fs.existsSync(file));
  });

  it('rejects a malformed --to with usage help, exit 2', async () => {
    const r = await runCli(['send', '--to', 'nohost', '--token', 'x', 'f.plot']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /HOST:PORT/);
  });
});

describe('a sender killed mid-transfer', () => {
  it('leaves no file under the final name, and the listener keeps serving', async () => {
    const src = await tmpDir();
    const dst = await tmpDir();
    const l = await startListener({ dirs: [dst] });
    const proxy = await startProxy({ targetPort: l.port, rateBytesPerSec: 20 * MiB });
    try {
      const file = path.join(src, 'killed.plot');
      writePlot(file, 64 * MiB);
      const { child, done } = startCli(['send', '--to', `127.0.0.1:${proxy.port}`, '--token', TOKEN, '--move', file]);
      await waitFor(() => proxy.forwarded() > 4 * MiB, 10_000, 'the transfer to be under way');
      assert.ok(
        ls(dst).some((f) => f.endsWith('.partial')),
        'a temporary file while receiving',
      );
      child.kill('SIGKILL');
      await done;
      const o = await l.nextOutcome();
      assert.equal(!o.ok && o.error.code, 'PF_SHORT_STREAM');
      // No final-named file and no temporary one; the good bytes are kept, hidden, for a resume.
      const kept = `.plotferry-killed.plot.${64 * MiB}.resume`;
      assert.deepEqual(ls(dst), [kept]);
      const keptBytes = fs.statSync(path.join(dst, kept)).size;
      assert.ok(keptBytes > 0 && keptBytes <= proxy.forwarded(), `kept ${keptBytes} bytes`);
      assert.ok(fs.existsSync(file), 'source intact');
      const sum = await sha256(file);
      const r = await runCli(['send', '--to', `127.0.0.1:${l.port}`, '--token', TOKEN, '--move', '--json', file]);
      assert.equal(r.code, 0, r.stderr);
      const [res] = jsonLines(r.stdout);
      assert.equal(res?.resumedFrom, keptBytes, 'only the missing tail was sent');
      assert.equal(res?.bytesSent, 64 * MiB - keptBytes);
      assert.deepEqual(ls(dst), ['killed.plot']);
      assert.equal(await sha256(path.join(dst, 'killed.plot')), sum);
    } finally {
      await proxy.close();
      await l.close();
      await fsp.rm(src, { recursive: true, force: true });
      await fsp.rm(dst, { recursive: true, force: true });
    }
  });
});

describe('plotferry listen', () => {
  it('removes stale temporary files at start, finishes a running transfer on SIGTERM, then exits 0', async () => {
    const src = await tmpDir();
    const dst = await tmpDir();
    const stale = path.join(dst, '.plotferry-old.plot.0badf00d.partial');
    fs.writeFileSync(stale, 'left by a crash');
    fs.writeFileSync(path.join(dst, 'someone-elses.plot.partial'), 'not ours');
    const { child, done, stderr } = startCli(
      ['listen', '--dir', dst, '--host', '127.0.0.1', '--port', '0', '--token', TOKEN],
      {
        PLOTFERRY_LOG_LEVEL: 'info',
      },
    );
    let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
    try {
      // stderr is not a terminal, so logs are JSON lines; the bound port is in the 'listening' one.
      const port = await waitFor(
        () => Number(/"port":(\d+).*"msg":"listening"/.exec(stderr())?.[1] ?? 0),
        10_000,
        'the listener to start',
      );
      assert.equal(fs.existsSync(stale), false, 'stale temporary file removed');
      assert.ok(
        fs.existsSync(path.join(dst, 'someone-elses.plot.partial')),
        "only plotferry's own temporaries are removed",
      );
      fs.rmSync(path.join(dst, 'someone-elses.plot.partial'));

      const file = path.join(src, 'graceful.plot');
      writePlot(file, 16 * MiB);
      proxy = await startProxy({ targetPort: port, rateBytesPerSec: 16 * MiB });
      const send = runCli(['send', '--to', `127.0.0.1:${proxy.port}`, '--token', TOKEN, '--move', file]);
      await waitFor(() => proxy!.forwarded() > 2 * MiB, 10_000, 'the transfer to be under way');
      child.kill('SIGTERM');
      const s = await send;
      assert.equal(s.code, 0, `the running transfer finished: ${s.stderr}`);
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /stopping/);
      assert.deepEqual(ls(dst), ['graceful.plot']);
      assert.equal(fs.existsSync(file), false);
    } finally {
      child.kill('SIGKILL');
      await proxy?.close();
      await fsp.rm(src, { recursive: true, force: true });
      await fsp.rm(dst, { recursive: true, force: true });
    }
  });

  it('refuses to start without a token, saying how to make one', async () => {
    const dst = await tmpDir();
    const r = await runCli(['listen', '--dir', dst, '--port', '0'], { PLOTFERRY_TOKEN: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /openssl rand -hex 16/);
    await fsp.rm(dst, { recursive: true, force: true });
  });

  it('explains itself in --help', async () => {
    const r = await runCli(['listen', '--help']);
    assert.equal(r.code, 0);
    for (const s of ['--dir', '--token', '--reserve', '--grace', 'plotferry.disable', 'never overwritten']) {
      assert.ok(r.stdout.includes(s), `--help mentions ${s}`);
    }
  });
});

describe('options', () => {
  it('rejects a mistyped flag with exit 2, naming it', async () => {
    const r = await runCli(['send', '--to', '127.0.0.1:9', '--token', 't', '--mvoe', '1', 'x.plot']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --mvoe/);
  });

  // Regression: these were taken and misbehaved later: `--retries abc` retried
  // forever, `--concurrency abc` sent nothing and said "sweep done", `--idle-timeout abc` failed
  // every transfer with a stack trace, `--claim-ttl abc` expired claims after "NaN ms",
  // `--reserve -5G` was read as the flags -5 and -G, `--port abc` was echoed as "NaN".
  for (const [argv, option] of [
    [['send', '--to', '127.0.0.1:9', '--token', 't', '--retries', 'abc', 'x.plot'], '--retries "abc"'],
    [['sweep', '--concurrency', 'abc', '/nonexistent'], '--concurrency "abc"'],
    [['listen', '--dir', '/nonexistent', '--token', 't', '--idle-timeout', 'abc'], '--idle-timeout "abc"'],
    [['harvester', '--dir', '/nonexistent', '--claim-ttl', 'abc'], '--claim-ttl "abc"'],
    [['listen', '--dir', '/nonexistent', '--token', 't', '--port', 'abc'], '--port "abc"'],
    [['sweep', '--min-age', '-5', '/nonexistent'], '--min-age "-5"'],
    [['send', '--to', '127.0.0.1:9', '--token', 't', '--bwlimit', 'fast', 'x.plot'], '--bwlimit "fast"'],
    [['status', '--wait', '2 minutes'], '--wait "2 minutes"'],
  ] as const) {
    it(`refuses ${argv.join(' ')} at the edge: PF_CONFIG naming ${option}, exit 2`, async () => {
      const r = await runCli([...argv]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`PF_CONFIG: ${option.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  // Regression: a port in use was PF_CONFIG ("an option is invalid"), and a
  // --dir that is missing or not a directory was PF_NO_SPACE ("add a disk or free space").
  it('names the real cause: a port in use is PF_PORT_IN_USE; a missing or file --dir is PF_NO_DISK', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const d = await tmpDir('pf-cause-');
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const r = await runCli(['listen', '--host', '127.0.0.1', '--port', String(port), '--token', 't', '--dir', d]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /PF_PORT_IN_USE: listening on 127\.0\.0\.1:\d+/);
      fs.writeFileSync(path.join(d, 'not-a-dir'), '');
      const l = await startListener({ dirs: [path.join(d, 'missing'), path.join(d, 'not-a-dir')] });
      try {
        const file = path.join(d, 'a.plot');
        writePlot(file, 1000);
        const s = await runCli([
          'send',
          '--to',
          `127.0.0.1:${l.port}`,
          '--token',
          TOKEN,
          '--retries',
          '0',
          '--json',
          file,
        ]);
        assert.equal(s.code, 1);
        const [item] = jsonLines(s.stdout);
        const err = item?.error as { code: string; message: string };
        assert.equal(err.code, 'PF_NO_DISK');
        assert.match(err.message, /missing: does not exist \(ENOENT\).*not-a-dir: not a directory/);
      } finally {
        await l.listener.close();
      }
    } finally {
      taken.close();
      await fsp.rm(d, { recursive: true, force: true });
    }
  });

  it('refuses a negative size instead of reading it as flags', async () => {
    const r = await runCli(['listen', '--dir', '/nonexistent', '--token', 't', '--reserve', '-5G']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option -5G: a negative value\?/);
  });

  // `--min-age 1m` counted as 0 (a plot still being written would have been moved).
  it('takes the units people write: --min-age 1m leaves a plot written 30 s ago alone; --dry-run needs no NATS', async () => {
    const d = await tmpDir('pf-units-');
    try {
      for (const [n, age] of [
        ['fresh.plot', 30],
        ['old.plot', 120],
      ] as const) {
        writePlot(path.join(d, n), 100);
        const t = Date.now() / 1000 - age;
        fs.utimesSync(path.join(d, n), t, t);
      }
      const r = await runCli(['sweep', '--nats', 'nats://127.0.0.1:1', '--dry-run', '--min-age', '1m', d]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /would send .*old\.plot/);
      assert.doesNotMatch(r.stdout, /fresh/);
      // Said, not silent: a farmer whose sweep sends nothing sees why.
      assert.match(r.stdout, /would leave 1 plot\(s\) written to within --min-age \(60 s\)/);
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });

  // Regression: a bad or missing --config file crashed with a yargs stack
  // ("Invalid JSON config file" for a missing one), and misspelt keys were ignored.
  it('--config: a missing file, bad JSON and a misspelt key are PF_CONFIG, exit 2, no stack', async () => {
    const d = await tmpDir('pf-conf-');
    try {
      const bad = path.join(d, 'bad.json');
      const typo = path.join(d, 'typo.json');
      fs.writeFileSync(bad, '{"dir": [');
      fs.writeFileSync(typo, JSON.stringify({ dirr: ['/mnt/d1'], reserv: '2G', token: 't' }));
      for (const [file, want] of [
        [path.join(d, 'missing.json'), /--config .*missing\.json: no such file/],
        [bad, /--config .*bad\.json is not valid JSON/],
        [typo, /--config .*typo\.json: unknown option "dirr" \(did you mean "dir"\?\)/],
      ] as const) {
        const r = await runCli(['listen', '--config', file, '--port', '0']);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /plotferry: PF_CONFIG: /);
        assert.match(r.stderr, want);
        assert.doesNotMatch(r.stderr, /\n\s+at |YError/, 'no stack trace');
      }
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });

  it('ignores PLOTFERRY_* variables meant for other commands', async () => {
    const r = await runCli(['status', '--help'], {
      PLOTFERRY_TOKEN: 'x',
      PLOTFERRY_NATS_URL: 'y',
      PLOTFERRY_DIR: '/z',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--nats/);
  });
});

describe('plotferry demo', () => {
  it('runs a farm on this machine: harvesters bid, a sweep moves the sample plots, all cleaned up', async () => {
    // PLOTFERRY_NATS, as every other command reads it (demo read _NATS_URL).
    const r = await runCli(['demo', '--files', '3', '--size', '3M'], { PLOTFERRY_NATS: 'nats://127.0.0.1:1' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /started a private nats-server/);
    assert.match(r.stdout, /moved 3 of 3 plot\(s\)/);
    assert.equal(r.stdout.match(/verified on both ends, source removed/g)?.length, 3);
    assert.match(r.stdout, /-> demo-harvester-[12]: /);
    assert.match(r.stdout, /plotter-nvme: 0 plot\(s\) left/);
    // Regression: hash records were counted as plots ("4 plot(s)" for 2 plots).
    const perDir = [...r.stdout.matchAll(/harvester-\d\/disk\d: (\d+) plot\(s\)/g)].map((m) => Number(m[1]));
    assert.equal(perDir.length, 4);
    assert.equal(
      perDir.reduce((a, b) => a + b, 0),
      3,
      `the disks hold the 3 plots, no more: ${perDir.join(' ')}`,
    );
    // The replot, with `status` before and after (the disk's PoS1 plots, then fewer of
    // them and the 3 PoS2 plots). How many went depends on the shared filesystem's free space, so
    // that count is replot.test's, on a disk of its own.
    assert.match(r.stdout, /replot: harvester-3 runs --replot on a disk full of PoS1 plots/);
    assert.match(r.stdout, /status, before:\n.*\n.*PoS1 4 \(24\.0 MiB\) \/ PoS2 0 \(0 B\)/);
    assert.equal(r.stdout.match(/plot-k28-demo-\d\d-[0-9a-f]+\.plot2: sent/g)?.length, 3);
    assert.match(r.stdout, /status, after:\n.*\n.*PoS1 [0-4] \(.*\) \/ PoS2 3 \(9\.0 MiB\)/);
    const root = /plotferry demo in (\S+)/.exec(r.stdout)?.[1];
    assert.ok(root && !fs.existsSync(root), 'demo directory removed');
    const src = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('plotferry-demo-'));
    assert.deepEqual(src, [], "the replot's sources in the temp directory removed");
  });

  // Regression: Ctrl-C left /dev/shm/plotferry-demo-* and a nats-server.
  it('Ctrl-C mid-sweep removes its files and its nats-server; what a killed demo left go with the next run', async () => {
    const c = startCli(['demo', '--files', '6', '--size', '64M'], { PLOTFERRY_NATS: 'nats://127.0.0.1:1' });
    let out = '';
    c.child.stdout!.on('data', (b) => (out += b));
    await waitFor(() => /sweeping/.test(out), 60_000, 'the sweep to start');
    const root = /plotferry demo in (\S+)/.exec(out)![1]!;
    const owner = JSON.parse(fs.readFileSync(path.join(root, '.demo-owner.json'), 'utf8')) as { nats: { pid: number } };
    assert.ok(owner.nats.pid > 0, 'a private nats-server was started');
    c.child.kill('SIGINT');
    const r = await c.done;
    assert.ok(!fs.existsSync(root), `${root} removed after Ctrl-C`);
    assert.throws(() => process.kill(owner.nats.pid, 0), 'its nats-server is gone');
    assert.notEqual(r.signal, 'SIGINT', 'it handled the signal rather than dying of it');

    // A demo killed hard (SIGKILL) cannot clean up; the next run does.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const stale = fs.mkdtempSync(path.join(path.dirname(root), 'plotferry-demo-'));
    fs.writeFileSync(path.join(stale, '.demo-owner.json'), encodeOwner({ ...selfOwner('demo'), pid: dead }));
    fs.writeFileSync(path.join(stale, 'junk.plot'), 'x');
    const again = await runCli(['demo', '--files', '1', '--size', '1M'], { PLOTFERRY_NATS: 'nats://127.0.0.1:1' });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /removed .*left by a demo that was killed/);
    assert.ok(!fs.existsSync(stale));
  });
});

describe('status for a monitor', () => {
  // Found by a farmer's trial: NATS out of reach exited 1, as a disk out of rotation does.
  it('exits 3 when NATS is out of reach, as when no harvester answers', async () => {
    const r = await runCli(['status', '--nats', 'nats://127.0.0.1:1', '--wait', '0.2']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /PF_CONNECTION: cannot reach NATS/);
  });
});
