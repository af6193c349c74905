/** `plotferry harvester` and `plotferry send --nats` as real processes on a real nats-server. */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, NatsConnection } from 'nats';
import type { Heartbeat } from '../../src/bus/bus-messages.js';
import { Harvester } from '../../src/farm/harvester-daemon.js';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { ls, sha256, tmpDir, writePlot, writeRandomFile, writeSamplePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';

const MiB = 2 ** 20;

describe('harvester and send --nats (processes)', () => {
  let server: NatsServer;
  let src: string;
  const dirs: string[] = [];
  before(async () => {
    server = await startNatsServer();
    src = await tmpDir();
  });
  after(async () => {
    await server.stop();
    for (const d of [src, ...dirs]) await fsp.rm(d, { recursive: true, force: true });
  });
  const dir = async (p: string) => {
    const d = await tmpDir(p);
    dirs.push(d);
    return d;
  };
  const startHarvester = async (id: string, d: string, extra: string[] = []) => {
    const h = startCli([
      'harvester',
      '--nats',
      server.url,
      '--id',
      id,
      '--host',
      '127.0.0.1',
      '--listen-host',
      '127.0.0.1',
      '--dir',
      d,
      ...extra,
    ]);
    await waitFor(() => h.stderr().includes('harvester ready'), 10_000, `${id} to start`);
    return h;
  };

  it('moves a plot to the harvester that wins, with --move and --json', async () => {
    const d = await dir('pf-hc1-');
    const h = await startHarvester('hc-one', d);
    try {
      const file = path.join(src, 'cli-bid.plot');
      writePlot(file, 2 * MiB);
      const sum = await sha256(file);
      const r = await runCli(['send', '--nats', server.url, '--move', '--json', file]);
      assert.equal(r.code, 0, r.stderr);
      const [res] = jsonLines(r.stdout);
      assert.equal(res?.harvester, 'hc-one');
      assert.equal(await sha256(path.join(d, 'cli-bid.plot')), sum);
      assert.equal(fs.existsSync(file), false);
    } finally {
      h.child.kill('SIGTERM');
      assert.equal((await h.done).code, 0);
    }
  });

  it('--verify-plot-header: a file that is not a plot is refused, not retried elsewhere, and kept', async () => {
    const d = await dir('pf-hvp-');
    const h = await startHarvester('hc-verify', d, ['--verify-plot-header']);
    try {
      const junk = path.join(src, 'notes.plot');
      writeRandomFile(junk, 2 * MiB);
      const bad = await runCli(['send', '--nats', server.url, '--move', '--json', junk]);
      assert.equal(bad.code, 1);
      const [res] = jsonLines(bad.stdout);
      assert.equal((res?.error as { code: string }).code, 'PF_NOT_A_PLOT');
      assert.ok(fs.existsSync(junk), 'source kept');
      const plot = path.join(src, 'plot-k32-real.plot');
      writeSamplePlot(plot, 2 * MiB);
      const ok = await runCli(['send', '--nats', server.url, '--json', plot]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(ls(d), ['plot-k32-real.plot']);
    } finally {
      h.child.kill('SIGTERM');
      assert.equal((await h.done).code, 0);
    }
  });

  it('status lists live harvesters with their disks and plots', async () => {
    const d1 = await dir('pf-st1-');
    const d2 = await dir('pf-st2-');
    fs.writeFileSync(path.join(d1, 'already-here.plot'), Buffer.alloc(4096));
    fs.writeFileSync(path.join(d2, 'plotferry.disable'), '');
    // Disabled before the start, it still holds its plots: they are counted (they showed as 0).
    fs.writeFileSync(path.join(d2, 'held-while-disabled.plot'), Buffer.alloc(8192));
    const h = await startHarvester('hc-status', d1, ['--dir', d2]);
    try {
      const r = await runCli(['status', '--nats', server.url, '--wait', '1', '--json']);
      // A disk out of rotation is what a monitor must hear: exit 1, and which disk and why.
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /hc-status: .*pf-st2-.* takes no plot: disabled by plotferry\.disable/);
      const relaxed = await runCli(['status', '--nats', server.url, '--wait', '1', '--ignore-disks']);
      assert.equal(relaxed.code, 0, relaxed.stderr);
      const hb = jsonLines(r.stdout).find((b) => b.harvester === 'hc-status') as unknown as Heartbeat;
      assert.ok(hb, r.stdout);
      assert.equal(hb.host, '127.0.0.1');
      // The ready line says the replot mode (a --replot-dry-run left on deletes nothing).
      assert.match(h.stderr(), /"replot":"off".*harvester ready \(replot: off\)/);
      assert.equal(hb.dirs[0]?.plots, 1);
      assert.ok((hb.dirs[0]?.plotBytes ?? 0) >= 4096);
      assert.match(hb.dirs[1]?.unusable ?? '', /plotferry\.disable/);
      assert.equal(hb.dirs[1]?.plots, 1, 'a disk disabled at the start still counts its plots');
      assert.ok((hb.dirs[1]?.plotBytes ?? 0) >= 8192);
      const table = await runCli(['status', '--nats', server.url, '--wait', '1']);
      assert.match(table.stdout, /hc-status \(127\.0\.0\.1\)\s+transfers 0\/5\s+plots 2/);
    } finally {
      h.child.kill('SIGTERM');
      await h.done;
    }
  });

  it('no harvester: exit 1 with PF_NO_BID, source kept', async () => {
    const file = path.join(src, 'unwanted.plot');
    writePlot(file, 100);
    const r = await runCli([
      'send',
      '--nats',
      server.url,
      '--move',
      '--retries',
      '0',
      '--bid-timeout',
      '0.3',
      '--json',
      file,
    ]);
    assert.equal(r.code, 1);
    assert.equal((jsonLines(r.stdout)[0]?.error as { code: string }).code, 'PF_NO_BID');
    assert.ok(fs.existsSync(file));
  });

  it('cannot reach NATS: exit 1 with a message that says what to check', async () => {
    const r = await runCli(['send', '--nats', 'nats://127.0.0.1:1', 'x.plot']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PF_CONNECTION: cannot reach NATS at nats:\/\/127\.0\.0\.1:1.*nats-server/s);
  });

  it('a harvester SIGKILLed mid-transfer: a retry delivers to another; the source goes only after', async () => {
    const dA = await dir('pf-hcA-');
    const dB = await dir('pf-hcB-');
    const a = await startHarvester('hc-a', dA);
    const file = path.join(src, 'survivor.plot');
    writePlot(file, 1024 * MiB);
    const sum = await sha256(file);
    const send = startCli(['send', '--nats', server.url, '--move', '--json', file]);
    let nc: NatsConnection | undefined;
    let b: Harvester | undefined;
    try {
      await waitFor(() => ls(dA).some((f) => f.endsWith('.partial')), 20_000, 'the transfer to hc-a to start');
      a.child.kill('SIGKILL');
      await a.done;
      assert.ok(fs.existsSync(file), 'source still there after the failure');
      // The retry waits a back-off first; hc-b is there by then.
      nc = await connect({ servers: server.url });
      b = await startTestHarvester({
        nc,
        id: 'hc-b',
        dirs: [dB],
        heartbeatMs: 5_000,
      });
      const r = await send.done;
      assert.equal(r.code, 0, r.stderr);
      const [res] = jsonLines(r.stdout);
      assert.equal(res?.harvester, 'hc-b');
      assert.match(r.stderr, /retrying/);
      assert.equal(await sha256(path.join(dB, 'survivor.plot')), sum);
      assert.equal(fs.existsSync(file), false, 'source removed after the verified retry');
      assert.ok(!ls(dA).includes('survivor.plot'), 'no final-named partial on the killed harvester');
    } finally {
      send.child.kill('SIGKILL');
      a.child.kill('SIGKILL');
      await b?.close();
      await nc?.close();
    }
    // The killed harvester cleans its stale temporary file when it starts again.
    const again = await startHarvester('hc-a', dA);
    assert.deepEqual(ls(dA), []);
    again.child.kill('SIGTERM');
    await again.done;
  });

  // Regression: a harvester exited 1 at once when NATS was unreachable at
  // start; under systemd (Restart=always, no RestartSec) it then stayed down for good.
  it('a harvester started before NATS keeps trying, says so, and bids once NATS is up', async () => {
    const later = await startNatsServer();
    await later.stop();
    const d = await dir('pf-hc-late-');
    const h = startCli(['harvester', '--nats', later.url, '--id', 'hc-late', '--host', '127.0.0.1', '--dir', d]);
    try {
      await waitFor(() => (h.stderr().match(/trying again in/g) ?? []).length >= 2, 15_000, 'two retry lines');
      assert.equal(h.child.exitCode, null, 'still running');
      assert.match(h.stderr(), /cannot reach NATS at .*trying again in \d+ s/);
      await later.restart();
      await waitFor(() => h.stderr().includes('harvester ready'), 40_000, 'the harvester to attach');
      const file = path.join(src, 'late.plot');
      writePlot(file, 100_000);
      const r = await runCli(['send', '--nats', later.url, '--move', '--json', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(jsonLines(r.stdout)[0]?.harvester, 'hc-late');
      assert.deepEqual(ls(d), ['late.plot']);
    } finally {
      h.child.kill('SIGTERM');
      const done = await h.done;
      await later.stop();
      assert.equal(done.code, 0, 'a SIGTERM stops it cleanly');
    }
  });

  it('a harvester told to stop while it waits for NATS exits 0 and releases its directories', async () => {
    const d = await dir('pf-hc-stop-');
    const h = startCli(['harvester', '--nats', 'nats://127.0.0.1:1', '--id', 'hc-stop', '--dir', d]);
    await waitFor(() => h.stderr().includes('trying again in'), 15_000, 'a retry line');
    h.child.kill('SIGTERM');
    const r = await h.done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(d), [], 'its claim on the directory is gone');
  });
});
