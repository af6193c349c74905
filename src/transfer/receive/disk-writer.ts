/**
 * Ordered positional writes of one received file, and where they run.
 *
 * One write at a time, in file order: writes to one file serialize on its inode lock anyway,
 * and parallel ones only spun on it (4% of the receiver's CPU in a perf profile on tmpfs).
 *
 * Where: a write on the event loop (writeSync) costs this end less CPU than one on the libuv
 * thread pool, because the bytes the socket read just brought into this core's cache are copied
 * to the page cache by the same core. Measured on loopback to tmpfs (2 GiB, 4 paired runs):
 * 1.76-1.97 against 2.14-2.31 CPU-s per transfer (-17%), ~+10% MB/s. But a write that blocks
 * (dirty-page throttling on a slow disk, or a disk that hangs) would then stall every other
 * transfer and a harvester's NATS client. So writes run on the loop only while this file is the
 * only one being written in the process and no such write has taken SLOW_WRITE_MS or more; once
 * either fails, they go to the thread pool for the rest of the file. site() says which.
 */
import type { Logger } from 'pino';
import { writeAll, writeAllSync } from '../../storage/fsio.js';

/**
 * A write on the event loop slower than this sends the rest of the file to the thread pool: the
 * disk stalls or throttles us hard. Not lower: on 2 busy cores a 1 MiB write to tmpfs that is
 * preempted took over 20 ms in 5 of 7 transfers, and each then lost the loop writes' gain.
 */
const SLOW_WRITE_MS = 100;

export type WriteSite = 'loop' | 'pool' | 'both';

/** Files of this process being written now (an event loop is per process): loop writes need 1. */
let activeFiles = 0;

export class DiskWriter {
  /** Bytes whose writes completed, in file order from the start (counting a resumed prefix). */
  durable: number;
  private readonly queue: { buf: Buffer; len: number; pos: number }[] = [];
  private writing = false;
  private idle?: () => void;
  private active = false;
  private stopped = false;
  private slowDisk = false;
  private loopWrites = 0;
  private poolWrites = 0;

  /**
   * `done(buf, err)` gets each buffer back once its write completed (or was dropped after
   * stop(), with err null); `err` is the write's failure, after which nothing more is written.
   */
  constructor(
    private readonly fd: number,
    startAt: number,
    private readonly log: Logger,
    private readonly done: (buf: Buffer, err: NodeJS.ErrnoException | null) => void,
  ) {
    this.durable = startAt;
    this.active = true;
    activeFiles++;
  }

  /** Writes `len` bytes of `buf` at `pos`, after everything handed over before. */
  write(buf: Buffer, len: number, pos: number): void {
    this.queue.push({ buf, len, pos });
    this.next();
  }

  /** Buffers handed over and not yet written: the queue plus the one being written. */
  get inFlight(): number {
    return this.queue.length + (this.writing ? 1 : 0);
  }

  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => {
      this.idle = () => {
        this.idle = undefined;
        r();
      };
    });
  }

  /** The transfer is over: what is queued is dropped when the write under way completes. */
  stop(): void {
    this.stopped = true;
  }

  /** Leaves the count of files being written (at the transfer's outcome). Idempotent. */
  close(): void {
    if (!this.active) return;
    this.active = false;
    activeFiles--;
  }

  site(): WriteSite | undefined {
    if (this.loopWrites + this.poolWrites === 0) return undefined;
    return this.poolWrites === 0 ? 'loop' : this.loopWrites === 0 ? 'pool' : 'both';
  }

  private next(): void {
    if (this.writing) return;
    const w = this.queue.shift();
    if (!w) return;
    this.writing = true;
    const finished = (err: NodeJS.ErrnoException | null) => {
      this.writing = false;
      if (!err) this.durable += w.len;
      this.done(w.buf, err);
      if (err || this.stopped) {
        // Drop what is queued: the transfer is over.
        for (const q of this.queue.splice(0)) this.done(q.buf, null);
      } else {
        this.next();
      }
      if (this.inFlight === 0) this.idle?.();
    };
    if (!this.slowDisk && activeFiles === 1) {
      this.loopWrites++;
      const t0 = process.hrtime.bigint();
      const err = writeAllSync(this.fd, w.buf, w.len, w.pos);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ms > SLOW_WRITE_MS) {
        this.slowDisk = true;
        this.log.debug({ ms: Math.round(ms) }, 'a write took long: the rest go to the thread pool');
      }
      // As a pool write would: the caller finishes what it was doing before the completion runs.
      queueMicrotask(() => finished(err));
    } else {
      this.poolWrites++;
      writeAll(this.fd, w.buf, w.len, w.pos, finished);
    }
  }
}
