/**
 * The receiving end of one claim: a TCP listener opened for exactly one file (name and size
 * as claimed), with a one-time token and the disk reserved at claim time. It closes after the
 * first authenticated transfer ends (whatever the outcome) or when the claim expires unused;
 * either way the reservation is released. A connection with a wrong token is refused without
 * using up the claim.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import type { PlotGroup } from '../wire/plot-header.js';
import { fromSystemError, PlotferryError } from '../core/errors.js';
import type { DiskSet, Reservation } from '../storage/disks.js';
import { assertNameFree } from '../storage/held.js';
import { createReceiverServer } from './receive/intake.js';
import { serveConnection } from './receive/serve-sessions.js';
import { ReceiveOutcome, ReceiveSession } from './receive/session.js';
import type { AuthThrottle } from './throttle.js';

export interface OneShotOptions {
  name: string;
  size: number;
  token: string;
  reservation: Reservation;
  /** The plot's group, for the disk that replaces a failed one (storage/disks.ts chooseDir). */
  group?: PlotGroup;
  /** The harvester's disks: the never-overwrite check, and another disk if the reserved one fails. */
  disks: DiskSet;
  host: string;
  /** Inclusive; [0, 0] means any free port. */
  portRange: [number, number];
  ttlMs: number;
  idleTimeoutMs?: number;
  verifyPlotHeader?: boolean;
  /** Write-behind step in bytes (0: none; absent: DEFAULT_FLUSH_EVERY; receive/disk-writer.ts). */
  flushEvery?: number;
  /** The harvester's, shared by all its listeners. */
  throttle?: AuthThrottle;
  /** Resume from (and keep) partial copies; the reservation is on the partial's disk. */
  partialTtlMs?: number;
  log: Logger;
}

export type OneShotOutcome = ReceiveOutcome | { ok: false; expired: true; bytes: 0; error: PlotferryError };

export class OneShotReceiver {
  readonly done: Promise<OneShotOutcome>;
  private resolve!: (o: OneShotOutcome) => void;
  private readonly sessions = new Set<ReceiveSession>();
  private handedOut = false;
  private finished = false;
  private ttlTimer?: NodeJS.Timeout;
  /** The claim's disk, or the one that replaced it after a failure. */
  private reservation: Reservation;

  private constructor(
    private readonly server: net.Server,
    private readonly opts: OneShotOptions,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
    this.reservation = opts.reservation;
  }

  static async open(opts: OneShotOptions): Promise<OneShotReceiver> {
    const server = createReceiverServer();
    await listenInRange(server, opts.host, opts.portRange);
    const r = new OneShotReceiver(server, opts);
    server.on('connection', (s) => r.onConnection(s));
    server.on('error', (err) => opts.log.error({ err }, 'claim listener error'));
    r.ttlTimer = setTimeout(() => {
      if (!r.handedOut)
        r.finish({
          ok: false,
          expired: true,
          bytes: 0,
          error: new PlotferryError('PF_TIMEOUT', `claim for ${opts.name} expired unused after ${opts.ttlMs} ms`),
        });
    }, opts.ttlMs);
    return r;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private onConnection(accepted: net.Socket): void {
    if (this.finished) return void accepted.destroy();
    // Whether this connection holds the claim's reservation: set synchronously, so two
    // connections can never both take it.
    let mine = false;
    const { session } = serveConnection(
      accepted,
      {
        token: this.opts.token,
        log: this.opts.log,
        inflightNames: new Set(),
        headerTimeoutMs: 10_000,
        idleTimeoutMs: this.opts.idleTimeoutMs ?? 60_000,
        isShuttingDown: () => this.finished,
        speedtest: false,
        verifyPlotHeader: this.opts.verifyPlotHeader,
        flushEvery: this.opts.flushEvery,
        throttle: this.opts.throttle,
        partialTtlMs: this.opts.partialTtlMs,
        place: async (name, size, _resume, probe) => {
          if (name !== this.opts.name || size !== this.opts.size) {
            throw new PlotferryError(
              'PF_REFUSED',
              `this listener was opened for ${this.opts.name} (${this.opts.size} bytes), not ${name} (${size} bytes)`,
            );
          }
          if (mine) {
            // The reserved disk failed before the first byte (ReceiveSession released it): any
            // other disk that has room takes the file.
            this.reservation = await this.opts.disks.reserveFor(size, undefined, this.opts.group);
            return this.reservation;
          }
          if (this.handedOut) throw new PlotferryError('PF_BUSY', 'this claim is being used by another connection');
          this.handedOut = mine = true;
          await assertNameFree(this.opts.disks.dirs, name, probe);
          return this.reservation;
        },
      },
      this.sessions,
    );
    // void: outcome never rejects (a failed transfer resolves with ok: false).
    void session.outcome.then((o) => {
      // Only the connection that held the claim ends it; a wrong token does not use it up.
      if (mine) this.finish(o);
    });
  }

  private finish(o: OneShotOutcome): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.ttlTimer);
    this.reservation.release();
    this.server.close();
    for (const s of this.sessions) s.abort();
    this.resolve(o);
  }

  /** Ends the claim now (shutdown). */
  abort(): void {
    this.finish({
      ok: false,
      expired: true,
      bytes: 0,
      error: new PlotferryError('PF_SHUTTING_DOWN', 'the harvester is shutting down'),
    });
  }
}

/** Listens on the first free port of the range (inclusive; [0, 0] is any port). */
export async function listenInRange(server: net.Server, host: string, [lo, hi]: [number, number]): Promise<void> {
  let lastErr: unknown;
  for (let port = lo; port <= hi; port++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return;
    } catch (err) {
      lastErr = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  // Every port of the range taken: whether that is a busy harvester (its own transfers hold
  // them) or one that has no port at all (another process holds them) is its caller's to say.
  if ((lastErr as NodeJS.ErrnoException)?.code === 'EADDRINUSE')
    throw new PlotferryError('PF_PORT_IN_USE', `no free port in ${lo}-${hi} on ${host}`, { cause: lastErr });
  throw fromSystemError(lastErr, `cannot listen on ${host} (ports ${lo}-${hi})`, 'PF_CONFIG');
}
