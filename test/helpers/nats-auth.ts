/**
 * Credentials for tests of NATS login: an operator-mode server config with a .creds file
 * (JWTs signed with nkeys, as `nsc` makes them), and a TLS CA with server and client
 * certificates made by openssl. Written into `dir`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { nkeys } from 'nats';

/** The part of nkeys.js used here (nkeys.d.ts); nats re-exports the module typed `any`. */
interface KeyPair {
  getPublicKey(): string;
  getSeed(): Uint8Array;
  sign(input: Uint8Array): Uint8Array;
}
const keys = nkeys as { createOperator(): KeyPair; createAccount(): KeyPair; createUser(): KeyPair };
const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

function signJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims = { iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats };
  const jti = createHash('sha256').update(JSON.stringify(claims)).digest('hex').slice(0, 52).toUpperCase();
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const body = b64url(JSON.stringify({ jti, ...claims }));
  const sig = b64url(issuer.sign(Buffer.from(`${head}.${body}`)));
  return `${head}.${body}.${sig}`;
}

/** Writes `server.conf` (operator mode, memory resolver) and `user.creds`; returns their paths. */
export function makeCreds(dir: string): { conf: string; creds: string; otherCreds: string } {
  const op = keys.createOperator();
  const acct = keys.createAccount();
  const opPub = op.getPublicKey();
  const acctPub = acct.getPublicKey();
  const opJwt = signJwt(op, opPub, 'farm-op', { type: 'operator', version: 2 });
  const acctJwt = signJwt(op, acctPub, 'farm', {
    type: 'account',
    version: 2,
    limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 },
    default_permissions: { pub: {}, sub: {} },
  });
  const creds = (signer: KeyPair, file: string) => {
    const user = keys.createUser();
    const userJwt = signJwt(signer, user.getPublicKey(), 'plotter', {
      type: 'user',
      version: 2,
      pub: {},
      sub: {},
      subs: -1,
      data: -1,
      payload: -1,
    });
    fs.writeFileSync(
      file,
      `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n` +
        `-----BEGIN USER NKEY SEED-----\n${text(user.getSeed())}\n------END USER NKEY SEED------\n`,
      { mode: 0o600 },
    );
    return file;
  };
  const opFile = path.join(dir, 'op.jwt');
  fs.writeFileSync(opFile, opJwt);
  const conf = path.join(dir, 'server.conf');
  fs.writeFileSync(
    conf,
    `operator: "${opFile}"\nresolver: MEMORY\nresolver_preload: {\n  ${acctPub}: "${acctJwt}"\n}\n`,
  );
  return {
    conf,
    creds: creds(acct, path.join(dir, 'user.creds')),
    // Signed by an account the server does not know.
    otherCreds: creds(keys.createAccount(), path.join(dir, 'stranger.creds')),
  };
}

/** A CA, a server certificate for 127.0.0.1, and a client certificate, all PEM. */
export function makeTls(dir: string) {
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=plotferry-test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  const leaf = (name: string, ext: string) => {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    );
    fs.writeFileSync(f(`${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.pem`),
    );
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}
