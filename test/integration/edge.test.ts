/**
 * Errors at the edge: an OS refusal becomes a named error, nothing crashes, nothing hangs.
 * Against the real CLI, a real nats-server and real files; the tests that need another user
 * run the CLI as `nobody` through runuser (root only, skipped otherwise).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { portShortage, rangeSize } from '../../src/farm/ports.js';
import { DiskSet } from '../../src/storage/disks.js';
import { watchUsable } from '../../src/storage/usable-alarm.js';
import { WATCH_LOCK } from '../../src/plotter/watch.js';
import { CLI, CliResult, jsonLines, runCliExpectingExit, startCli } from '../helpers/cli.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { startWebhook } from '../helpers/webhook.js';
import { isRoot, sha256, tmpDir, writeSamplePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { captureLog } from '../helpers/log.js';
import { natsSuite } from '../helpers/nats-server.js';
import { freePorts, PORT_RANGES } from '../helpers/ports.js';

const MiB = 2 ** 20;
const hasRunuser = fs.existsSync('/usr/sbin/runuser') || fs.existsSync('/sbin/runuser');
/** Whether nobody can run the CLI from here (a clone under /root cannot be). */
const nobodyCanRun = () =>
  spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CLI, '--version'], { stdio: 'ignore' }).status === 0;
const asNobody = !(isRoot && hasRunuser)
  ? 'needs root and runuser, to run the CLI as nobody'
  : !nobodyCanRun()
    ? `user nobody cannot read ${CLI} and its node_modules: clone where every user can read it`
    : false;

/** The CLI run as user nobody (dist/ and node_modules must be readable by it; they are here). */
function runAsNobody(args: string[], killAfterMs = 30_000): Promise<CliResult> {
  const child = spawn('runuser', ['-u', 'nobody', '--', process.execPath, CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  // A regression that hangs fails on its exit code instead of hanging the suite.
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

/** A plot directory of root's, readable by everyone and writable by root only, with `n` plots. */
async function rootOnlyPlots(n: number, cleanup: (() => unknown)[]): Promise<{ dir: string; files: string[] }> {
  const dir = await tmpDir('pf-edge-ro-');
  cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(dir, `plot-k32-2025-01-01-00-00-edge${i}.plot`);
    writeSamplePlot(f, MiB, undefined, 'pos2-v1');
    fs.chmodSync(f, 0o644);
    files.push(f);
  }
  fs.chmodSync(dir, 0o755);
  return { dir, files };
}

/** Holds ports lo..hi on `host`, as another program would. */
async function holdPorts(host: string, lo: number, hi: number): Promise<() => Promise<void>> {
  const servers: net.Server[] = [];
  for (let p = lo; p <= hi; p++) {
    const s = net.createServer();
    await new Promise<void>((res, rej) => s.once('error', rej).listen(p, host, () => res()));
    servers.push(s);
  }
  return () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined);
}

describe('errors at the edge', () => {
  const suite = natsSuite();
  const { cleanup } = suite;

  it(
    'a sweep by a user who cannot write the plot directory: PF_PERMISSION per plot, naming it; sources kept',
    { skip: asNobody },
    async () => {
      const { dir, files } = await rootOnlyPlots(2, cleanup);
      const sums = await Promise.all(files.map(sha256));
      const r = await runAsNobody(['sweep', '--nats', suite.server.url, '--min-age', '0', '--json', dir]);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /unexpected error|please report it|\n\s+at /);
      const items = jsonLines(r.stdout) as {
        name: string;
        status: string;
        error?: { code: string; message: string };
      }[];
      assert.equal(items.length, 2, `one --json line per plot: ${r.stdout}`);
      for (const i of items) {
        assert.equal(i.status, 'failed');
        assert.equal(i.error?.code, 'PF_PERMISSION');
        assert.ok(i.error.message.includes(dir), `the message names the directory: ${i.error.message}`);
        assert.match(i.error.message, /user nobody cannot write .*write access/);
      }
      assert.deepEqual(await Promise.all(files.map(sha256)), sums, 'every source is kept as it was');
    },
  );

  it(
    'sweep --watch by a user who cannot hold its lock refuses at start, non-zero, before it watches',
    { skip: asNobody },
    async () => {
      const { dir } = await rootOnlyPlots(1, cleanup);
      const r = await runAsNobody(['sweep', '--watch', '--nats', suite.server.url, '--min-age', '0', dir], 20_000);
      assert.equal(r.code, 1, `exit ${r.code ?? r.signal}: ${r.stderr}`);
      assert.match(r.stderr, /PF_PERMISSION: .*user nobody cannot write/);
      assert.ok(r.stderr.includes(dir));
      assert.doesNotMatch(r.stderr, /watching|unexpected error|\n\s+at /);
    },
  );

  it('sweep --watch claims a directory that appears after it started, so a second watcher is refused there', async () => {
    const base = await tmpDir('pf-edge-late-');
    cleanup.push(() => fsp.rm(base, { recursive: true, force: true }));
    const dir = path.join(base, 'nvme');
    const w = startCli(['sweep', '--watch', '--nats', suite.server.url, '--scan-interval', '1', dir]);
    cleanup.push(async () => {
      w.child.kill('SIGKILL');
      await w.done;
    });
    await waitFor(() => w.stderr().includes('watching 1 directory'), 10_000, 'the watcher to start');
    fs.mkdirSync(dir); // mounted late
    await waitFor(() => fs.existsSync(path.join(dir, WATCH_LOCK)), 10_000, 'the watcher to claim it');
    const second = await runCliExpectingExit(['sweep', '--watch', '--nats', suite.server.url, dir], 15_000);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /PF_DIR_IN_USE/);
    w.child.kill('SIGTERM');
    assert.equal((await w.done).code, 0);
    assert.ok(!fs.existsSync(path.join(dir, WATCH_LOCK)), 'released when it stops');
  });

  it('send of a directory fails at once (PF_SOURCE), before any harvester is asked', async () => {
    const dir = await tmpDir('pf-edge-send-');
    cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const started = Date.now();
    // With no harvester at all, announcing would fail PF_NO_BID only after its tries (seconds).
    const r = await runCliExpectingExit(['send', '--nats', suite.server.url, '--json', dir], 20_000);
    assert.equal(r.code, 1, r.stderr);
    const [item] = jsonLines(r.stdout) as { error?: { code: string; message: string } }[];
    assert.equal(item?.error?.code, 'PF_SOURCE');
    assert.match(item.error.message, /is not a regular file/);
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    assert.doesNotMatch(r.stderr, /retrying|PF_NO_BID/);
  });

  it('a closed stdout ends the process quietly (status --json | head -1)', async () => {
    // A harvester whose heartbeat status prints.
    const dir = await tmpDir('pf-edge-status-');
    cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const h = await startTestHarvester({ nc: await suite.nats(), id: 'h-edge-status', dirs: [dir] });
    const c = startCli(['status', '--nats', suite.server.url, '--json', '--wait', '1']);
    c.child.stdout!.destroy(); // the reader went away before the first line
    const r = await c.done;
    await h.close();
    assert.ok(r.code === 0 || r.code === 141, `exit ${r.code ?? r.signal}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|Error|\n\s+at /);
  });

  it('a harvester that can listen on no port of --port-range refuses to start (PF_PORT_IN_USE)', async () => {
    const lo = await freePorts(3, PORT_RANGES.edge);
    const release = await holdPorts('127.0.0.1', lo, lo + 2);
    cleanup.push(release);
    const dir = await tmpDir('pf-edge-h-');
    cleanup.push(() => fsp.rm(dir, { recursive: true, force: true }));
    for (const range of [`${lo}-${lo + 2}`, `${lo}-${lo}`]) {
      const r = await runCliExpectingExit([
        'harvester',
        '--nats',
        suite.server.url,
        '--id',
        'h-noport',
        '--dir',
        dir,
        '--listen-host',
        '127.0.0.1',
        '--port-range',
        range,
      ]);
      assert.equal(r.code, 1, `--port-range ${range}: exit ${r.code ?? r.signal}: ${r.stderr.slice(-2000)}`);
      assert.match(r.stderr, new RegExp(`PF_PORT_IN_USE: .*every port of --port-range ${range}`));
      assert.doesNotMatch(r.stderr, /harvester ready/);
    }
  });

  it('a harvester whose ports are taken later declines (no-port): a sweep ends at once, sources kept; then delivers', async () => {
    const port = await freePorts(1, PORT_RANGES.edge);
    const hdir = await tmpDir('pf-edge-h2-');
    const src = await tmpDir('pf-edge-src-');
    cleanup.push(() => fsp.rm(hdir, { recursive: true, force: true }));
    cleanup.push(() => fsp.rm(src, { recursive: true, force: true }));
    // One port: no listener for direct bids, every plot needs a claim's own listener.
    const h = startCli([
      'harvester',
      '--nats',
      suite.server.url,
      '--id',
      'h-lost-port',
      '--dir',
      hdir,
      '--host',
      '127.0.0.1',
      '--listen-host',
      '127.0.0.1',
      '--port-range',
      `${port}-${port}`,
    ]);
    cleanup.push(async () => {
      h.child.kill('SIGKILL');
      await h.done;
    });
    await waitFor(() => h.stderr().includes('harvester ready'), 10_000, 'the harvester to start');
    const release = await holdPorts('127.0.0.1', port, port);
    const files = [0, 1].map((i) => path.join(src, `plot-k32-2025-01-01-00-00-port${i}.plot`));
    for (const f of files) writeSamplePlot(f, MiB, undefined, 'pos2-v1');
    const sums = await Promise.all(files.map(sha256));
    const sweepArgs = ['sweep', '--nats', suite.server.url, '--min-age', '0', '--json', '--busy-wait', '1800', src];
    const started = Date.now();
    // Busy, a plot would wait its 30 minutes: killed after 30 s, the test fails on the exit.
    const r = await runCliExpectingExit(sweepArgs, 30_000);
    assert.equal(r.code, 1, `exit ${r.code ?? r.signal} after ${Date.now() - started} ms: ${r.stderr.slice(-2000)}`);
    const items = jsonLines(r.stdout) as { status: string; error?: { code: string } }[];
    assert.deepEqual(
      items.map((i) => [i.status, i.error?.code]),
      files.map(() => ['failed', 'PF_PORT_IN_USE']),
    );
    assert.deepEqual(await Promise.all(files.map(sha256)), sums, 'the sources are kept');
    assert.match(h.stderr(), /another process holds every port of --port-range/);
    assert.doesNotMatch(h.stderr(), /unexpected error|Uncaught/);
    // The port is free again: a next sweep delivers (the harvester looks again within a second).
    await release();
    await waitFor(async () => (await runCliExpectingExit(sweepArgs, 30_000)).code === 0, 20_000, 'a sweep to deliver');
    assert.match(h.stderr(), /a port of --port-range is free again/);
    for (const [i, f] of files.entries()) assert.equal(await sha256(path.join(hdir, path.basename(f))), sums[i]);
    assert.equal(h.child.exitCode, null, 'the harvester runs on');
  });

  for (const role of ['harvester', 'listen'] as const)
    it(`a ${role} with no usable --dir runs on and says so loudly: an error line and a webhook`, async () => {
      const wh = await startWebhook();
      cleanup.push(() => wh.close());
      const base = await tmpDir('pf-edge-nodisk-');
      cleanup.push(() => fsp.rm(base, { recursive: true, force: true }));
      const missing = path.join(base, 'not-mounted');
      const args =
        role === 'harvester'
          ? ['harvester', '--nats', suite.server.url, '--id', 'h-nodisk', '--host', '127.0.0.1']
          : ['listen', '--port', '0', '--host', '127.0.0.1', '--token', 'edge-token'];
      const c = startCli([...args, '--dir', missing, '--notify', wh.url]);
      cleanup.push(async () => {
        c.child.kill('SIGKILL');
        await c.done;
      });
      await waitFor(() => wh.bodies.length > 0, 10_000, 'the webhook');
      assert.equal(wh.bodies[0]!.event, 'no-usable-disk');
      assert.ok(String(wh.bodies[0]!.message).includes(missing));
      assert.match(c.stderr(), /"level":50.*PF_NO_DISK.*no usable directory/);
      assert.equal(c.child.exitCode, null, `the ${role} runs on`);
      c.child.kill('SIGTERM');
      const r = await c.done;
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    });

  it('the no-usable-disk alarm says when a directory is usable again', async () => {
    const base = await tmpDir('pf-edge-back-');
    cleanup.push(() => fsp.rm(base, { recursive: true, force: true }));
    const dir = path.join(base, 'disk');
    const { log, lines } = captureLog();
    const disks = new DiskSet([dir], { log, owner: 'listen' });
    const stop = watchUsable(disks, 'listener', log, 50);
    cleanup.push(async () => {
      await stop();
      await disks.close();
    });
    await waitFor(
      () => lines.some((l) => l.level === 50 && /no usable directory/.test(String(l.msg))),
      5_000,
      'the alarm',
    );
    fs.mkdirSync(dir);
    await waitFor(() => lines.some((l) => /usable again/.test(String(l.msg))), 5_000, 'the all-clear');
    assert.equal(lines.filter((l) => l.level === 50).length, 1, 'said once per outage, not every check');
  });

  it('port shortage: busy while our own listeners hold the range, no-port when another process holds some', () => {
    assert.equal(rangeSize([0, 0]), Infinity);
    assert.equal(rangeSize([9000, 9003]), 4);
    assert.equal(portShortage([9000, 9003], 4), 'busy');
    assert.equal(portShortage([9000, 9003], 3), 'no-port');
    assert.equal(portShortage([9000, 9000], 0), 'no-port');
    assert.equal(portShortage([9000, 9000], 1), 'busy');
  });
});
