/**
 * The client side of one plotferry connection: the socket, the frames the receiver sends back,
 * and failure made awaitable (an ERROR while streaming, a reset, silence, an abort signal all
 * reject whatever is being awaited). Used by `send` and `speedtest`.
 */
import net from 'node:net';
import { fromSystemError, PlotferryError } from '../core/errors.js';
import { StreamReader } from '../wire/frame.js';
import { decodeMessage, Message, remoteError } from '../wire/wire-messages.js';

export interface ConnectOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  /** Longest silence while streaming. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

/** The error for an answer that is not the one due (the receiver's ERROR keeps its code). */
export function unexpected(m: Message, wanted: string): PlotferryError {
  if (m.type === 'error') return remoteError(m);
  return new PlotferryError('PF_PROTOCOL', `expected ${wanted} from the receiver, got ${m.type.toUpperCase()}`);
}

/** A client socket plus the frames the receiver sends back, with failure made awaitable. */
export class Connection {
  private readonly reader = new StreamReader();
  private readonly messages: Message[] = [];
  private failure?: PlotferryError;
  private wake?: () => void;
  private failWaiters = new Set<(e: PlotferryError) => void>();

  private constructor(
    private readonly socket: net.Socket,
    private readonly opts: ConnectOptions,
  ) {
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      try {
        for (let f = this.reader.readFrame(); f; f = this.reader.readFrame()) {
          const m = decodeMessage(f);
          // An ERROR while we stream means stop now.
          if (m.type === 'error') this.fail(remoteError(m));
          // PROGRESS only says the receiver is alive (re-hashing a partial copy): receiving it
          // is what keeps the idle timer from firing.
          else if (m.type !== 'progress') this.messages.push(m);
        }
      } catch (err) {
        this.fail(err as PlotferryError);
      }
      this.wake?.();
    });
    socket.on('error', (err) =>
      this.fail(fromSystemError(err, `connection to ${opts.host}:${opts.port}`, 'PF_CONNECTION')),
    );
    socket.on('close', () => this.fail(new PlotferryError('PF_CONNECTION', `the receiver closed the connection`)));
    socket.on('timeout', () =>
      this.fail(new PlotferryError('PF_TIMEOUT', `no progress for ${opts.idleTimeoutMs ?? 60_000} ms`)),
    );
    // One listener per connection on a signal shared by every file of a run: removed at close(),
    // or fifteen files in one `send` print MaxListenersExceededWarning (and cron mails it).
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = () => this.fail(new PlotferryError('PF_ABORTED', 'aborted'));

  static open(opts: ConnectOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new PlotferryError('PF_ABORTED', 'aborted'));
      const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new PlotferryError(
            'PF_TIMEOUT',
            `could not connect to ${opts.host}:${opts.port} within ${opts.connectTimeoutMs ?? 10_000} ms`,
          ),
        );
      }, opts.connectTimeoutMs ?? 10_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(fromSystemError(err, `connecting to ${opts.host}:${opts.port}`, 'PF_CONNECTION'));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setKeepAlive(true, 30_000);
        socket.setTimeout(opts.idleTimeoutMs ?? 60_000);
        resolve(new Connection(socket, opts));
      });
    });
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  write(buf: Buffer, done: () => void): void {
    this.socket.write(buf, done);
  }

  /** Half-closes: nothing more comes from this end; answers still arrive. */
  end(): void {
    this.socket.end();
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Resolves with `p`, or rejects as soon as the connection fails. */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const onFail = (e: PlotferryError) => reject(e);
      this.failWaiters.add(onFail);
      p.then(
        (v) => {
          this.failWaiters.delete(onFail);
          resolve(v);
        },
        (e: unknown) => {
          this.failWaiters.delete(onFail);
          reject(e);
        },
      );
    });
  }

  async nextMessage(timeoutMs: number, what: string): Promise<Message> {
    this.socket.setTimeout(0);
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const m = this.messages.shift();
        if (m) return m;
        this.throwIfFailed();
        const left = deadline - Date.now();
        if (left <= 0)
          throw new PlotferryError(
            'PF_TIMEOUT',
            `no answer from the receiver within ${timeoutMs} ms (waiting for ${what})`,
          );
        let timer: NodeJS.Timeout | undefined;
        await this.race(
          new Promise<void>((r) => {
            this.wake = r;
            timer = setTimeout(r, left);
          }),
        ).finally(() => clearTimeout(timer));
      }
    } finally {
      this.socket.setTimeout(this.opts.idleTimeoutMs ?? 60_000);
    }
  }

  private fail(err: PlotferryError): void {
    // A RESULT already in hand wins over the close that follows it.
    if (this.failure) return;
    if (err.code === 'PF_CONNECTION' && this.messages.some((m) => m.type === 'result')) return;
    this.failure = err;
    for (const w of this.failWaiters) w(err);
    this.failWaiters.clear();
    this.wake?.();
  }

  close(): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }
}
