import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { sendFile } from '../../src/transfer/sender.js';
import { runSpeedtest } from '../../src/transfer/speedtest-sender.js';
import { encodeMessage } from '../../src/wire/wire-messages.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { ls, writeRandomFile } from '../helpers/files.js';
import { TOKEN, useFixture } from '../helpers/listener.js';
import { RawClient } from '../helpers/raw.js';

const speedHello = (size: number, token = TOKEN) =>
  encodeMessage({ type: 'hello', token, name: 'speedtest', size, hash: 'xxh64', mode: 'speedtest' });

describe('speedtest', () => {
  const fx = useFixture({ headerTimeoutMs: 2_000, idleTimeoutMs: 2_000 });

  it('two streams are counted by the receiver, which writes nothing; a file goes through after', async () => {
    const r = await runSpeedtest({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, seconds: 0.5, streams: 2 });
    assert.equal(r.streams.length, 2);
    for (const s of r.streams) assert.ok(s.bytes > 0 && s.gbps > 0, `stream ${s.stream} moved bytes`);
    assert.equal(r.bytes, r.streams[0]!.bytes + r.streams[1]!.bytes);
    const outcomes = [await fx.l.nextOutcome(), await fx.l.nextOutcome()];
    // The receiver's own count is what the sender checked against (runSpeedtest throws otherwise).
    assert.deepEqual(outcomes.map((o) => o.ok && o.speedtest && o.bytes).sort(), r.streams.map((s) => s.bytes).sort());
    assert.deepEqual(ls(fx.dst), [], 'a speedtest writes nothing');
    const file = path.join(fx.src, 'after.plot');
    writeRandomFile(file, 100_000);
    await sendFile({ host: '127.0.0.1', port: fx.l.port, token: TOKEN, file });
    // The receiver removes the temporary name while the sender hears RESULT: its outcome comes after.
    await fx.l.nextOutcome();
    assert.deepEqual(ls(fx.dst), ['after.plot']);
  });

  it('a wrong token is refused with PF_AUTH before any byte is taken', async () => {
    await assert.rejects(
      runSpeedtest({ host: '127.0.0.1', port: fx.l.port, token: 'guess', seconds: 0.2, streams: 1 }),
      (e: unknown) => e instanceof PlotferryError && e.code === 'PF_AUTH',
    );
    const o = await fx.l.nextOutcome();
    assert.equal(!o.ok && o.error.code, 'PF_AUTH');
  });

  it('more bytes than announced: PF_PROTOCOL', async () => {
    const c = await RawClient.connect(fx.l.port);
    await c.write(speedHello(1000));
    assert.equal((await c.next())?.type, 'accept');
    await c.write(Buffer.alloc(5000));
    const m = await c.next();
    assert.equal(m?.type === 'error' && m.code, 'PF_PROTOCOL');
    const o = await fx.l.nextOutcome();
    assert.equal(!o.ok && o.error.code, 'PF_PROTOCOL');
    c.destroy();
  });

  it('an unknown mode is a malformed header', async () => {
    const c = await RawClient.connect(fx.l.port);
    const bad = Buffer.from(speedHello(10));
    // Same length: "speedtest" -> "speedtast".
    bad.write('speedtast', bad.indexOf('speedtest', bad.indexOf('mode')));
    await c.write(bad);
    const m = await c.next();
    assert.equal(m?.type === 'error' && m.code, 'PF_PROTOCOL');
    await fx.l.nextOutcome();
    c.destroy();
  });

  it('CLI: --json prints per-stream and total figures; no token is a config error', async () => {
    const ok = await runCli([
      'speedtest',
      '--to',
      `127.0.0.1:${fx.l.port}`,
      '--token',
      TOKEN,
      '--seconds',
      '0.3',
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const [r] = jsonLines(ok.stdout) as [{ ok: boolean; gbps: number; streams: unknown[]; senderCpu: number }];
    assert.equal(r.ok, true);
    assert.equal(r.streams.length, 1);
    assert.ok(r.gbps > 0 && r.senderCpu > 0);
    await fx.l.nextOutcome();
    const bad = await runCli(['speedtest', '--to', `127.0.0.1:${fx.l.port}`, '--seconds', '0.3'], {
      PLOTFERRY_TOKEN: '',
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /token/i);
  });

  // Regression: `speedtest --to` failures printed no JSON at all, and the
  // --nats ones used another shape than send's and sweep's.
  it('CLI: --json failures are a line shaped as send and sweep print theirs', async () => {
    const r = await runCli([
      'speedtest',
      '--to',
      `127.0.0.1:${fx.l.port}`,
      '--token',
      'wrong-token',
      '--seconds',
      '0.3',
      '--json',
    ]);
    assert.equal(r.code, 1, r.stderr);
    const [line] = jsonLines(r.stdout) as [
      { ok: boolean; to: string; error: { code: string; message: string; hint: string } },
    ];
    assert.equal(line.ok, false);
    assert.equal(line.to, `127.0.0.1:${fx.l.port}`);
    assert.equal(line.error.code, 'PF_AUTH');
    assert.ok(line.error.message.length > 0 && line.error.hint.length > 0);
    await fx.l.nextOutcome();
  });
});
