/**
 * NATS login and TLS on every command that talks to NATS, against nats-server processes started
 * with auth on: a token, a user and password, an operator with a .creds file, and TLS that
 * verifies clients. A wrong credential exits 1 at once with PF_NATS_AUTH.
 */
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from 'nats';
import { connectNats, loginInUrl, natsConnectionOptions, NatsAuth } from '../../src/bus/connect.js';
import { PlotferryError } from '../../src/core/errors.js';
import { Harvester } from '../../src/farm/harvester-daemon.js';
import { silentLogger } from '../../src/core/log.js';
import { jsonLines, runCli, startCli } from '../helpers/cli.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { sha256, tmpDir, writePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { makeCreds, makeTls } from '../helpers/nats-auth.js';
import { NatsServer, startNatsServer } from '../helpers/nats-server.js';

const log = silentLogger();

describe('NATS login and TLS', () => {
  let work: string;
  const servers: NatsServer[] = [];
  const harvesters: Harvester[] = [];
  const conns: NatsConnection[] = [];
  const server = async (args: string[]) => {
    const s = await startNatsServer(args);
    servers.push(s);
    return s;
  };
  /** An in-process harvester logged in with `auth`. */
  const harvester = async (url: string, id: string, auth: NatsAuth) => {
    const dir = await tmpDir(`pf-${id}-`, work);
    const nc = await connectNats(url, id, log, auth);
    conns.push(nc);
    const h = await startTestHarvester({
      nc,
      id,
      dirs: [dir],
      log,
    });
    harvesters.push(h);
    return dir;
  };
  const assertAuthFailed = (r: { code: number | null; stderr: string }) => {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /PF_NATS_AUTH: .*authorization failed/);
  };

  before(async () => {
    work = await tmpDir('pf-auth-');
  });
  after(async () => {
    for (const h of harvesters) await h.close();
    // They reconnect forever otherwise, and the test process would never exit.
    for (const nc of conns) await nc.close();
    for (const s of servers) await s.stop();
    await fsp.rm(work, { recursive: true, force: true });
  });

  it('token: right from a flag or PLOTFERRY_NATS_TOKEN; wrong fails at once', async () => {
    const s = await server(['--auth', 'farm-secret']);
    // Let in: no harvester runs here, so status exits 3 ("no harvester answered"), not 1.
    const ok = await runCli(['status', '--nats', s.url, '--nats-token', 'farm-secret', '--wait', '0.2', '--json']);
    assert.equal(ok.code, 3, ok.stderr);
    const env = await runCli(['status', '--nats', s.url, '--wait', '0.2'], { PLOTFERRY_NATS_TOKEN: 'farm-secret' });
    assert.equal(env.code, 3, env.stderr);
    assert.match(env.stderr, /no harvester answered within 0\.2 s/);
    const t0 = Date.now();
    assertAuthFailed(await runCli(['status', '--nats', s.url, '--nats-token', 'guess', '--wait', '0.2']));
    // None given: not "refused our credentials" (a farmer's trial), but what to set.
    const none = await runCli(['status', '--nats', s.url, '--wait', '0.2']);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /PF_NATS_AUTH: NATS at \S+ requires a login and none was given .*PLOTFERRY_NATS_TOKEN/);
    assert.ok(Date.now() - t0 < 8_000, 'no retry loop');
  });

  it('user and password: a harvester from --config, send from flags; a wrong password stops the harvester', async () => {
    const s = await server(['--user', 'farm', '--pass', 'hunter2']);
    const d = await tmpDir('pf-hup-', work);
    const conf = path.join(work, 'harvester.json');
    fs.writeFileSync(conf, JSON.stringify({ 'nats-user': 'farm', 'nats-pass': 'hunter2', dir: [d] }));
    const h = startCli([
      'harvester',
      '--config',
      conf,
      '--nats',
      s.url,
      '--id',
      'h-up',
      '--host',
      '127.0.0.1',
      '--listen-host',
      '127.0.0.1',
    ]);
    try {
      await waitFor(() => h.stderr().includes('harvester ready'), 10_000, 'the harvester to log in');
      const file = path.join(work, 'up.plot');
      writePlot(file, 300_000);
      const r = await runCli([
        'send',
        '--nats',
        s.url,
        '--nats-user',
        'farm',
        '--nats-pass',
        'hunter2',
        '--json',
        file,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(jsonLines(r.stdout)[0]?.harvester, 'h-up');
      assert.equal(await sha256(path.join(d, 'up.plot')), await sha256(file));
    } finally {
      h.child.kill('SIGTERM');
      await h.done;
    }
    const bad = await runCli(['harvester', '--nats', s.url, '--nats-user', 'farm', '--nats-pass', 'nope', '--dir', d]);
    assertAuthFailed(bad);
    // In the URL, as the nats CLI takes it: it logs in (it was refused), and no password is shown.
    const inUrl = s.url.replace('nats://', 'nats://farm:hunter2@');
    const ok = await runCli(['status', '--nats', inUrl, '--wait', '0.2']);
    assert.equal(ok.code, 3, ok.stderr);
    const wrong = await runCli([
      'status',
      '--nats',
      s.url.replace('nats://', 'nats://farm:s3cret-guess@'),
      '--wait',
      '0.2',
    ]);
    assertAuthFailed(wrong);
    assert.doesNotMatch(wrong.stderr, /s3cret-guess/);
  });

  it('.creds (operator mode): sweep delivers; creds from an unknown account fail', async () => {
    const c = makeCreds(await tmpDir('pf-creds-', work));
    const s = await server(['-c', c.conf]);
    const d = await harvester(s.url, 'h-creds', { creds: c.creds });
    const plots = await tmpDir('pf-plots-', work);
    writePlot(path.join(plots, 'cr.plot'), 200_000);
    const sum = await sha256(path.join(plots, 'cr.plot'));
    const r = await runCli(['sweep', '--nats', s.url, '--nats-creds', c.creds, '--min-age', '0', '--json', plots]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256(path.join(d, 'cr.plot')), sum);
    assertAuthFailed(await runCli(['sweep', '--nats', s.url, '--nats-creds', c.otherCreds, '--min-age', '0', plots]));
  });

  it('TLS with client certificates: speedtest --nats gets through; without a certificate it says what to pass', async () => {
    const t = makeTls(await tmpDir('pf-tls-', work));
    const s = await server(['--tlsverify', '--tlscert', t.serverCert, '--tlskey', t.serverKey, '--tlscacert', t.ca]);
    await harvester(s.url, 'h-tls', { ca: t.ca, cert: t.clientCert, key: t.clientKey });
    const tls = ['--nats-ca', t.ca, '--nats-cert', t.clientCert, '--nats-key', t.clientKey];
    const r = await runCli(['speedtest', '--nats', s.url, ...tls, '--seconds', '0.2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonLines(r.stdout)[0]?.harvester, 'h-tls');
    const noCert = await runCli(['status', '--nats', s.url, '--nats-ca', t.ca, '--wait', '0.2']);
    // The server drops the handshake: to the client it looks like NATS out of reach (3), and the
    // message says what to pass.
    assert.equal(noCert.code, 3);
    assert.match(noCert.stderr, /PF_CONNECTION: .*--nats-cert and --nats-key/);
    const noCa = await runCli(['status', '--nats', s.url, '--wait', '0.2']);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /PF_CONNECTION: TLS .*--nats-ca/);
  });

  it('options that cannot work are config errors before connecting', () => {
    const bad = (a: NatsAuth, re: RegExp) =>
      assert.throws(
        () => natsConnectionOptions('nats://x:4222', a),
        (e: unknown) => e instanceof PlotferryError && e.code === 'PF_CONFIG' && re.test(e.message),
      );
    bad({ user: 'u' }, /--nats-user needs --nats-pass/);
    bad({ pass: 'p' }, /--nats-pass needs --nats-user/);
    bad({ token: 't', user: 'u', pass: 'p' }, /one way to log in/);
    bad({ cert: '/etc/hostname' }, /go together/);
    bad({ creds: path.join(work, 'missing.creds') }, /--nats-creds .*ENOENT/);
    bad({ ca: path.join(work, 'missing.pem') }, /--nats-ca .*ENOENT/);
    assert.deepEqual(natsConnectionOptions('tls://x:4222', {}).tls, {}, 'a tls:// URL turns TLS on');
  });

  it('a login in the --nats URL becomes the login, and leaves the URL', () => {
    assert.deepEqual(loginInUrl('nats://bob:p%40ss:w@n1:4222,nats://bob:p%40ss:w@n2:4222'), {
      url: 'nats://n1:4222,nats://n2:4222',
      auth: { user: 'bob', pass: 'p@ss:w' },
    });
    assert.deepEqual(loginInUrl('tok3n@n1:4222'), { url: 'n1:4222', auth: { token: 'tok3n' } });
    assert.deepEqual(loginInUrl('nats://n1:4222', { token: 't' }), { url: 'nats://n1:4222', auth: { token: 't' } });
    const refused = (re: RegExp) => (e: unknown) =>
      e instanceof PlotferryError && e.code === 'PF_CONFIG' && re.test(e.message);
    assert.throws(() => loginInUrl('nats://a:b@n1', { token: 't' }), refused(/give it one way/));
    assert.throws(() => loginInUrl('nats://a:b@n1,nats://c:d@n2'), refused(/different logins/));
  });
});
