/**
 * `plotferry listen`: a long-running TCP receiver over a set of directories. Each connection
 * is one ReceiveSession; a failed transfer is answered and cleaned up, and the listener keeps
 * serving. close() stops accepting, lets running transfers finish within a grace period, then
 * aborts the rest (their temporary files are removed).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from 'pino';
import type { ReplotSettings } from '../storage/replot.js';
import { setDiskSource } from '../core/metrics.js';
import { fromSystemError, PlotferryError } from '../core/errors.js';
import { diskFigures, type DiskSet } from '../storage/disks.js';
import { assertNameFree } from '../storage/held.js';
import { DEFAULT_PARTIAL_TTL_MS, findPartial, startPartialExpiry } from '../storage/partials.js';
import { prepareDirs, receiverDisks } from '../storage/housekeeping.js';
import { watchUsable } from '../storage/usable-alarm.js';
import { notifyDiskEvent } from './disk-notices.js';
import { drainWithin } from './drain.js';
import { createReceiverServer, IntakeMode } from './receive/intake.js';
import { serveConnection } from './receive/serve-sessions.js';
import { ReceiveOutcome, ReceiveSession } from './receive/session.js';
import { AuthThrottle, ThrottleOptions } from './throttle.js';

export const DEFAULT_PORT = 8740;

export interface ListenerOptions {
  dirs: readonly string[];
  /** --replot: PoS1 plots give way to incoming plots (storage/replot.ts). */
  replot?: ReplotSettings;
  token: string;
  host?: string;
  port?: number;
  reserveBytes?: number;
  requireMount?: boolean;
  /** Use --dir directories on the root filesystem (storage/disks.ts; off: skipped until mounted). */
  allowRootFs?: boolean;
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Read straight into the transfer's buffers where Node allows it (default true). */
  userBuffers?: boolean;
  /** Receive pool per transfer: buffer size and count. */
  bufferSize?: number;
  buffers?: number;
  /** Refuse files that do not start like a Chia plot (PF_NOT_A_PLOT). */
  verifyPlotHeader?: boolean;
  /** Write-behind step in bytes (0: none; absent: DEFAULT_FLUSH_EVERY; receive/disk-writer.ts). */
  flushEvery?: number;
  /** Keep a broken transfer's good bytes this long for a resume (default 1 h; 0: never). */
  partialTtlMs?: number;
  /** Wrong-token throttling (defaults: 5 in 60 s blocks the address for 30 s, doubling). */
  authThrottle?: ThrottleOptions;
  log: Logger;
}

export interface ListenerEvents {
  transfer: [ReceiveOutcome];
}

export class Listener extends EventEmitter<ListenerEvents> {
  readonly disks: DiskSet;
  private readonly server: net.Server;
  private readonly sessions = new Set<ReceiveSession>();
  private readonly inflightNames = new Set<string>();
  private closing = false;
  private readonly throttle: AuthThrottle;
  private stopExpiry?: () => void;
  private stopAlarm?: () => Promise<void>;
  /** How the last connection was read (for logs and tests). */
  intakeMode?: IntakeMode;

  private constructor(private readonly opts: ListenerOptions) {
    super();
    if (!opts.token) {
      throw new PlotferryError(
        'PF_CONFIG',
        'a token is required: pass --token T (the same on the sender) or set PLOTFERRY_TOKEN; make one with `openssl rand -hex 16`',
      );
    }
    this.throttle = new AuthThrottle(opts.authThrottle);
    this.disks = receiverDisks('listen', opts.dirs, { ...opts, onEvent: notifyDiskEvent });
    this.server = createReceiverServer((s) => this.onConnection(s));
  }

  private get partialTtlMs(): number {
    return this.opts.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
  }

  static async start(opts: ListenerOptions): Promise<Listener> {
    const l = new Listener(opts);
    try {
      await l.listen();
    } catch (err) {
      l.stopExpiry?.();
      await l.stopAlarm?.();
      await l.disks.close();
      throw err;
    }
    const a = l.address();
    opts.log.info({ host: a.host, port: a.port, dirs: l.disks.dirs }, 'listening');
    return l;
  }

  private async listen(): Promise<void> {
    const { opts } = this;
    await prepareDirs(this.disks, opts.log);
    setDiskSource(async () => (await this.disks.snapshot()).map(diskFigures));
    this.stopExpiry = startPartialExpiry(() => this.disks.ownedDirs, this.partialTtlMs, opts.log);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) =>
        reject(
          fromSystemError(err, `listening on ${opts.host ?? '0.0.0.0'}:${opts.port ?? DEFAULT_PORT}`, 'PF_CONFIG'),
        );
      this.server.once('error', onError);
      this.server.listen(opts.port ?? DEFAULT_PORT, opts.host ?? '0.0.0.0', () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.server.on('error', (err) => opts.log.error({ err }, 'listener socket error'));
    // Once it serves: a listener that could not listen says nothing about its disks.
    this.stopAlarm = watchUsable(this.disks, 'listener', opts.log);
  }

  address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  get activeTransfers(): number {
    return this.sessions.size;
  }

  private onConnection(accepted: net.Socket): void {
    const { session, mode } = serveConnection(
      accepted,
      {
        place: async (name, size, resume, probe) => {
          await assertNameFree(this.disks.dirs, name, probe);
          // A partial copy pins the file to its disk, which needs room for the rest only.
          const partial = resume ? await findPartial(this.disks.dirs, name, size, this.partialTtlMs) : undefined;
          return this.disks.reserveFor(size, partial);
        },
        partialTtlMs: this.partialTtlMs,
        token: this.opts.token,
        log: this.opts.log,
        inflightNames: this.inflightNames,
        headerTimeoutMs: this.opts.headerTimeoutMs ?? 10_000,
        idleTimeoutMs: this.opts.idleTimeoutMs ?? 60_000,
        bufferSize: this.opts.bufferSize,
        buffers: this.opts.buffers,
        verifyPlotHeader: this.opts.verifyPlotHeader,
        flushEvery: this.opts.flushEvery,
        throttle: this.throttle,
        isShuttingDown: () => this.closing,
      },
      this.sessions,
      this.opts.userBuffers !== false,
    );
    this.intakeMode = mode;
    // void: outcome never rejects (a failed transfer resolves with ok: false).
    void session.outcome.then((o) => {
      this.emit('transfer', o);
    });
  }

  /**
   * Stops accepting; waits up to `graceMs` for running transfers, then aborts what is left.
   * Resolves once every session has cleaned up.
   */
  async close(graceMs = 0): Promise<void> {
    this.closing = true;
    this.stopExpiry?.();
    await this.stopAlarm?.();
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    await drainWithin(
      () => [...this.sessions].map((s) => ({ done: s.outcome, abort: () => s.abort() })),
      graceMs,
      this.opts.log,
    );
    await closed;
    await this.disks.close();
  }
}
