/**
 * plotferry wire protocol, version 1: framing. Pure code, no I/O.
 *
 * Control messages travel as frames; the file itself travels raw (no framing, no overhead)
 * between the ACCEPT and the TRAILER, exactly `size` bytes long.
 *
 *   byte 0-1  magic   0x50 0x46 ("PF")
 *   byte 2    version 0x01
 *   byte 3    type    1 HELLO, 2 ACCEPT, 3 TRAILER, 4 RESULT, 5 ERROR, 6 PROGRESS
 *   byte 4-7  length  u32 big-endian, payload bytes that follow (0 .. MAX_PAYLOAD)
 *   byte 8-   payload UTF-8 JSON object
 */
import { PlotferryError } from '../core/errors.js';

export const MAGIC0 = 0x50; // 'P'
export const MAGIC1 = 0x46; // 'F'
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 8;
/** Headers are small JSON objects; anything larger is hostile or broken. */
export const MAX_PAYLOAD = 64 * 1024;

export enum FrameType {
  HELLO = 1,
  ACCEPT = 2,
  TRAILER = 3,
  RESULT = 4,
  ERROR = 5,
  PROGRESS = 6,
}

export interface Frame {
  type: FrameType;
  payload: Buffer;
}

export function encodeFrame(type: FrameType, payload: Buffer): Buffer {
  if (payload.length > MAX_PAYLOAD) {
    throw new PlotferryError('PF_HEADER_TOO_LARGE', `frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  }
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out[0] = MAGIC0;
  out[1] = MAGIC1;
  out[2] = PROTOCOL_VERSION;
  out[3] = type;
  out.writeUInt32BE(payload.length, 4);
  payload.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Incremental reader over a byte stream that mixes frames and raw data. The caller decides
 * what comes next: `readFrame()` when a frame is due, `readRaw(n)` while file bytes are due.
 * Raw reads return sub-arrays of the pushed chunks (no copy); only frames split across chunks
 * are copied, and they are small.
 */
export class StreamReader {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private buffered = 0;

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * Returns the next frame if it is wholly buffered, null if more bytes are needed.
   * Throws PF_PROTOCOL / PF_VERSION / PF_HEADER_TOO_LARGE as soon as the first bytes prove
   * the stream wrong, before waiting for the rest.
   */
  readFrame(): Frame | null {
    const have = this.buffered;
    if (have === 0) return null;
    // Check what we can as early as we can: one byte may already be wrong.
    if (this.peekByte(0) !== MAGIC0 || (have > 1 && this.peekByte(1) !== MAGIC1)) {
      throw new PlotferryError('PF_PROTOCOL', 'expected a plotferry frame (magic "PF"), got other bytes');
    }
    if (have > 2 && this.peekByte(2) !== PROTOCOL_VERSION) {
      throw new PlotferryError(
        'PF_VERSION',
        `peer speaks plotferry protocol version ${this.peekByte(2)}, this end speaks ${PROTOCOL_VERSION}`,
      );
    }
    if (have < FRAME_HEADER_BYTES) return null;
    const type = this.peekByte(3);
    if (!(type in FrameType) || typeof FrameType[type] !== 'string') {
      throw new PlotferryError('PF_PROTOCOL', `unknown frame type ${type}`);
    }
    const len =
      ((this.peekByte(4) << 24) >>> 0) + (this.peekByte(5) << 16) + (this.peekByte(6) << 8) + this.peekByte(7);
    if (len > MAX_PAYLOAD) {
      throw new PlotferryError('PF_HEADER_TOO_LARGE', `frame of ${len} bytes exceeds the ${MAX_PAYLOAD}-byte limit`);
    }
    if (have < FRAME_HEADER_BYTES + len) return null;
    this.skip(FRAME_HEADER_BYTES);
    const payload = this.take(len);
    return { type: type as FrameType, payload };
  }

  /** Up to `max` buffered bytes, as a view into a pushed chunk; null when nothing is buffered. */
  readRaw(max: number): Buffer | null {
    if (this.buffered === 0 || max <= 0) return null;
    const first = this.chunks[0]!;
    const avail = first.length - this.head;
    const n = Math.min(avail, max);
    const out = first.subarray(this.head, this.head + n);
    this.advance(n);
    return out;
  }

  private peekByte(i: number): number {
    let idx = 0;
    let off = this.head + i;
    while (off >= this.chunks[idx]!.length) {
      off -= this.chunks[idx]!.length;
      idx++;
    }
    return this.chunks[idx]![off]!;
  }

  private skip(n: number): void {
    while (n > 0) {
      const first = this.chunks[0]!;
      const step = Math.min(n, first.length - this.head);
      this.advance(step);
      n -= step;
    }
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let w = 0;
    while (w < n) {
      const c = this.chunks[0]!;
      const step = Math.min(n - w, c.length - this.head);
      c.copy(out, w, this.head, this.head + step);
      this.advance(step);
      w += step;
    }
    return out;
  }

  private advance(n: number): void {
    this.head += n;
    this.buffered -= n;
    if (this.head === this.chunks[0]!.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
