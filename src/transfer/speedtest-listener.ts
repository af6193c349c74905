/**
 * A harvester's answer to `plotferry speedtest --nats`: a TCP listener opened for one speedtest
 * of `streams` connections, with a one-time token. It takes speedtests only (a file is refused),
 * each within the budget of the seconds asked for, and writes nothing. It closes once every
 * stream has ended, when nobody came within `ttlMs`, or at a hard limit past the test's length;
 * a wrong token does not use up a stream.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { PlotferryError } from '../core/errors.js';
import { createReceiverServer } from './receive/intake.js';
import { serveConnection } from './receive/serve-sessions.js';
import { listenInRange } from './oneshot.js';
import { ReceiveSession } from './receive/session.js';
import { speedtestBudget } from './speedtest-sender.js';
import type { AuthThrottle } from './throttle.js';

export interface SpeedtestListenerOptions {
  token: string;
  seconds: number;
  streams: number;
  host: string;
  portRange: [number, number];
  /** How long the sender has to connect its streams. */
  ttlMs: number;
  /** The harvester's, shared by all its listeners. */
  throttle?: AuthThrottle;
  log: Logger;
}

export interface SpeedtestListenerOutcome {
  streams: number;
  bytes: number;
  /** Why it closed: every stream ended, nobody came in time, or the hard limit / shutdown. */
  reason: 'done' | 'expired' | 'aborted';
}

/** Slack past the test's own length before streams still open are cut. */
const OVERRUN_MS = 30_000;

export class SpeedtestListener {
  readonly done: Promise<SpeedtestListenerOutcome>;
  private resolve!: (o: SpeedtestListenerOutcome) => void;
  private readonly sessions = new Set<ReceiveSession>();
  private ended = 0;
  private bytes = 0;
  private finished = false;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Kept after the listener closes, for logs. */
  readonly port: number;

  private constructor(
    private readonly server: net.Server,
    private readonly opts: SpeedtestListenerOptions,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
    this.port = (server.address() as net.AddressInfo).port;
  }

  static async open(opts: SpeedtestListenerOptions): Promise<SpeedtestListener> {
    const server = createReceiverServer();
    await listenInRange(server, opts.host, opts.portRange);
    const l = new SpeedtestListener(server, opts);
    server.on('connection', (s) => l.onConnection(s));
    server.on('error', (err) => opts.log.error({ err }, 'speedtest listener error'));
    l.timers.push(
      setTimeout(() => l.ended === 0 && l.sessions.size === 0 && l.finish('expired'), opts.ttlMs),
      setTimeout(() => l.finish('aborted'), opts.ttlMs + opts.seconds * 1000 + OVERRUN_MS),
    );
    return l;
  }

  private onConnection(accepted: net.Socket): void {
    // Never more connections at once than the streams asked for.
    if (this.finished || this.sessions.size + this.ended >= this.opts.streams) return void accepted.destroy();
    const { session } = serveConnection(
      accepted,
      {
        token: this.opts.token,
        log: this.opts.log,
        inflightNames: new Set(),
        headerTimeoutMs: 10_000,
        idleTimeoutMs: 30_000,
        isShuttingDown: () => this.finished,
        speedtest: speedtestBudget(this.opts.seconds),
        throttle: this.opts.throttle,
        place: () =>
          Promise.reject(new PlotferryError('PF_REFUSED', 'this listener was opened for a speedtest, not a file')),
      },
      this.sessions,
    );
    // void: outcome never rejects (a failed transfer resolves with ok: false).
    void session.outcome.then((o) => {
      // A wrong token, or a connect-and-close, does not use up a stream.
      if (!o.ok && (o.quiet || o.error.code === 'PF_AUTH')) return;
      this.ended++;
      if (o.ok) this.bytes += o.bytes;
      if (this.ended >= this.opts.streams) this.finish('done');
    });
  }

  private finish(reason: SpeedtestListenerOutcome['reason']): void {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers) clearTimeout(t);
    this.server.close();
    for (const s of this.sessions) s.abort();
    this.resolve({ streams: this.ended, bytes: this.bytes, reason });
  }

  /** Ends the test now (shutdown). */
  abort(): void {
    this.finish('aborted');
  }
}
