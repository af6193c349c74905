/**
 * Receives one file (or one speedtest) over one accepted connection: the protocol's state
 * machine (wire/wire-messages.ts). The parts have files of their own: handshake.ts checks the HELLO,
 * file-sink.ts moves bytes from the socket into buffers, disk-writer.ts writes them,
 * discard-sink.ts counts a speedtest's bytes, partial.ts resumes and keeps partial copies.
 *
 * Safety: the file is written under a temporary name; only after the byte count matches the
 * declared size and the hash matches the sender's is it fsynced, linked to its final name
 * (never overwriting) and its directory fsynced, and only then does the sender hear RESULT.
 * Any failure removes the temporary file, or keeps its good bytes for a resume after a broken
 * connection. A failure that is not a PlotferryError (a bug) reaches the sender as PF_INTERNAL
 * with a fixed message: the stack goes to the local log, never over the wire.
 */
import { promises as fsp } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { DISK_FAULTS, fromSystemError, PlotferryError } from '../../core/errors.js';
import { countReceived, metrics } from '../../core/metrics.js';
import type { Reservation } from '../../storage/disks.js';
import { closeFd, createdOn, fsyncFd, openFd } from '../../storage/fsio.js';
import { writeHashRecord } from '../../storage/hash-records.js';
import { partialPathFor, tempPathFor } from '../../storage/hidden-names.js';
import { findPartial } from '../../storage/partials.js';
import { openDirForSync, publish } from '../../storage/publish.js';
import { StreamReader } from '../../wire/frame.js';
import { decodeMessage, encodeMessage, errorMessage, HelloMessage, MAX_WHY } from '../../wire/wire-messages.js';
import { printable } from '../../wire/names.js';
import { checkPlotHeader, PLOT_HEADER_MAX_CHECK, PlotHeaderInfo } from '../../wire/plot-header.js';
import { plotEnd, PlotEnd } from '../../wire/plot-end.js';
import { checkPlotFd, PlotCheck } from '../../storage/plot-file.js';
import { createHasher, Hasher } from '../hash.js';
import { DiscardSink } from './discard-sink.js';
import { DEFAULT_FLUSH_EVERY, DiskWriter, WriteSite } from './disk-writer.js';
import { FileSink, POOL_BUFFERS, WRITE_BATCH } from './file-sink.js';
import { admitFile, admitSpeedtest, authenticate, HandshakePolicy } from './handshake.js';
import { KEEPS_PARTIAL, keepPartial, rehashPrefix, takePartial } from './partial.js';

/** Where reads land outside the data phase (header, trailer): frames are at most 64 KiB + 8. */
const SCRATCH_BYTES = 64 * 1024 + 64;
/** After answering an error, how long the sender gets to stop before the socket is cut. */
const ERROR_LINGER_MS = 5_000;

export interface ReceiverContext extends HandshakePolicy {
  /**
   * Chooses where a file goes: checks that `name` is free everywhere it could land and reserves
   * a disk's write slot. Throws PF_EXISTS (describing the copy, for `probe`: wire/same-file-probe.ts),
   * PF_NO_SPACE or PF_BUSY. Called again, with the failed reservation released, when the disk
   * it chose fails before the first byte.
   */
  place(name: string, size: number, resume: boolean, probe?: string): Promise<Reservation>;
  log: Logger;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  /** Pool buffer size and count (defaults WRITE_BATCH, POOL_BUFFERS). */
  bufferSize?: number;
  buffers?: number;
  /** Write-behind step in bytes (0: none; absent: DEFAULT_FLUSH_EVERY; receive/disk-writer.ts). */
  flushEvery?: number;
  /**
   * Resume: a broken transfer's good bytes are kept this long as a partial copy for a later
   * one to continue from (0 or absent: removed at once, no resume).
   */
  partialTtlMs?: number;
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
      /** Where this file's writes ran: the event loop, the thread pool, or both (disk-writer.ts). */
      writes?: WriteSite;
      /** Write-behind flushes made while it arrived (--flush-every; absent: none). */
      flushes?: number;
      /** Its header, from the first buffer (null: not a plot; absent: not told). */
      header?: PlotHeaderInfo | null;
      /** Why the disk it was written to was chosen (its reservation's), without the directory. */
      why?: string;
    }
  | { ok: false; name?: string; bytes: number; error: PlotferryError; quiet?: boolean };

/**
 * The session's states and the only moves between them; moveTo() refuses any other move (a bug:
 * PF_INTERNAL in the log, a fixed message to the sender). Every state but the two last may also
 * move to 'failed' (fail(): the error answered, the temporary file removed or kept for a resume).
 *
 *   state      comes from          goes to           when
 *   hello      (start)             accepting         HELLO decoded
 *   accepting  hello               data              the file placed and its temporary file open
 *                                  discard           a speedtest admitted
 *   data       accepting           trailer           the declared bytes all arrived
 *   discard    accepting           done              the speedtest's sender half-closed
 *   trailer    data                finishing         TRAILER decoded
 *   finishing  trailer             done              hash matched, file synced and published
 *   done       discard, finishing  (none)            RESULT sent
 *   failed     all but done        (none)            an error answered, cleaned up
 *
 * 'discard' is a speedtest's data phase (bytes counted and dropped, never written). A step that
 * awaits (accept, finish) asks, after each await, whether the session is still in the state it
 * started in (stillIn): a failure meanwhile (the sender vanished, the listener stopping) moved it
 * to 'failed', and what the step made since then is its own to clean up.
 */
const NEXT = {
  hello: ['accepting', 'failed'],
  accepting: ['data', 'discard', 'failed'],
  data: ['trailer', 'failed'],
  discard: ['done', 'failed'],
  trailer: ['finishing', 'failed'],
  finishing: ['done', 'failed'],
  done: [],
  failed: [],
} as const satisfies Record<string, readonly string[]>;

export type ReceiveState = keyof typeof NEXT;
type State = ReceiveState;

/** Whether the table above lets a session move from `from` to `to`. */
export function canMove(from: ReceiveState, to: ReceiveState): boolean {
  return (NEXT[from] as readonly ReceiveState[]).includes(to);
}

export class ReceiveSession {
  private readonly reader = new StreamReader();
  private state: State = 'hello';
  private hello?: HelloMessage;
  /** Where this connection started in the file: a partial copy's length, or 0. */
  private resumedFrom = 0;
  /** What the first buffer says the file is (null: not a plot); undefined when it was too short to tell. */
  private plotHeader?: PlotHeaderInfo | null;
  /** The partial copy's re-hash while it runs (cleanup waits for it before closing the fd). */
  private rehashing?: Promise<void>;
  private hasher?: Hasher;
  private reservation?: Reservation;
  /** Disks that could not create the file before this reservation's (openTemp), for `why`. */
  private failedOver: string[] = [];
  private heldName?: string;
  private fd = -1;
  private tempPath?: string;
  private sink?: FileSink;
  private discardSink?: DiscardSink;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private readonly started = process.hrtime.bigint();
  private headerTimer?: NodeJS.Timeout;
  private lingerTimer?: NodeJS.Timeout;
  private resolve!: (o: ReceiveOutcome) => void;
  readonly outcome: Promise<ReceiveOutcome>;
  private log: Logger;
  /** Whether this session counts in plotferry_active_transfers (from its file's opening). */
  private counted = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: ReceiverContext,
  ) {
    this.log = ctx.log.child({ peer: `${socket.remoteAddress}:${socket.remotePort}` });
    this.outcome = new Promise((r) => {
      this.resolve = (o) => {
        this.sink?.writer.close();
        if (this.counted) metrics.activeTransfers.dec({ direction: 'receive' });
        // Port probes (quiet) and speedtests are not transfers.
        if (!(o.ok ? o.speedtest : o.quiet))
          countReceived(o.ok, o.bytes, o.ok ? o.seconds : undefined, o.ok ? undefined : o.error.code);
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

  /** The one way the state changes: a move the table (NEXT) does not name is a bug, thrown as one. */
  private moveTo(to: State): void {
    if (!canMove(this.state, to)) throw new Error(`receive session: no move from '${this.state}' to '${to}'`);
    this.state = to;
  }

  /**
   * Whether the session is still in `state`, the state a step that awaits started in: false once
   * a failure meanwhile moved it on (to 'failed'), and the step cleans up what it made since.
   */
  private stillIn(state: State): boolean {
    return this.state === state;
  }

  /** Stops a transfer in progress (listener shutdown): cleans up and answers PF_SHUTTING_DOWN. */
  abort(): void {
    this.fail(new PlotferryError('PF_SHUTTING_DOWN', 'the receiver is shutting down'));
    this.socket.destroy();
  }

  /** Bytes of the file (or speedtest) received on this connection. */
  private get received(): number {
    return this.sink?.received ?? this.discardSink?.received ?? 0;
  }

  /** Where the socket's next read should land (the user-buffer intake asks after every read). */
  nextReadBuffer(): Buffer {
    if (this.state === 'data') return this.sink!.nextReadBuffer() ?? this.scratch;
    if (this.state === 'discard') return this.discardSink!.buffer;
    return this.scratch;
  }

  /** `n` bytes arrived at the start of `buf` (which is reused or dropped after this returns). */
  onRead(buf: Buffer, n: number): void {
    if (this.state === 'failed' || this.state === 'done') return; // draining after an answer
    try {
      if (this.state === 'discard') return this.discardSink!.take(n);
      const rest = this.state === 'data' ? this.sink!.take(buf, n) : n;
      if (rest > 0) this.reader.push(Buffer.from(buf.subarray(n - rest, n)));
      if (this.state === 'data' && this.sink!.remaining === 0) this.moveTo('trailer');
      this.pump();
    } catch (err) {
      this.fail(err);
    }
  }

  private pump(): void {
    if (this.state === 'hello') {
      const frame = this.reader.readFrame();
      if (!frame) return;
      const msg = decodeMessage(frame);
      if (msg.type !== 'hello')
        throw new PlotferryError('PF_PROTOCOL', `expected HELLO, got ${msg.type.toUpperCase()}`);
      clearTimeout(this.headerTimer);
      this.moveTo('accepting');
      this.socket.pause();
      this.accept(msg).catch((e) => this.fail(e));
      return;
    }
    if (this.state === 'data') {
      // Bytes that came with the header (a sender that did not wait for ACCEPT).
      const sink = this.sink!;
      for (let raw = this.reader.readRaw(sink.remaining); raw; raw = this.reader.readRaw(sink.remaining)) {
        sink.take(raw, raw.length);
      }
      if (sink.remaining > 0) return;
      this.moveTo('trailer');
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
      this.moveTo('finishing');
      this.socket.setTimeout(0);
      this.finish(msg.hash).catch((e) => this.fail(e));
    }
  }

  private async accept(hello: HelloMessage): Promise<void> {
    this.hello = hello;
    const { ctx } = this;
    if (ctx.isShuttingDown()) throw new PlotferryError('PF_SHUTTING_DOWN', 'the receiver is shutting down');
    authenticate(hello, ctx, this.socket.remoteAddress ?? 'unknown', this.log);
    if (hello.mode === 'speedtest') return this.acceptSpeedtest(hello);
    const name = admitFile(hello, ctx);
    this.heldName = name;
    this.log = this.log.child({ file: name });
    const resumable = hello.resume === true && (ctx.partialTtlMs ?? 0) > 0;
    this.reservation = await ctx.place(name, hello.size, resumable, hello.probe);
    // A session failed while we waited (abort() at shutdown; the socket itself is paused here, so
    // a vanished sender is only noticed later) was cleaned up without these: clean up again.
    if (!this.stillIn('accepting')) return this.cleanup();
    const opened = await this.openTemp(name, resumable);
    if (opened && !this.counted) {
      this.counted = true;
      metrics.activeTransfers.inc({ direction: 'receive' });
    }
    if (!opened) return;
    const { fd, temp, offset } = opened;
    if (!this.stillIn('accepting')) return this.dropOpened(opened, name);
    this.fd = fd;
    this.tempPath = temp;
    this.resumedFrom = offset;
    this.hasher = await createHasher(hello.hash);
    if (!this.stillIn('accepting')) return this.cleanup();
    if (offset > 0) {
      // Tell the sender now, so it hashes its first `offset` bytes while we re-hash ours.
      this.log.info({ dir: this.reservation.dir, size: hello.size, offset }, 'resuming from a partial copy');
      this.socket.write(encodeMessage({ type: 'accept', offset }));
      const going = () => this.stillIn('accepting');
      this.rehashing = rehashPrefix(fd, offset, temp, this.hasher, this.socket, going, (first) =>
        this.checkFirst(first),
      );
      await this.rehashing;
      if (!this.stillIn('accepting')) return this.cleanup();
    }
    this.startData(fd, offset);
  }

  /**
   * Failed while the file was being created (the sender vanished right after its header): that
   * cleanup could not see the file yet, so it is removed here (seen while chasing a fuzz failure).
   */
  private async dropOpened(
    { fd, temp, offset }: { fd: number; temp: string; offset: number },
    name: string,
  ): Promise<void> {
    await closeFd(fd).catch(() => undefined);
    // A partial copy taken just now goes back (the connection broke, its bytes are good).
    if (offset > 0)
      await fsp
        .rename(temp, partialPathFor(this.reservation!.dir, name, this.hello!.size))
        .catch(() => fsp.rm(temp, { force: true }));
    else await fsp.rm(temp, { force: true });
    return this.cleanup();
  }

  /**
   * The header, read from the first buffer on its way to disk: refused with --verify-plot-header
   * when it is not a plot's; otherwise only noted (PoS1 or PoS2, its group) for the inventory.
   * A plot whose header says it is longer than the declared size is refused here, before a
   * byte is written, whatever the options (wire/plot-end.ts); the rest of that check runs at
   * the end, on the file, before it is published.
   */
  private checkFirst(first: Buffer): void {
    const { ctx } = this;
    const hello = this.hello!;
    if (ctx.verifyPlotHeader) {
      this.plotHeader = checkPlotHeader(first, hello.size);
      this.log.debug(this.plotHeader, 'plot header checked');
    } else {
      try {
        this.plotHeader = checkPlotHeader(first, hello.size);
      } catch {
        // Too short to tell (a tiny test buffer), or not a plot.
        if (first.length >= PLOT_HEADER_MAX_CHECK || first.length === hello.size) this.plotHeader = null;
        return;
      }
    }
    refuseUnwhole(plotEnd(first, hello.size), hello.name, ctx.verifyPlotHeader);
  }

  /** accept()'s last step, the file open at `offset`: bytes flow from the socket to the disk. */
  private startData(fd: number, offset: number): void {
    const { ctx } = this;
    const hello = this.hello!;
    // The header check reads the first buffer: it must hold the whole header.
    const bufferSize = Math.max(ctx.bufferSize ?? WRITE_BATCH, ctx.verifyPlotHeader ? PLOT_HEADER_MAX_CHECK : 1);
    this.sink = new FileSink({
      socket: this.socket,
      hasher: this.hasher!,
      writer: (done) =>
        new DiskWriter(fd, offset, this.log, done, {
          flushEvery: ctx.flushEvery ?? DEFAULT_FLUSH_EVERY,
          onFlushError: (err) => this.fail(fromSystemError(err, `syncing ${this.tempPath}`)),
        }),
      offset,
      size: hello.size,
      bufferSize,
      buffers: ctx.buffers ?? POOL_BUFFERS,
      checkFirst: (first) => this.checkFirst(first),
      onWriteError: (err) => this.fail(fromSystemError(err, `writing ${this.tempPath}`)),
      expectsBytes: () => this.expectsBytes(),
    });
    if (offset === 0) this.log.info({ dir: this.reservation!.dir, size: hello.size }, 'receiving');
    this.moveTo('data');
    if (offset === 0) this.socket.write(encodeMessage({ type: 'accept' }));
    this.socket.setTimeout(ctx.idleTimeoutMs);
    this.socket.resume();
    this.pump();
  }

  /**
   * The temporary file on the reserved disk: a partial copy taken over (resume), else a new one.
   * A disk that cannot create it (remounted read-only after disk errors, EIO, out of inodes)
   * leaves the rotation and another disk is reserved; each disk that fails leaves, so this ends
   * with a file or an error. Undefined when the session failed meanwhile (cleaned up).
   */
  private async openTemp(
    name: string,
    resumable: boolean,
  ): Promise<{ fd: number; temp: string; offset: number } | undefined> {
    const { ctx } = this;
    const size = this.hello!.size;
    let temp = tempPathFor(this.reservation!.dir, name);
    const partial = resumable ? await findPartial([this.reservation!.dir], name, size, ctx.partialTtlMs!) : undefined;
    // --replot: PoS1 plots give way now, after the claim and before the first byte (storage/replot.ts).
    await this.reservation!.makeRoom?.(name);
    if (partial) {
      const fd = await takePartial(partial, temp);
      if (fd !== undefined) return { fd, temp, offset: partial.bytes };
      this.log.warn({ path: partial.path }, 'could not take the partial copy; starting from the beginning');
    }
    for (;;) {
      try {
        // Read as well as written: the plot's end is checked in it before it is published.
        const fd = await openFd(temp, 'wx+');
        if (await createdOn(fd, this.reservation!.dir, this.reservation!.dev)) return { fd, temp, offset: 0 };
        // Its disk went between the choice and the open (unmounted): the file was created in the
        // bare mount point, on another filesystem. Removed at once; the disk check sees it gone.
        await closeFd(fd).catch(() => undefined);
        await fsp.rm(temp, { force: true });
        throw new PlotferryError('PF_DISK_GONE', `${this.reservation!.dir} left the disk it was chosen on`);
      } catch (err) {
        const e =
          err instanceof PlotferryError
            ? err
            : fromSystemError(err, `creating a temporary file in ${this.reservation!.dir}`);
        if (!(DISK_FAULTS.has(e.code) || e.code === 'PF_DISK_GONE') || !this.stillIn('accepting')) throw e;
        this.reservation!.fail(e);
        this.failedOver.push(`${this.reservation!.dir} failed (${e.code})`);
        try {
          this.reservation = await ctx.place(name, size, false, this.hello!.probe);
        } catch (placeErr) {
          // No other disk here: the cause the sender should see (and retry elsewhere on) is
          // the disk that failed, not "no space".
          const code = (placeErr as PlotferryError).code;
          if (code !== 'PF_NO_SPACE' && code !== 'PF_NO_DISK') throw placeErr;
          throw new PlotferryError(e.code, `${e.message}; no other disk here can take the file`, { cause: e });
        }
        if (!this.stillIn('accepting')) {
          await this.cleanup();
          return undefined;
        }
        await this.reservation.makeRoom?.(name);
        temp = tempPathFor(this.reservation.dir, name);
      }
    }
  }

  /** A speedtest: bytes are counted into one reused buffer and dropped; no disk is touched. */
  private acceptSpeedtest(hello: HelloMessage): void {
    admitSpeedtest(hello, this.ctx);
    this.log = this.log.child({ speedtest: true });
    this.discardSink = new DiscardSink(hello.size);
    this.moveTo('discard');
    this.log.info({ upTo: hello.size }, 'speedtest');
    this.socket.write(encodeMessage({ type: 'accept' }));
    this.socket.setTimeout(this.ctx.idleTimeoutMs);
    this.socket.resume();
    // Bytes that came with the header.
    const early = this.reader.readRaw(Number.MAX_SAFE_INTEGER);
    if (early) this.discardSink.take(early.length);
  }

  /** The speedtest sender half-closed: answer with what arrived. */
  private finishSpeedtest(): void {
    this.moveTo('done');
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    const bytes = this.received;
    this.log.info({ bytes, seconds: round(seconds), mbps: round(bytes / 1e6 / seconds) }, 'speedtest done');
    if (!this.socket.destroyed)
      this.socket.end(encodeMessage({ type: 'result', hash: '0'.repeat(16), bytes, path: '' }));
    this.resolve({ ok: true, name: '', path: '', bytes, hash: '', seconds, speedtest: true });
  }

  private async finish(senderHash: string): Promise<void> {
    const hello = this.hello!;
    await this.sink!.writer.whenIdle();
    if (!this.stillIn('finishing')) return; // a write failed
    const ours = this.hasher!.digest();
    if (ours !== senderHash) {
      throw new PlotferryError('PF_HASH_MISMATCH', `hash mismatch: sender ${senderHash}, receiver ${ours}`);
    }
    // Every byte is written and the socket reads into `scratch` from here on.
    this.sink!.recycle();
    // A plot is published only whole, as its header tells (from the page cache: a few reads).
    if (this.plotHeader) refuseUnwhole(await checkPlotFd(this.fd, hello.size), hello.name, this.ctx.verifyPlotHeader);
    const finalPath = path.join(this.reservation!.dir, hello.name);
    // Opened while the file syncs: one step less per file (storage/publish.ts).
    const dir = openDirForSync(this.reservation!.dir);
    const syncMs = await this.syncAndClose(dir);
    // The hash record first, of the file under its temporary name (the link keeps its inode and
    // mtime): a receiver killed right after the link leaves a copy whose record is there, so the
    // plotter that never heard RESULT can verify it instead of finding an unverifiable copy.
    const tempStat = await fsp.stat(this.tempPath!).catch(() => undefined);
    const recorded = tempStat ? writeHashRecord(finalPath, ours, tempStat) : Promise.resolve(false);
    await recorded;
    const { settled } = await publish(this.tempPath!, finalPath, this.log, () => recorded, dir);
    this.tempPath = undefined;
    // Stopped while it was published (abort() at shutdown answered, cut the socket and cleaned
    // up): the file is whole and stays, but this session has ended already, as failed.
    if (!this.stillIn('finishing')) {
      this.log.info({ path: finalPath }, 'stored after the session was stopped; the sender was told it failed');
      return;
    }
    this.moveTo('done');
    await this.answerStored(finalPath, ours, syncMs, settled);
  }

  /** The file synced and closed (close(2) too can report a write-back failure); the sync's ms. */
  private async syncAndClose(dir: ReturnType<typeof openDirForSync>): Promise<number> {
    const syncStart = process.hrtime.bigint();
    try {
      await fsyncFd(this.fd);
    } catch (err) {
      void dir.then(
        (d) => d.close(),
        () => undefined,
      );
      throw fromSystemError(err, `syncing ${this.tempPath}`);
    }
    const syncMs = Number(process.hrtime.bigint() - syncStart) / 1e6;
    metrics.finalSyncSeconds.observe({ dir: this.reservation!.dir }, syncMs / 1000);
    const fd = this.fd;
    this.fd = -1;
    try {
      // close(2) can report a write-back failure (EIO on NFS): that is the disk's failure.
      await closeFd(fd);
    } catch (err) {
      void dir.then(
        (d) => d.close(),
        () => undefined,
      );
      throw fromSystemError(err, `closing ${this.tempPath}`);
    }
    return syncMs;
  }

  /** Published: said in the log, RESULT to the sender, slots freed, and the outcome. */
  private async answerStored(
    finalPath: string,
    ours: string,
    syncMs: number,
    settled: Promise<boolean>,
  ): Promise<void> {
    const hello = this.hello!;
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    const writes = this.sink!.writer.site();
    this.log.info(
      {
        path: finalPath,
        bytes: hello.size,
        hash: ours,
        seconds: round(seconds),
        mbps: round((hello.size - this.resumedFrom) / 1e6 / seconds),
        ...(this.resumedFrom ? { resumedFrom: this.resumedFrom } : {}),
        ...(writes ? { writes } : {}),
        // The final fsync: what write-behind (--flush-every) leaves to write back.
        syncMs: round(syncMs),
        ...(this.sink!.writer.flushes ? { flushes: this.sink!.writer.flushes } : {}),
      },
      'stored',
    );
    const why = this.whyPlaced();
    if (!this.socket.destroyed)
      this.socket.end(
        encodeMessage({
          type: 'result',
          hash: ours,
          bytes: hello.size,
          path: finalPath,
          why: `${this.reservation!.dir}: ${why}`.slice(0, MAX_WHY),
        }),
      );
    this.releaseSlots();
    // The hash record and the temporary name's removal, while the sender hears RESULT.
    if (!(await settled)) this.log.warn({ path: finalPath }, 'stored, but its hash record could not be written');
    this.resolve({
      ok: true,
      name: hello.name,
      path: finalPath,
      bytes: hello.size,
      hash: ours,
      seconds,
      ...(this.plotHeader !== undefined ? { header: this.plotHeader } : {}),
      why,
      ...(writes ? { writes } : {}),
      ...(this.sink!.writer.flushes ? { flushes: this.sink!.writer.flushes } : {}),
    });
  }

  private onEnd(): void {
    if (this.state === 'discard') {
      try {
        return this.finishSpeedtest();
      } catch (err) {
        return this.fail(err);
      }
    }
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
    if (this.expectsBytes() && (this.sink?.writer.inFlight ?? 0) === 0) {
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
    if (!canMove(this.state, 'failed')) return; // ended already: a late event
    const error = this.asError(err);
    this.moveTo('failed');
    clearTimeout(this.headerTimer);
    this.socket.setTimeout(0);
    // A disk that failed a write, a sync or the rename leaves the rotation; the plot goes
    // elsewhere when it is sent again. (A disk that filled up mid-stream is seen by statfs.)
    if (error.code === 'PF_IO' || error.code === 'PF_PERMISSION') this.reservation?.fail(error);
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
    const done = () => this.resolve({ ok: false, name: this.hello?.name, bytes: this.received, error, quiet });
    this.cleanup(error).then(done, (cleanupErr) => {
      this.log.error({ err: cleanupErr }, 'cleanup after a failed transfer failed');
      done();
    });
  }

  /**
   * Why the file is where it is, from the reservation it was written under (and the disks that
   * failed before it). The plotter logs it beside the path (RESULT's why, with the directory in
   * front), so it must be the disk written's, not the reason a bid gave for another disk.
   */
  private whyPlaced(): string {
    const before = this.failedOver.length ? `${this.failedOver.join('; ')}; then ` : '';
    return `${before}${this.reservation!.why}`;
  }

  /**
   * Ours as they are. Anything else is a bug: the local log gets its stack, the peer a fixed
   * message (a stack trace never crosses the wire).
   */
  private asError(err: unknown): PlotferryError {
    if (err instanceof PlotferryError) return err;
    this.log.error({ err }, 'internal error while receiving; please report it with this log');
    return new PlotferryError('PF_INTERNAL', 'internal error on the receiver (its log has the details)', {
      cause: err,
    });
  }

  /**
   * Closes and removes the temporary file, or, after a broken connection (`error` resumable),
   * keeps its good bytes as a partial copy for a later transfer to continue from.
   */
  private async cleanup(error?: PlotferryError): Promise<void> {
    this.sink?.stop();
    await this.sink?.writer.whenIdle();
    await this.rehashing?.catch(() => undefined);
    const size = this.hello?.size ?? 0;
    const durable = this.sink?.writer.durable ?? this.resumedFrom;
    const keep =
      error !== undefined &&
      KEEPS_PARTIAL.has(error.code) &&
      (this.ctx.partialTtlMs ?? 0) > 0 &&
      this.fd >= 0 &&
      this.tempPath !== undefined &&
      durable > 0 &&
      durable <= size;
    const fd = this.fd;
    const temp = this.tempPath;
    this.fd = -1;
    this.tempPath = undefined;
    if (keep && (await keepPartial(fd, temp!, this.hello!.name, size, durable))) {
      this.log.info({ bytes: durable, of: size }, 'kept the good bytes for a resume');
    } else {
      if (fd >= 0 && !keep) await closeFd(fd).catch(() => undefined);
      if (temp) await fsp.rm(temp, { force: true });
    }
    this.releaseSlots();
  }

  private releaseSlots(): void {
    this.reservation?.release();
    if (this.heldName !== undefined) this.ctx.inflightNames.delete(this.heldName);
    this.heldName = undefined;
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * Throws PF_INCOMPLETE for a plot whose header says it holds more than the file, and (with
 * --verify-plot-header) PF_NOT_A_PLOT for one whose header does not fit it.
 */
function refuseUnwhole(end: PlotEnd | PlotCheck, name: string, strict: boolean | undefined): void {
  if (end.kind === 'incomplete')
    throw new PlotferryError('PF_INCOMPLETE', `${printable(name)} is not a whole plot: ${end.why}; nothing was kept`);
  if (end.kind === 'mismatch' && strict)
    throw new PlotferryError('PF_NOT_A_PLOT', `${printable(name)}: its header does not fit it: ${end.why}`);
}
