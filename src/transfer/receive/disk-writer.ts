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
 *
 * Write-behind (`flushEvery`): once that many bytes were written since the last flush, an
 * fdatasync runs on the thread pool while the writes go on, one at a time. Without it the kernel
 * starts writing a file back only at its dirty-page threshold (10% of memory: GiBs) or after
 * 30 s, so a whole 0.92 GiB plot waits in memory for the final fsync, and the disk idles while
 * the next plot arrives. Node has no sync_file_range(2), hence fdatasync. A flush's failure
 * fails the file: Linux reports a write-back error to one fsync only, so the final fsync would
 * not see it again.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { writeAll, writeAllSync } from '../../storage/fsio.js';

/**
 * A write on the event loop slower than this sends the rest of the file to the thread pool: the
 * disk stalls or throttles us hard. Not lower: on 2 busy cores a 1 MiB write to tmpfs that is
 * preempted took over 20 ms in 5 of 7 transfers, and each then lost the loop writes' gain.
 */
const SLOW_WRITE_MS = 100;

export type WriteSite = 'loop' | 'pool' | 'both';

/**
 * The receivers' default write-behind step (`--flush-every`, whose default says the same). On
 * this VM's virtio disk (ext4), 1 GiB plots one after another, 16M to 256M all moved 320-356
 * MB/s against 262-271 without (bench/results/writeback-2026-12-02.md).
 */
export const DEFAULT_FLUSH_EVERY = 64 * 1024 * 1024;

export interface DiskWriterOptions {
  /** Write-behind step in bytes (0: none; the final fsync writes the whole file back). */
  flushEvery?: number;
  /** A write-behind flush failed: the file is lost. */
  onFlushError?: (err: NodeJS.ErrnoException) => void;
}

/** Files of this process being written now (an event loop is per process): loop writes need 1. */
let activeFiles = 0;

/**
 * Write-behind flushes at once in this process: half the libuv pool. Each holds a pool thread
 * (UV_THREADPOOL_SIZE, 4 by default) until its disk has written the bytes back, up to seconds
 * on an HDD: with one per transfer, 4 transfers would leave no thread for the pool writes and
 * the bids' statfs. A file that finds no slot flushes after a later write. A harvester writing
 * to many HDDs at once can be given a larger pool (contrib/systemd/plotferry-harvester.service).
 */
export const MAX_FLUSHES = Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2));
let flushesRunning = 0;

export class DiskWriter {
  /** Bytes whose writes completed, in file order from the start (counting a resumed prefix). */
  durable: number;
  private readonly queue: { buf: Buffer; len: number; pos: number }[] = [];
  private writing = false;
  private idle: (() => void)[] = [];
  private active = false;
  private stopped = false;
  private slowDisk = false;
  private loopWrites = 0;
  private poolWrites = 0;
  /** Bytes written since the last write-behind flush started. */
  private unflushed = 0;
  private flushing = false;
  private failed = false;
  /** Write-behind flushes started. */
  flushes = 0;

  /**
   * `done(buf, err)` gets each buffer back once its write completed (or was dropped after
   * stop(), with err null); `err` is the write's failure, after which nothing more is written.
   */
  constructor(
    private readonly fd: number,
    startAt: number,
    private readonly log: Logger,
    private readonly done: (buf: Buffer, err: NodeJS.ErrnoException | null) => void,
    private readonly opts: DiskWriterOptions = {},
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

  /** Neither a write nor a write-behind flush is under way (the fd may be synced or closed). */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0 && !this.flushing) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
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

  private settled(): void {
    if (this.inFlight === 0 && !this.flushing) for (const r of this.idle.splice(0)) r();
  }

  /** Starts a write-behind flush when enough was written since the last one and none runs. */
  private flushBehind(): void {
    const every = this.opts.flushEvery ?? 0;
    if (every <= 0 || this.unflushed < every || this.flushing || this.failed || this.stopped) return;
    if (flushesRunning >= MAX_FLUSHES) return;
    flushesRunning++;
    this.flushing = true;
    this.unflushed = 0;
    this.flushes++;
    fs.fdatasync(this.fd, (err) => {
      flushesRunning--;
      this.flushing = false;
      if (err && !this.failed && !this.stopped) {
        this.failed = true;
        this.stopped = true;
        this.opts.onFlushError?.(err);
      }
      this.settled();
    });
  }

  private next(): void {
    if (this.writing) return;
    const w = this.queue.shift();
    if (!w) return;
    this.writing = true;
    const finished = (err: NodeJS.ErrnoException | null) => {
      this.writing = false;
      if (err) this.failed = true;
      else {
        this.durable += w.len;
        this.unflushed += w.len;
      }
      this.done(w.buf, err);
      if (err || this.stopped) {
        // Drop what is queued: the transfer is over.
        for (const q of this.queue.splice(0)) this.done(q.buf, null);
      } else {
        this.flushBehind();
        this.next();
      }
      this.settled();
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
