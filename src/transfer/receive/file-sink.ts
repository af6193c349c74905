/**
 * Where a received file's bytes go between the socket and the disk.
 *
 * A pool of page-aligned buffers per transfer, reused by the next one (storage/buffers.ts). Where the socket could be
 * adopted with a user read buffer (see ../intake.ts), the kernel copies socket bytes straight
 * into the free tail of the buffer being filled: no per-read allocation and no copy in user
 * space, and reads as large as that tail instead of libuv's 64 KiB (measured on loopback,
 * discarding: 2,400 MB/s with 0.6 CPU-s per 2 GiB, against 1,420 MB/s and 1.6 CPU-s with 'data'
 * events). Otherwise 'data' chunks are copied into the same pool. A full buffer is hashed whole
 * and handed to the DiskWriter while the next fills; when no spare buffer is left the socket is
 * paused, so memory is the pool whatever the file size and a slow disk slows the sender
 * through TCP.
 */
import type net from 'node:net';
import { transferBuffers } from '../../storage/buffers.js';
import type { Hasher } from '../hash.js';
import { DiskWriter } from './disk-writer.js';

/**
 * Size of one pool buffer: the unit of hashing and of one positional write. 8 x 1 MiB received
 * as fast as 5 x 4 MiB on loopback (within the noise) with a smaller peak RSS (74 vs 99 MB).
 */
export const WRITE_BATCH = 1024 * 1024;
/** Buffers per transfer: one filling, one spare, the rest queued for the disk. */
export const POOL_BUFFERS = 8;

export interface FileSinkOptions {
  socket: net.Socket;
  hasher: Hasher;
  writer: (done: (buf: Buffer, err: NodeJS.ErrnoException | null) => void) => DiskWriter;
  /** Where the bytes of this connection start in the file (a resumed prefix), and the size. */
  offset: number;
  size: number;
  bufferSize: number;
  buffers: number;
  /** Checks the file's first buffer before it is written (--verify-plot-header); throws. */
  checkFirst?: (first: Buffer) => void;
  /** A write failed: the transfer fails with it. */
  onWriteError: (err: NodeJS.ErrnoException) => void;
  /** Whether the sender still owes bytes (only then does a paused socket resume). */
  expectsBytes: () => boolean;
}

export class FileSink {
  /** File bytes still due on this connection. */
  remaining: number;
  /** File bytes received on this connection. */
  received = 0;
  readonly writer: DiskWriter;
  private free: Buffer[];
  private fill?: Buffer;
  private fillPos = 0;
  private writePos: number;
  private pausedForDisk = false;

  constructor(private readonly o: FileSinkOptions) {
    const due = o.size - o.offset;
    this.remaining = due;
    this.writePos = o.offset;
    const poolSize = Math.max(2, Math.min(o.buffers, Math.ceil(due / o.bufferSize) + 1));
    this.free = transferBuffers.take(poolSize, o.bufferSize);
    this.fill = this.free.pop();
    this.writer = o.writer((buf, err) => this.written(buf, err));
  }

  /**
   * Where the next read should land: the free tail of the buffer being filled, no longer than
   * the file bytes still due (so file bytes and the trailer never share a read); undefined when
   * no file byte is due.
   */
  nextReadBuffer(): Buffer | undefined {
    const f = this.fill;
    if (!f || this.remaining === 0) return undefined;
    return f.subarray(this.fillPos, this.fillPos + Math.min(f.length - this.fillPos, this.remaining));
  }

  /**
   * `n` bytes arrived at the start of `buf`: file bytes are taken (in place when the read landed
   * where nextReadBuffer() pointed); returns how many bytes at the end of it are past the file.
   */
  take(buf: Buffer, n: number): number {
    const f = this.fill;
    if (f && buf.buffer === f.buffer && buf.byteOffset === f.byteOffset + this.fillPos && n <= this.remaining) {
      this.advance(n); // landed in place: nothing to copy
      return 0;
    }
    let off = 0;
    while (off < n && this.remaining > 0) {
      const fill = this.fill!;
      const take = Math.min(n - off, this.remaining, fill.length - this.fillPos);
      buf.copy(fill, this.fillPos, off, off + take);
      off += take;
      this.advance(take);
    }
    return n - off;
  }

  /**
   * The whole file arrived and every write is done: the buffers go back to the pool for the next
   * transfer. Only then: after a failure a write may still be queued, or the socket's next read
   * may already point into a buffer, so those buffers are left to the garbage collector.
   */
  recycle(): void {
    if (this.remaining !== 0 || this.writer.inFlight !== 0) return;
    transferBuffers.give(this.free.splice(0));
  }

  /** The transfer is over: no more buffers are filled, queued writes are dropped. */
  stop(): void {
    this.free = [];
    this.fill = undefined;
    this.writer.stop();
  }

  private advance(n: number): void {
    this.fillPos += n;
    this.remaining -= n;
    this.received += n;
    if (this.fillPos === this.fill!.length || this.remaining === 0) this.submit();
  }

  /** Hashes the filled part of the current buffer, sends it to disk, and takes the next buffer. */
  private submit(): void {
    const buf = this.fill!;
    const len = this.fillPos;
    const view = len === buf.length ? buf : buf.subarray(0, len);
    // Before the first byte is written: the first buffer is full or holds the whole file.
    if (this.writePos === 0) this.o.checkFirst?.(view);
    this.o.hasher.update(view);
    this.writer.write(buf, len, this.writePos);
    this.writePos += len;
    this.fill = this.remaining > 0 ? this.free.pop() : undefined;
    this.fillPos = 0;
    // Keep one spare buffer: a read that fills the current one must find the next one free.
    if (this.remaining > 0 && this.free.length === 0 && !this.pausedForDisk) {
      this.pausedForDisk = true;
      this.o.socket.pause();
    }
  }

  private written(buf: Buffer, err: NodeJS.ErrnoException | null): void {
    this.free.push(buf);
    if (err) return this.o.onWriteError(err);
    if (this.pausedForDisk && this.o.expectsBytes()) {
      this.pausedForDisk = false;
      this.o.socket.resume();
    }
  }
}
