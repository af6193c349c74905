/**
 * Sends one file over one TCP connection (protocol: wire/wire-messages.ts).
 *
 * Data path: a fixed pool of page-aligned read buffers (default 8 x 512 KiB, reused from one
 * transfer to the next; why aligned and why reused: buffers.ts).
 * Every free buffer is filled by a positional read, hashed and handed to the socket in file
 * order; a buffer goes back to the pool only when the socket has taken it (write callback), so
 * up to the whole pool is in flight to the kernel while the next buffer is read. Memory is the
 * pool whatever the file size, nothing is copied in user space, and the socket's back-pressure
 * reaches the reads.
 *
 * Reads run on the event loop (readAtSync), not the libuv thread pool: earlier versions kept
 * several pool reads in flight, and measured against them (2 GiB, loopback, 6 paired runs) reads
 * on the loop cost 8-18% less sender CPU, at equal or better MB/s. The bytes a read brings are
 * then still in this core's cache when they are hashed and copied into the socket. A read from
 * page cache or NVMe takes well under a millisecond, so nothing else waits on it noticeably.
 *
 * The source is never modified here; `--move` (deleting after RESULT, storage/source.ts) is the
 * caller's choice. Its identity is taken before the first read and checked after the last one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromSystemError, PlotferryError } from '../core/errors.js';
import { encodeMessage, HashAlgorithm, ResultMessage } from '../wire/wire-messages.js';
import { validatePlotName } from '../wire/names.js';
import { transferBuffers } from '../storage/buffers.js';
import { readAtSync } from '../storage/fsio.js';
import { assertUnchanged, openSource, sourceChange, SourceId } from '../storage/source.js';
import { Connection, ConnectOptions, unexpected } from './connection.js';
import { createHasher } from './hash.js';
import type { Pacer } from './pace.js';

/**
 * 8 x 512 KiB: on loopback to tmpfs (2 cores, 1 MiB L2 each) this sent 2 GiB at ~740 MB/s
 * against ~590 MB/s for 4 x 4 MiB, with less CPU: a buffer that fits L2 is still cached when it
 * is hashed and copied into the socket.
 */
export const DEFAULT_BUFFER_SIZE = 512 * 1024;
export const DEFAULT_BUFFERS = 8;

export interface SendOptions extends ConnectOptions {
  token: string;
  file: string;
  /** Name on the receiver; the file's base name by default. */
  name?: string;
  hash?: HashAlgorithm;
  bufferSize?: number;
  buffers?: number;
  /** Longest wait for the receiver's verdict after the trailer (it fsyncs first). */
  resultTimeoutMs?: number;
  onProgress?: (bytesSent: number, size: number) => void;
  /** Continue from a receiver's partial copy when it has one (default true). */
  resume?: boolean;
  /** `--bwlimit`: caps the rate, shared with every transfer given the same pacer. */
  pacer?: Pacer;
  /** The token of our lock beside the source, for a receiver that holds the name (wire/same-file-probe.ts). */
  probe?: string;
  /** The announce whose bid's offer this transfer takes up (farm/offers.ts). */
  offer?: string;
  /** Every byte and the trailer are handed to the socket; the receiver's verdict is awaited next. */
  onSent?: () => void;
  /**
   * The source as the plotter judged it (storage/plot-file.ts sendableSource): the transfer sends
   * it only while the file under its name is still that one (PF_SOURCE_CHANGED else).
   */
  expectSource?: SourceId;
}

export interface SendResult {
  name: string;
  file: string;
  bytes: number;
  seconds: number;
  hash: string;
  remotePath: string;
  /** Where this transfer started: the bytes the receiver held already (0: from the start). */
  resumedFrom: number;
  /** Bytes that crossed the network this time. */
  bytesSent: number;
  /** The source as it was when its bytes were read: `--move` deletes it only while it still is. */
  source: SourceId;
  /** Why the receiver chose the disk it wrote to, as its RESULT says (absent: it did not say). */
  why?: string;
}

export async function sendFile(opts: SendOptions): Promise<SendResult> {
  const name = validatePlotName(opts.name ?? path.basename(opts.file));
  const { fd, id } = await openSource(opts.file);
  try {
    const size = Number(id.size);
    const change = opts.expectSource && sourceChange(opts.expectSource, id);
    if (change) throw new PlotferryError('PF_SOURCE_CHANGED', `${opts.file} changed after it was checked: ${change}`);
    const conn = await Connection.open(opts);
    // The read buffers that are free: a buffer goes into the socket and comes back here in its
    // write callback, so what is here at the end no write refers to (storage/buffers.ts).
    const buffers: Buffer[] = [];
    try {
      const started = process.hrtime.bigint();
      const resume = opts.resume !== false;
      conn.send(
        encodeMessage({
          type: 'hello',
          token: opts.token,
          name,
          size,
          hash: opts.hash ?? 'xxh64',
          ...(resume ? { resume } : {}),
          ...(opts.probe ? { probe: opts.probe } : {}),
          ...(opts.offer ? { offer: opts.offer } : {}),
        }),
      );
      const answer = await conn.nextMessage(opts.idleTimeoutMs ?? 60_000, "the receiver's answer to the header");
      if (answer.type !== 'accept') throw unexpected(answer, 'ACCEPT');
      const offset = answer.offset ?? 0;
      if (offset > size || (offset > 0 && !resume))
        throw new PlotferryError('PF_PROTOCOL', `the receiver offered to resume at ${offset} of ${size} bytes`);
      const hash = await streamBody(conn, fd, size, opts, offset, buffers);
      // A plot written to while we read it is not the plot we hashed: no trailer, so the
      // receiver never gives it a final name (it removes its temporary file).
      await assertUnchanged(fd, opts.file, id, 'while it was sent');
      conn.send(encodeMessage({ type: 'trailer', hash }));
      opts.onSent?.();
      const result = await conn.nextMessage(opts.resultTimeoutMs ?? 600_000, "the receiver's verdict");
      if (result.type !== 'result') throw unexpected(result, 'RESULT');
      checkResult(result, hash, size);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return {
        name,
        file: opts.file,
        bytes: size,
        seconds,
        hash,
        remotePath: result.path,
        resumedFrom: offset,
        bytesSent: size - offset,
        source: id,
        ...(result.why !== undefined ? { why: result.why } : {}),
      };
    } finally {
      conn.close();
      transferBuffers.give(buffers.splice(0));
    }
  } finally {
    fs.close(fd, () => undefined);
  }
}

function checkResult(r: ResultMessage, hash: string, size: number): void {
  if (r.hash !== hash || r.bytes !== size) {
    throw new PlotferryError(
      'PF_HASH_MISMATCH',
      `the receiver reported ${r.bytes} bytes with hash ${r.hash}; sent ${size} with ${hash}`,
    );
  }
}

/**
 * Streams bytes `offset` to `size` of `fd` into the connection; returns the hash of the whole
 * file. The first `offset` bytes (the receiver's partial copy) are read and hashed, not sent.
 */
async function streamBody(
  conn: Connection,
  fd: number,
  size: number,
  opts: SendOptions,
  offset: number,
  free: Buffer[],
): Promise<string> {
  const hasher = await createHasher(opts.hash ?? 'xxh64');
  if (size === 0) return hasher.digest();
  const bufSize = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
  const nBufs = Math.max(2, Math.min(opts.buffers ?? DEFAULT_BUFFERS, Math.ceil(size / bufSize)));
  // Reused from the last transfer; given back by sendFile once the receiver answered.
  free.push(...transferBuffers.take(nBufs, bufSize));
  // Bytes read and sent (below `offset`: read and skipped). Each read is handed on before the
  // next one, so this is also where the next read starts.
  let sent = 0;
  let bufferBack: (() => void) | undefined;

  /** Paces (--bwlimit), then hands `view` (part of `buf`) to the socket; `buf` comes back after. */
  const send = async (buf: Buffer, view: Buffer) => {
    const wait = opts.pacer?.book(view.length) ?? 0;
    if (wait > 0) await conn.race(new Promise<void>((res) => setTimeout(res, wait)));
    sent += view.length;
    conn.write(view, () => {
      free.push(buf);
      opts.onProgress?.(sent, size);
      const b = bufferBack;
      bufferBack = undefined;
      b?.();
    });
  };

  while (sent < size) {
    conn.throwIfFailed();
    const buf = free.pop();
    if (!buf) {
      // Every buffer is in the socket: wait for one to come back (or for the connection to fail).
      await conn.race(new Promise<void>((r) => (bufferBack = r)));
      continue;
    }
    const want = Math.min(buf.length, size - sent);
    let n: number;
    try {
      n = readAtSync(fd, buf, want, sent);
    } catch (err) {
      throw fromSystemError(err, `reading ${opts.file}`, 'PF_SOURCE');
    }
    if (n !== want) {
      throw new PlotferryError(
        'PF_SOURCE_CHANGED',
        `${opts.file} is shorter than when the transfer started (${sent + n} of ${size} bytes)`,
      );
    }
    const view = n === buf.length ? buf : buf.subarray(0, n);
    hasher.update(view);
    if (sent < offset) {
      // The receiver's partial copy: hashed here, not sent.
      const take = Math.min(n, offset - sent);
      sent += take;
      if (take === n) {
        free.push(buf);
        continue;
      }
      // A read that straddles the offset: its tail is sent.
      await send(buf, view.subarray(take));
      continue;
    }
    await send(buf, view);
  }
  return hasher.digest();
}
