/**
 * Receives one file over one accepted connection (protocol: wire/messages.ts).
 *
 * Data path: a pool of POOL_BUFFERS page-aligned buffers (buffers.ts) of WRITE_BATCH bytes per
 * transfer. Where the socket could be adopted with a user read buffer (see intake.ts), the
 * kernel copies socket bytes straight into the free tail of the buffer being filled: no
 * per-read allocation and no copy in user space, and reads as large as that tail instead of
 * libuv's 64 KiB (measured on loopback, discarding: 2,400 MB/s with 0.6 CPU-s per 2 GiB, against
 * 1,420 MB/s and 1.6 CPU-s with 'data' events). Otherwise 'data' chunks are copied into the same
 * pool. A full buffer is hashed whole and written with one positional write while the next
 * fills; when no spare buffer is left the socket is paused, so memory is the pool whatever the
 * file size and a slow disk slows the sender through TCP.
 *
 * Writes: a write on the event loop (writeSync) costs this end less CPU than one on the libuv
 * thread pool, because the bytes the socket read just brought into this core's cache are copied
 * to the page cache by the same core. Measured on loopback to tmpfs (2 GiB, 4 paired runs):
 * 1.76-1.97 against 2.14-2.31 CPU-s per transfer (-17%), ~+10% MB/s. But a write that blocks
 * (dirty-page throttling on a slow disk, or a disk that hangs) would then stall every other
 * transfer and a harvester's NATS client. So writes run on the loop only while this session is
 * the only one writing in the process and no such write has taken SLOW_WRITE_MS or more; once
 * either fails, they go to the thread pool (one at a time, as before) for the rest of the file.
 * The 'stored' log line says which (`writes`: loop, pool or both).
 *
 * Safety: the file is written under a temporary name; only after the byte count matches the
 * declared size and the hash matches the sender's is it fsynced, linked to its final name
 * (never overwriting) and its directory fsynced, and only then does the sender hear RESULT.
 * Any failure removes the temporary file.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { fromSystemError, PlotferryError } from '../errors.js';
import type { Reservation } from '../farm/disks.js';
import { StreamReader } from '../wire/frame.js';
import { decodeMessage, encodeMessage, errorMessage, HelloMessage } from '../wire/messages.js';
import { printable, validatePlotName } from '../wire/names.js';
import { assertPlotSize, checkPlotHeader, PLOT_HEADER_MAX_CHECK } from '../wire/plot-header.js';
import { alignedBuffers } from './buffers.js';
import { readAt } from './fsio.js';
import { findPartial, partialPathFor, publish, tempPathFor, writeHashRecord } from './finalize.js';
import { createHasher, Hasher } from './hash.js';
import type { AuthThrottle } from './throttle.js';

/**
 * Size of one pool buffer: the unit of hashing and of one positional write. 8 x 1 MiB received
 * as fast as 5 x 4 MiB on loopback (within the noise) with a smaller peak RSS (74 vs 99 MB).
 */
export const WRITE_BATCH = 1024 * 1024;
/** Buffers per transfer: one filling, one spare, the rest queued for the disk. */
export const POOL_BUFFERS = 8;
/** Where reads land outside the data phase (header, trailer): frames are at most 64 KiB + 8. */
const SCRATCH_BYTES = 64 * 1024 + 64;
/**
 * A write on the event loop slower than this sends the rest of the file to the thread pool: the
 * disk stalls or throttles us hard. Not lower: on 2 busy cores a 1 MiB write to tmpfs that is
 * preempted took over 20 ms in 5 of 7 transfers, and each then lost the loop writes' gain.
 */
const SLOW_WRITE_MS = 100;
/** Re-hashing a partial copy: read size, and how often the sender hears PROGRESS. */
const REHASH_CHUNK = 4 * 1024 * 1024;
const PROGRESS_MS = 2_000;
/** Failures that leave good bytes worth keeping: the connection broke, not the data or disk. */
const KEEPS_PARTIAL: ReadonlySet<string> = new Set([
  'PF_SHORT_STREAM',
  'PF_CONNECTION',
  'PF_TIMEOUT',
  'PF_SHUTTING_DOWN',
]);
/** Failures of a disk itself: it leaves the rotation for a while (DiskSet.markFailed). */
const DISK_FAILURES: ReadonlySet<string> = new Set(['PF_IO', 'PF_DISK_FULL']);
/** After answering an error, how long the sender gets to stop before the socket is cut. */
const ERROR_LINGER_MS = 5_000;

export interface ReceiverContext {
  /**
   * Chooses where a file goes: checks that `name` is free everywhere it could land and reserves
   * a disk's write slot. Throws PF_EXISTS (describing the copy, for `probe`: wire/probe.ts),
   * PF_NO_SPACE or PF_BUSY.
   */
  place(name: string, size: number, resume: boolean, probe?: string): Promise<Reservation>;
  token: string;
  log: Logger;
  /** Names being received now by any connection of this listener. */
  inflightNames: Set<string>;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  /** Pool buffer size and count (defaults WRITE_BATCH, POOL_BUFFERS). */
  bufferSize?: number;
  buffers?: number;
  /**
   * Speedtests (HELLO mode "speedtest"): undefined takes them with any budget; false refuses
   * them (a claim's listener is for its one file); a number is the largest budget taken.
   */
  speedtest?: false | number;
  /**
   * Resume: a broken transfer's good bytes are kept this long as a partial copy for a later
   * one to continue from (0 or absent: removed at once, no resume).
   */
  partialTtlMs?: number;
  /** Throttles addresses that keep sending wrong tokens. */
  throttle?: AuthThrottle;
  /** `--verify-plot-header`: refuse (PF_NOT_A_PLOT) a file whose first bytes are not a plot's. */
  verifyPlotHeader?: boolean;
  isShuttingDown(): boolean;
}

export type ReceiveOutcome =
  | {
      ok: true;
      name: string;
      path: string;
      bytes: number;
      hash: string;
      seconds: number;
      speedtest?: true;
      /** Where this file's writes ran: the event loop, the thread pool, or both (see the top). */
      writes?: WriteSite;
    }
  | { ok: false; name?: string; bytes: number; error: PlotferryError; quiet?: boolean };

export type WriteSite = 'loop' | 'pool' | 'both';

/** 'discard': a speedtest's data phase (bytes counted and dropped, never written). */
type State = 'hello' | 'accepting' | 'data' | 'discard' | 'trailer' | 'finishing' | 'done' | 'failed';

export class ReceiveSession {
  /** Sessions of this process (event loop) that are writing a file: loop writes need it to be 1. */
  private static writers = 0;
  private isWriter = false;
  /** A loop write was slow: the rest go to the thread pool. */
  private slowDisk = false;
  private loopWrites = 0;
  private poolWrites = 0;
  private readonly reader = new StreamReader();
  private state: State = 'hello';
  private hello?: HelloMessage;
  private remaining = 0;
  /** Bytes of the file received on this connection. */
  private received = 0;
  /** Where this connection started in the file: a partial copy's length, or 0. */
  private resumedFrom = 0;
  /** Bytes whose writes completed (they are written in file order), counting the partial. */
  private durable = 0;
  /** The partial copy's re-hash while it runs (cleanup waits for it before closing the fd). */
  private rehashing?: Promise<void>;
  private hasher?: Hasher;
  private reservation?: Reservation;
  private holdsName = false;
  private fd = -1;
  private tempPath?: string;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private free: Buffer[] = [];
  private fill?: Buffer;
  private fillPos = 0;
  private writePos = 0;
  private readonly writeQueue: { buf: Buffer; len: number; pos: number }[] = [];
  private writing = false;
  private writesIdle?: () => void;
  private pausedForDisk = false;
  private readonly started = process.hrtime.bigint();
  private headerTimer?: NodeJS.Timeout;
  private lingerTimer?: NodeJS.Timeout;
  private resolve!: (o: ReceiveOutcome) => void;
  readonly outcome: Promise<ReceiveOutcome>;
  private log: Logger;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: ReceiverContext,
  ) {
    this.log = ctx.log.child({ peer: `${socket.remoteAddress}:${socket.remotePort}` });
    this.outcome = new Promise((r) => {
      this.resolve = (o) => {
        this.leaveWriters();
        r(o);
      };
    });
    socket.on('end', () => this.onEnd());
    socket.on('error', (e) => this.onSocketError(e));
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => this.onIdle());
    socket.setKeepAlive(true, 30_000);
    this.headerTimer = setTimeout(() => {
      if (this.state === 'hello') {
        this.fail(new PlotferryError('PF_TIMEOUT', `no header within ${ctx.headerTimeoutMs} ms`));
      }
    }, ctx.headerTimeoutMs);
  }

  /** Stops a transfer in progress (listener shutdown): cleans up and answers PF_SHUTTING_DOWN. */
  abort(): void {
    this.fail(new PlotferryError('PF_SHUTTING_DOWN', 'the receiver is shutting down'));
    this.socket.destroy();
  }

  /**
   * Where the socket's next read should land (the user-buffer intake asks after every read):
   * the free tail of the buffer being filled, no longer than the file bytes still due, so file
   * bytes and the trailer never share a read.
   */
  nextReadBuffer(): Buffer {
    if (this.state === 'data' && this.fill && this.remaining > 0) {
      return this.fill.subarray(this.fillPos, this.fillPos + Math.min(this.fill.length - this.fillPos, this.remaining));
    }
    if (this.state === 'discard' && this.fill) return this.fill;
    return this.scratch;
  }

  /** `n` bytes arrived at the start of `buf` (which is reused or dropped after this returns). */
  onRead(buf: Buffer, n: number): void {
    if (this.state === 'failed' || this.state === 'done') return; // draining after an answer
    if (this.state === 'discard') return this.discard(n);
    try {
      let rest = 0;
      if (this.state === 'data') {
        const f = this.fill;
        if (f && buf.buffer === f.buffer && buf.byteOffset === f.byteOffset + this.fillPos && n <= this.remaining) {
          this.advanceFill(n); // landed in place: nothing to copy
        } else {
          rest = this.copyIn(buf, n);
        }
      } else {
        rest = n;
      }
      if (rest > 0) this.reader.push(Buffer.from(buf.subarray(n - rest, n)));
      if (this.state === 'data' && this.remaining === 0) this.state = 'trailer';
      this.pump();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Copies file bytes from `buf` into the pool; returns how many bytes past the file remain. */
  private copyIn(buf: Buffer, n: number): number {
    let off = 0;
    while (off < n && this.remaining > 0) {
      const f = this.fill!;
      const take = Math.min(n - off, this.remaining, f.length - this.fillPos);
      buf.copy(f, this.fillPos, off, off + take);
      off += take;
      this.advanceFill(take);
    }
    return n - off;
  }

  private advanceFill(n: number): void {
    this.fillPos += n;
    this.remaining -= n;
    this.received += n;
    if (this.fillPos === this.fill!.length || this.remaining === 0) this.submitFill();
  }

  private pump(): void {
    if (this.state === 'hello') {
      const frame = this.reader.readFrame();
      if (!frame) return;
      const msg = decodeMessage(frame);
      if (msg.type !== 'hello')
        throw new PlotferryError('PF_PROTOCOL', `expected HELLO, got ${msg.type.toUpperCase()}`);
      clearTimeout(this.headerTimer);
      this.state = 'accepting';
      this.socket.pause();
      this.accept(msg).catch((e) => this.fail(e));
      return;
    }
    if (this.state === 'data') {
      // Bytes that came with the header (a sender that did not wait for ACCEPT).
      for (let raw = this.reader.readRaw(this.remaining); raw; raw = this.reader.readRaw(this.remaining)) {
        this.copyIn(raw, raw.length);
      }
      if (this.remaining > 0) return;
      this.state = 'trailer';
    }
    if (this.state === 'trailer') {
      let frame;
      try {
        frame = this.reader.readFrame();
      } catch (err) {
        throw new PlotferryError(
          'PF_PROTOCOL',
          `after the declared ${this.hello!.size} bytes a trailer was due, but other bytes came: the stream is longer than declared or the trailer is malformed`,
          { cause: err },
        );
      }
      if (!frame) return;
      const msg = decodeMessage(frame);
      if (msg.type !== 'trailer')
        throw new PlotferryError('PF_PROTOCOL', `expected TRAILER, got ${msg.type.toUpperCase()}`);
      this.state = 'finishing';
      this.socket.setTimeout(0);
      this.finish(msg.hash).catch((e) => this.fail(e));
    }
  }

  private async accept(hello: HelloMessage): Promise<void> {
    this.hello = hello;
    const { ctx } = this;
    if (ctx.isShuttingDown()) throw new PlotferryError('PF_SHUTTING_DOWN', 'the receiver is shutting down');
    const host = this.socket.remoteAddress ?? 'unknown';
    const blocked = ctx.throttle?.blockedFor(host) ?? 0;
    if (blocked > 0)
      throw new PlotferryError(
        'PF_AUTH',
        `too many wrong tokens from ${host}: refused for another ${Math.ceil(blocked / 1000)} s`,
      );
    if (!tokensEqual(hello.token, ctx.token)) {
      const block = ctx.throttle?.failure(host) ?? 0;
      if (block > 0)
        this.log.warn({ host, blockSeconds: block / 1000 }, 'repeated wrong tokens: refusing this address for a while');
      throw new PlotferryError('PF_AUTH', 'wrong token');
    }
    ctx.throttle?.success(host);
    if (hello.mode === 'speedtest') return this.acceptSpeedtest(hello);
    const name = validatePlotName(hello.name);
    this.log = this.log.child({ file: name });
    if (ctx.verifyPlotHeader) assertPlotSize(hello.size);
    if (ctx.inflightNames.has(name)) {
      throw new PlotferryError('PF_BUSY', `"${name}" is being received on another connection now`);
    }
    ctx.inflightNames.add(name);
    this.holdsName = true;
    const resumable = hello.resume === true && (ctx.partialTtlMs ?? 0) > 0;
    this.reservation = await ctx.place(name, hello.size, resumable, hello.probe);
    // A session failed while we waited (abort() at shutdown; the socket itself is paused here, so
    // a vanished sender is only noticed later) was cleaned up without these: clean up again.
    if (this.state !== 'accepting') return this.cleanup();
    let temp = tempPathFor(this.reservation.dir, name);
    let fd = -1;
    let offset = 0;
    const partial = resumable
      ? await findPartial([this.reservation.dir], name, hello.size, ctx.partialTtlMs!)
      : undefined;
    if (partial) {
      // Renamed first, so no other connection and no expiry sweep can take it from here on.
      try {
        await fsp.rename(partial.path, temp);
        fd = await openFd(temp, 'r+');
        offset = partial.bytes;
      } catch (err) {
        this.log.warn({ err, path: partial.path }, 'could not take the partial copy; starting from the beginning');
        await fsp.rm(temp, { force: true }).catch(() => undefined);
      }
    }
    while (fd < 0) {
      try {
        fd = await openFd(temp, 'wx');
      } catch (err) {
        const e = fromSystemError(err, `creating a temporary file in ${this.reservation.dir}`);
        if (!DISK_FAILURES.has(e.code) || this.state !== 'accepting') throw e;
        // This disk cannot take files (remounted read-only after disk errors, EIO, out of
        // inodes): out of rotation for a while, and this file goes to another disk. Each disk
        // that fails leaves the rotation, so this ends with a disk or PF_NO_SPACE.
        this.reservation.fail(e);
        try {
          this.reservation = await ctx.place(name, hello.size, false, hello.probe);
        } catch (placeErr) {
          // No other disk here: the cause the sender should see (and retry elsewhere on) is
          // the disk that failed, not "no space".
          if ((placeErr as PlotferryError).code !== 'PF_NO_SPACE') throw placeErr;
          throw new PlotferryError(e.code, `${e.message}; no other disk here can take the file`, { cause: e });
        }
        if (this.state !== 'accepting') return this.cleanup();
        temp = tempPathFor(this.reservation.dir, name);
      }
    }
    if (this.state !== 'accepting') {
      // Failed while the file was being created (the sender vanished right after its header):
      // that cleanup could not see the file yet, so it is removed here (seen while chasing a fuzz failure).
      await closeFd(fd).catch(() => undefined);
      // A partial copy taken just now goes back (the connection broke, its bytes are good).
      if (offset > 0)
        await fsp
          .rename(temp, partialPathFor(this.reservation.dir, name, hello.size))
          .catch(() => fsp.rm(temp, { force: true }));
      else await fsp.rm(temp, { force: true });
      return this.cleanup();
    }
    this.fd = fd;
    this.tempPath = temp;
    // Set with the file, so a failure from here on keeps the partial copy's bytes.
    this.resumedFrom = this.durable = this.writePos = offset;
    this.hasher = await createHasher(hello.hash);
    if (this.state !== 'accepting') return this.cleanup();
    if (offset > 0) {
      // Tell the sender now, so it hashes its first `offset` bytes while we re-hash ours.
      this.log.info({ dir: this.reservation.dir, size: hello.size, offset }, 'resuming from a partial copy');
      this.socket.write(encodeMessage({ type: 'accept', offset }));
      this.rehashing = this.rehashPrefix(offset);
      await this.rehashing;
      if (this.state !== 'accepting') return this.cleanup();
    }
    // The header check reads the first buffer: it must hold the whole header.
    const bufSize = Math.max(ctx.bufferSize ?? WRITE_BATCH, ctx.verifyPlotHeader ? PLOT_HEADER_MAX_CHECK : 1);
    const due = hello.size - offset;
    const poolSize = Math.max(2, Math.min(ctx.buffers ?? POOL_BUFFERS, Math.ceil(due / bufSize) + 1));
    this.free = alignedBuffers(poolSize, Math.min(bufSize, Math.max(due, 1)));
    this.fill = this.free.pop();
    if (offset === 0) this.log.info({ dir: this.reservation.dir, size: hello.size }, 'receiving');
    this.state = 'data';
    this.isWriter = true;
    ReceiveSession.writers++;
    this.remaining = hello.size - offset;
    if (offset === 0) this.socket.write(encodeMessage({ type: 'accept' }));
    this.socket.setTimeout(ctx.idleTimeoutMs);
    this.socket.resume();
    this.pump();
  }

  /**
   * Hashes the first `n` bytes of the partial copy (the sender's TRAILER covers the whole
   * file), sending PROGRESS every PROGRESS_MS so the sender knows we are alive. With
   * --verify-plot-header the copy's first bytes are checked like a new file's.
   */
  private async rehashPrefix(n: number): Promise<void> {
    const [buf] = alignedBuffers(1, REHASH_CHUNK);
    let pos = 0;
    let lastProgress = Date.now();
    while (pos < n && this.state === 'accepting') {
      const want = Math.min(buf!.length, n - pos);
      let got: number;
      try {
        got = await readAt(this.fd, buf!, want, pos);
      } catch (err) {
        throw fromSystemError(err, `reading the partial copy ${this.tempPath}`);
      }
      if (got !== want) throw new PlotferryError('PF_IO', `the partial copy ${this.tempPath} is shorter than it was`);
      const view = buf!.subarray(0, got);
      if (pos === 0 && this.ctx.verifyPlotHeader) checkPlotHeader(view, this.hello!.size);
      this.hasher!.update(view);
      pos += got;
      if (Date.now() - lastProgress >= PROGRESS_MS && !this.socket.destroyed) {
        lastProgress = Date.now();
        this.socket.write(encodeMessage({ type: 'progress', bytes: pos }));
      }
    }
  }

  /** A speedtest: bytes are counted into one reused buffer and dropped; no disk is touched. */
  private acceptSpeedtest(hello: HelloMessage): void {
    const cap = this.ctx.speedtest;
    if (cap === false) throw new PlotferryError('PF_PROTOCOL', 'this listener takes a file, not a speedtest');
    if (cap !== undefined && hello.size > cap)
      throw new PlotferryError(
        'PF_PROTOCOL',
        `the speedtest announced ${hello.size} bytes; this listener was opened for at most ${cap}`,
      );
    this.log = this.log.child({ speedtest: true });
    this.fill = alignedBuffers(1, WRITE_BATCH)[0];
    this.state = 'discard';
    this.remaining = hello.size;
    this.log.info({ upTo: hello.size }, 'speedtest');
    this.socket.write(encodeMessage({ type: 'accept' }));
    this.socket.setTimeout(this.ctx.idleTimeoutMs);
    this.socket.resume();
    // Bytes that came with the header.
    const early = this.reader.readRaw(Number.MAX_SAFE_INTEGER);
    if (early) this.discard(early.length);
  }

  private discard(n: number): void {
    this.received += n;
    if (this.received > this.hello!.size) {
      this.fail(
        new PlotferryError('PF_PROTOCOL', `the speedtest sent more than the ${this.hello!.size} bytes it announced`),
      );
    }
  }

  /** The speedtest sender half-closed: answer with what arrived. */
  private finishSpeedtest(): void {
    this.state = 'done';
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    this.log.info(
      { bytes: this.received, seconds: round(seconds), mbps: round(this.received / 1e6 / seconds) },
      'speedtest done',
    );
    if (!this.socket.destroyed)
      this.socket.end(encodeMessage({ type: 'result', hash: '0'.repeat(16), bytes: this.received, path: '' }));
    this.resolve({ ok: true, name: '', path: '', bytes: this.received, hash: '', seconds, speedtest: true });
  }

  /** Hashes the filled part of the current buffer, sends it to disk, and takes the next buffer. */
  private submitFill(): void {
    const buf = this.fill!;
    const len = this.fillPos;
    if (this.writePos === 0 && this.ctx.verifyPlotHeader) {
      // Before the first byte is written: the first buffer is full or holds the whole file.
      const plot = checkPlotHeader(buf.subarray(0, len), this.hello!.size);
      this.log.debug(plot, 'plot header checked');
    }
    this.hasher!.update(len === buf.length ? buf : buf.subarray(0, len));
    this.writeQueue.push({ buf, len, pos: this.writePos });
    this.writePos += len;
    this.startWrite();
    this.fill = this.remaining > 0 ? this.free.pop() : undefined;
    this.fillPos = 0;
    // Keep one spare buffer: a read that fills the current one must find the next one free.
    if (this.remaining > 0 && this.free.length === 0 && !this.pausedForDisk) {
      this.pausedForDisk = true;
      this.socket.pause();
    }
  }

  /**
   * One write at a time, in file order: writes to one file serialize on its inode lock anyway,
   * and parallel ones only spun on it (4% of the receiver's CPU in a perf profile on tmpfs).
   */
  private startWrite(): void {
    if (this.writing) return;
    const w = this.writeQueue.shift();
    if (!w) return;
    this.writing = true;
    const done = (err: NodeJS.ErrnoException | null) => {
      this.writing = false;
      if (!err) this.durable += w.len;
      this.free.push(w.buf);
      if (err || this.state === 'failed') {
        // Drop what is queued: the transfer is over.
        for (const q of this.writeQueue.splice(0)) this.free.push(q.buf);
        if (err) this.fail(fromSystemError(err, `writing ${this.tempPath}`));
      } else {
        if (this.pausedForDisk && this.expectsBytes()) {
          this.pausedForDisk = false;
          this.socket.resume();
        }
        this.startWrite();
      }
      if (this.writesInFlight === 0) this.writesIdle?.();
    };
    if (!this.slowDisk && ReceiveSession.writers === 1) {
      this.loopWrites++;
      const t0 = process.hrtime.bigint();
      const err = writeAllSync(this.fd, w.buf, w.len, w.pos);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ms > SLOW_WRITE_MS) {
        this.slowDisk = true;
        this.log.debug({ ms: round(ms) }, 'a write took long: the rest go to the thread pool');
      }
      // As a pool write would: the caller finishes what it was doing before the completion runs.
      queueMicrotask(() => done(err));
    } else {
      this.poolWrites++;
      writeAll(this.fd, w.buf, w.len, w.pos, done);
    }
  }

  private writeSite(): WriteSite | undefined {
    if (this.loopWrites + this.poolWrites === 0) return undefined;
    return this.poolWrites === 0 ? 'loop' : this.loopWrites === 0 ? 'pool' : 'both';
  }

  /** Counted in `writers` from the data phase until the outcome (writes are over by then). */
  private leaveWriters(): void {
    if (!this.isWriter) return;
    this.isWriter = false;
    ReceiveSession.writers--;
  }

  /** Buffers handed to the disk and not yet written: the queue plus the one being written. */
  private get writesInFlight(): number {
    return this.writeQueue.length + (this.writing ? 1 : 0);
  }

  private whenWritesIdle(): Promise<void> {
    if (this.writesInFlight === 0) return Promise.resolve();
    return new Promise((r) => {
      this.writesIdle = () => {
        this.writesIdle = undefined;
        r();
      };
    });
  }

  private async finish(senderHash: string): Promise<void> {
    const hello = this.hello!;
    await this.whenWritesIdle();
    if (this.state !== 'finishing') return; // a write failed
    const ours = this.hasher!.digest();
    if (ours !== senderHash) {
      throw new PlotferryError('PF_HASH_MISMATCH', `hash mismatch: sender ${senderHash}, receiver ${ours}`);
    }
    const finalPath = path.join(this.reservation!.dir, hello.name);
    try {
      await fsyncFd(this.fd);
    } catch (err) {
      throw fromSystemError(err, `syncing ${this.tempPath}`);
    }
    await closeFd(this.fd);
    this.fd = -1;
    await publish(this.tempPath!, finalPath);
    this.tempPath = undefined;
    if (!(await writeHashRecord(finalPath, ours, hello.size)))
      this.log.warn({ path: finalPath }, 'stored, but its hash record could not be written');
    this.state = 'done';
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    const writes = this.writeSite();
    this.log.info(
      {
        path: finalPath,
        bytes: hello.size,
        hash: ours,
        seconds: round(seconds),
        mbps: round((hello.size - this.resumedFrom) / 1e6 / seconds),
        ...(this.resumedFrom ? { resumedFrom: this.resumedFrom } : {}),
        ...(writes ? { writes } : {}),
      },
      'stored',
    );
    if (!this.socket.destroyed)
      this.socket.end(encodeMessage({ type: 'result', hash: ours, bytes: hello.size, path: finalPath }));
    this.releaseSlots();
    this.resolve({
      ok: true,
      name: hello.name,
      path: finalPath,
      bytes: hello.size,
      hash: ours,
      seconds,
      ...(writes ? { writes } : {}),
    });
  }

  private onEnd(): void {
    if (this.state === 'discard') return this.finishSpeedtest();
    if (this.state === 'hello' && this.reader.bufferedBytes === 0 && this.received === 0) {
      // A connect-and-close: a port probe or health check, not a failed transfer.
      this.fail(new PlotferryError('PF_SHORT_STREAM', 'connection closed before a header'), true);
    } else if (this.state !== 'finishing' && this.state !== 'done') {
      this.fail(this.shortStream());
    }
    if (!this.socket.destroyed && this.socket.writableEnded === false && this.state === 'failed') this.socket.end();
  }

  private onSocketError(err: Error): void {
    if (this.state === 'finishing' || this.state === 'done') return; // the data is complete and verified
    this.fail(this.state === 'data' ? this.shortStream(err) : fromSystemError(err, 'connection', 'PF_CONNECTION'));
  }

  private onClose(): void {
    clearTimeout(this.headerTimer);
    clearTimeout(this.lingerTimer);
    if (this.state !== 'finishing' && this.state !== 'done' && this.state !== 'failed') this.fail(this.shortStream());
  }

  private onIdle(): void {
    // Waiting on our own disk is not the sender's silence.
    if (this.expectsBytes() && this.writesInFlight === 0) {
      this.fail(
        new PlotferryError(
          'PF_TIMEOUT',
          `no data for ${this.ctx.idleTimeoutMs} ms after ${this.received} of ${this.hello?.size} bytes`,
        ),
      );
    }
  }

  /** Whether the sender owes us bytes (file data or the trailer). */
  private expectsBytes(): boolean {
    return this.state === 'data' || this.state === 'trailer' || this.state === 'discard';
  }

  private shortStream(cause?: unknown): PlotferryError {
    const size = this.hello?.size;
    return new PlotferryError(
      'PF_SHORT_STREAM',
      size === undefined
        ? 'the connection ended before a complete header'
        : `the connection ended after ${this.resumedFrom + this.received} of ${size} bytes`,
      { cause },
    );
  }

  /** Answers the error where the connection still stands, cleans up, and resolves. */
  private fail(err: unknown, quiet = false): void {
    if (this.state === 'failed' || this.state === 'done') return;
    const error =
      err instanceof PlotferryError
        ? err
        : new PlotferryError('PF_INTERNAL', String((err as Error)?.stack ?? err), { cause: err });
    this.state = 'failed';
    clearTimeout(this.headerTimer);
    this.socket.setTimeout(0);
    // A disk that failed a write, a sync or the rename leaves the rotation; the plot goes
    // elsewhere when it is sent again. (A disk that filled up mid-stream is seen by statfs.)
    if (error.code === 'PF_IO') this.reservation?.fail(error);
    const log = {
      code: error.code,
      bytes: this.received,
      size: this.hello?.size,
      name: this.hello ? printable(this.hello.name) : undefined,
    };
    if (quiet) this.log.debug(log, error.message);
    else this.log.warn(log, `refused: ${error.message}`);
    if (!this.socket.destroyed && this.socket.writable) {
      this.socket.write(encodeMessage(errorMessage(error)));
      this.socket.end();
      // Keep reading (and discarding) so the sender gets our answer instead of a reset, and cut
      // the connection if it does not stop.
      this.socket.resume();
      this.lingerTimer = setTimeout(() => this.socket.destroy(), ERROR_LINGER_MS);
      this.lingerTimer.unref();
    }
    this.cleanup(error).then(
      () => this.resolve({ ok: false, name: this.hello?.name, bytes: this.received, error, quiet }),
      (cleanupErr) => {
        this.log.error({ err: cleanupErr }, 'cleanup after a failed transfer failed');
        this.resolve({ ok: false, name: this.hello?.name, bytes: this.received, error, quiet });
      },
    );
  }

  /**
   * Closes and removes the temporary file, or, after a broken connection (`error` resumable),
   * keeps its good bytes as a partial copy for a later transfer to continue from.
   */
  private async cleanup(error?: PlotferryError): Promise<void> {
    await this.whenWritesIdle();
    await this.rehashing?.catch(() => undefined);
    this.free = [];
    this.fill = undefined;
    const size = this.hello?.size ?? 0;
    let keep =
      error !== undefined &&
      KEEPS_PARTIAL.has(error.code) &&
      (this.ctx.partialTtlMs ?? 0) > 0 &&
      this.fd >= 0 &&
      this.tempPath !== undefined &&
      this.durable > 0 &&
      this.durable <= size;
    if (keep) {
      // Only bytes whose writes completed: anything after them may be a hole.
      keep = await truncateFd(this.fd, this.durable).then(
        () => true,
        () => false,
      );
    }
    if (this.fd >= 0) {
      await closeFd(this.fd).catch(() => undefined);
      this.fd = -1;
    }
    if (this.tempPath) {
      const temp = this.tempPath;
      this.tempPath = undefined;
      const kept = keep
        ? await fsp.rename(temp, partialPathFor(path.dirname(temp), this.hello!.name, size)).then(
            () => true,
            () => false,
          )
        : false;
      if (kept) this.log.info({ bytes: this.durable, of: size }, 'kept the good bytes for a resume');
      else await fsp.rm(temp, { force: true });
    }
    this.releaseSlots();
  }

  private releaseSlots(): void {
    this.reservation?.release();
    if (this.holdsName && this.hello) this.ctx.inflightNames.delete(this.hello.name);
    this.holdsName = false;
  }
}

/** Constant-time comparison of two tokens of any lengths (compares their SHA-256 digests). */
export function tokensEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

/** A write that wrote nothing, reported as EIO instead of being retried forever. */
const zeroWrite = (): NodeJS.ErrnoException => Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });

/** Positional write that finishes short writes (they happen at ENOSPC's edge). */
function writeAll(
  fd: number,
  buf: Buffer,
  len: number,
  pos: number,
  cb: (err: NodeJS.ErrnoException | null) => void,
): void {
  let done = 0;
  const step = () =>
    fs.write(fd, buf, done, len - done, pos + done, (err, written) => {
      if (err) return cb(err);
      if (written === 0) return cb(zeroWrite());
      done += written;
      if (done === len) cb(null);
      else step();
    });
  step();
}

/** writeAll() on the calling thread; returns the error instead of throwing it. */
function writeAllSync(fd: number, buf: Buffer, len: number, pos: number): NodeJS.ErrnoException | null {
  try {
    for (let done = 0; done < len;) {
      const written = fs.writeSync(fd, buf, done, len - done, pos + done);
      if (written === 0) return zeroWrite();
      done += written;
    }
    return null;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
}

// Raw fds, not FileHandles: a FileHandle that is garbage-collected closes its fd behind our back.
const openFd = (p: string, flags: string) =>
  new Promise<number>((res, rej) => fs.open(p, flags, 0o644, (e, fd) => (e ? rej(e) : res(fd))));
const fsyncFd = (fd: number) => new Promise<void>((res, rej) => fs.fsync(fd, (e) => (e ? rej(e) : res())));
const closeFd = (fd: number) => new Promise<void>((res, rej) => fs.close(fd, (e) => (e ? rej(e) : res())));
const truncateFd = (fd: number, len: number) =>
  new Promise<void>((res, rej) => fs.ftruncate(fd, len, (e) => (e ? rej(e) : res())));
const round = (n: number) => Math.round(n * 100) / 100;
