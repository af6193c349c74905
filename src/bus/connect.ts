/**
 * One NATS connection per process: credentials and TLS for real deployments, reconnects
 * forever once connected, logs its state changes, clear errors. A refused credential fails at
 * once (PF_NATS_AUTH), never as a silent retry loop.
 */
import fs from 'node:fs';
import { connect, ConnectionOptions, credsAuthenticator, Events, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { PlotferryError } from '../core/errors.js';
import { abortableSleep } from '../core/sleep.js';
import { isAuthFailure, isTlsFailure } from './nats-errors.js';
import { markLinkDown, markLinkUp } from './link.js';
import { natsDown, natsUp } from './nats-reach.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** How to prove who we are to NATS, and how to trust it (every field optional). */
export interface NatsAuth {
  token?: string;
  user?: string;
  pass?: string;
  /** A .creds file: a user JWT and its nkey seed (decentralized auth). */
  creds?: string;
  /** CA certificate (PEM) that signed the server's certificate. */
  ca?: string;
  /** Client certificate and key (PEM), for servers that verify clients. */
  cert?: string;
  key?: string;
}

/** Turns NatsAuth into nats.js options; a missing half or an unreadable file is PF_CONFIG. */
export function natsConnectionOptions(url: string, auth: NatsAuth = {}): Partial<ConnectionOptions> {
  const o: Partial<ConnectionOptions> = {};
  const ways = [auth.token && '--nats-token', auth.user && '--nats-user', auth.creds && '--nats-creds'].filter(Boolean);
  if (ways.length > 1)
    throw new PlotferryError('PF_CONFIG', `give one way to log in to NATS, not ${ways.join(' and ')}`);
  if (auth.pass && !auth.user) throw new PlotferryError('PF_CONFIG', '--nats-pass needs --nats-user');
  if (auth.user && !auth.pass) throw new PlotferryError('PF_CONFIG', '--nats-user needs --nats-pass');
  if (!!auth.cert !== !!auth.key)
    throw new PlotferryError('PF_CONFIG', '--nats-cert and --nats-key go together (a client certificate and its key)');
  const readable = (file: string, flag: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new PlotferryError(
        'PF_CONFIG',
        `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  if (auth.token) o.token = auth.token;
  if (auth.user) Object.assign(o, { user: auth.user, pass: auth.pass });
  if (auth.creds) o.authenticator = credsAuthenticator(new Uint8Array(readable(auth.creds, '--nats-creds')));
  if (auth.ca || auth.cert || /^tls:\/\//i.test(url)) {
    for (const [f, flag] of [
      [auth.ca, '--nats-ca'],
      [auth.cert, '--nats-cert'],
      [auth.key, '--nats-key'],
    ] as const)
      if (f) readable(f, flag);
    o.tls = {
      ...(auth.ca ? { caFile: auth.ca } : {}),
      ...(auth.cert ? { certFile: auth.cert, keyFile: auth.key } : {}),
    };
  }
  return o;
}

/**
 * `--nats a,b,c` (as `nats` CLI users write it) as the server list it is: nats.js took the
 * whole string as one URL, so only one server was ever tried. Empty entries are refused.
 */
export function natsServers(url: string): string[] {
  const list = url.split(',').map((u) => u.trim());
  list.forEach((u, i) => {
    // nats://host:port, tls://, ws://, wss://, or host[:port]; user:pass@ allowed.
    if (!/^(?:(?:nats|tls|wss?):\/\/)?(?:[^@/\s]+@)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?\/?$/.test(u))
      throw new PlotferryError(
        'PF_CONFIG',
        `--nats: entry ${i + 1} of ${list.length}, "${u}", is not a NATS server URL (examples: nats://n1:4222, tls://n1:4222, n1:4222); give one URL or a comma-separated list`,
      );
  });
  return list;
}

/**
 * `nats://user:pass@host` or `nats://token@host`, as the `nats` CLI takes them: the login as
 * NatsAuth, and the list without it (nats.js did not log in with it), so that no message or log
 * line shows a password. A login given both ways is PF_CONFIG.
 */
export function loginInUrl(url: string, auth: NatsAuth = {}): { url: string; auth: NatsAuth } {
  let found: NatsAuth | undefined;
  const bare = url.replace(
    /(^|,\s*)((?:[a-z]+:\/\/)?)([^@/,\s]+)@/gi,
    (_, sep: string, scheme: string, who: string) => {
      const [user, ...pass] = who.split(':').map(decodeURIComponent);
      const one: NatsAuth = pass.length ? { user: user!, pass: pass.join(':') } : { token: user! };
      if (found && JSON.stringify(found) !== JSON.stringify(one))
        throw new PlotferryError('PF_CONFIG', '--nats: the servers of one list carry different logins; give one login');
      found = one;
      return `${sep}${scheme}`;
    },
  );
  if (!found) return { url, auth };
  if (auth.token || auth.user || auth.creds)
    throw new PlotferryError(
      'PF_CONFIG',
      'a login both in the --nats URL and in --nats-token/--nats-user/--nats-creds: give it one way (the options keep it out of `ps` and logs)',
    );
  return { url: bare, auth: { ...auth, ...found } };
}

export async function connectNats(
  given: string,
  name: string,
  log: Logger,
  givenAuth: NatsAuth = {},
): Promise<NatsConnection> {
  const { url, auth } = loginInUrl(given, givenAuth);
  const options = natsConnectionOptions(url, auth);
  // A value that is not a server list is the farmer's to fix (PF_CONFIG, exit 2), not a server
  // that is down: checked outside the try, so no daemon retries it for ever.
  const servers = natsServers(url);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      // Any live one of the list, in random order, and the others on failover.
      noRandomize: false,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      timeout: 5_000,
      ...options,
    });
  } catch (err) {
    const loggedIn = !!(auth.token || auth.user || auth.creds || (auth.cert && auth.key));
    throw connectError(url, err, options.tls !== undefined && !auth.cert, loggedIn);
  }
  natsUp();
  void (async () => {
    for await (const s of nc.status()) {
      // nats gives the server's address as data for these two, a string.
      const server = typeof s.data === 'string' ? s.data : JSON.stringify(s.data);
      if (s.type === Events.Disconnect) {
        markLinkDown(nc, server);
        natsDown(server);
        log.warn({ server }, 'NATS disconnected; running transfers go on, reconnecting');
      } else if (s.type === Events.Reconnect) {
        markLinkUp(nc);
        natsUp();
        log.info({ server }, 'NATS reconnected');
      } else if (s.type === Events.Error) log.error({ err: s.data }, 'NATS error');
    }
  })();
  return nc;
}

/**
 * connectNats() for daemons: while NATS cannot be reached (it boots later, or is restarting) it
 * keeps trying, with a log line each time and a back-off from 1 s up to 30 s, instead of exiting
 * and leaving a unit that systemd gave up restarting. A refused login or a bad option still fails
 * at once: retrying cannot fix those. Resolves undefined when `signal` aborts first.
 */
export async function connectNatsRetrying(
  url: string,
  name: string,
  log: Logger,
  auth: NatsAuth = {},
  signal?: AbortSignal,
  firstDelayMs = 1_000,
): Promise<NatsConnection | undefined> {
  for (let attempt = 1, delay = firstDelayMs; !signal?.aborted; attempt++, delay = Math.min(30_000, delay * 2)) {
    try {
      const nc = await connectNats(url, name, log, auth);
      if (attempt > 1) log.info({ url: loginInUrl(url, {}).url, attempts: attempt }, 'NATS reachable now');
      return nc;
    } catch (err) {
      if (!(err instanceof PlotferryError) || err.code !== 'PF_CONNECTION') throw err;
      natsDown(loginInUrl(url, {}).url);
      log.warn(
        { url: loginInUrl(url, {}).url, attempt, retryInMs: delay },
        `${err.message}; trying again in ${Math.round(delay / 1000)} s`,
      );
      await abortableSleep(delay, signal);
    }
  }
  return undefined;
}

const UNREACHABLE = 'cannot reach NATS';

/**
 * Whether `err` is connectNats()'s "NATS out of reach" (nothing answered), not a refused login or
 * a TLS setup that fails (also PF_CONNECTION, but settings to fix): `status` exits 3 for it.
 */
export function natsUnreachable(err: unknown): boolean {
  return err instanceof PlotferryError && err.code === 'PF_CONNECTION' && err.message.startsWith(UNREACHABLE);
}

function connectError(url: string, err: unknown, tlsWithoutCert: boolean, loggedIn: boolean): PlotferryError {
  const msg = (err as Error).message;
  if (isAuthFailure(err))
    return new PlotferryError(
      'PF_NATS_AUTH',
      loggedIn
        ? `NATS at ${url} refused our credentials: authorization failed (${msg})`
        : `NATS at ${url} requires a login and none was given (${msg}): set PLOTFERRY_NATS_TOKEN or --nats-token, --nats-user/--nats-pass, or --nats-creds, as the server's config says`,
      { cause: err },
    );
  if (isTlsFailure(err))
    return new PlotferryError(
      'PF_CONNECTION',
      `TLS with NATS at ${url} failed (${msg}): check --nats-ca (the CA that signed the server's certificate) and, where the server verifies clients, --nats-cert and --nats-key`,
      { cause: err },
    );
  // A server that verifies clients drops a TLS handshake without a certificate: we only see a timeout.
  const tlsHint = tlsWithoutCert ? '; or, if the server verifies TLS clients, pass --nats-cert and --nats-key' : '';
  return new PlotferryError(
    'PF_CONNECTION',
    `${UNREACHABLE} at ${url} (${msg}): is nats-server running there? (Debian: apt-get install nats-server)${tlsHint}`,
    { cause: err },
  );
}
