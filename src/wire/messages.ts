/**
 * The control messages of protocol v1, as a discriminated union, with their encoding and the
 * validation of what arrives. Pure code, no I/O. Each message is one frame (see frame.ts) whose
 * payload is a JSON object; unknown fields are ignored so later versions can add some.
 *
 *   sender                                 receiver
 *   HELLO {token,name,size,hash}   ───▶
 *                                  ◀───    ACCEPT {}            or ERROR {code,message}
 *   <size raw bytes>               ───▶
 *   TRAILER {hash}                 ───▶
 *                                  ◀───    RESULT {hash,bytes,path}  or ERROR {code,message}
 *
 * The receiver may send ERROR at any point (disk full mid-stream); the sender stops then.
 */
import { ErrorCode, isErrorCode, PlotferryError } from '../errors.js';
import { encodeFrame, Frame, FrameType } from './frame.js';

export const HASH_ALGORITHMS = ['xxh64'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

export interface HelloMessage {
  type: 'hello';
  token: string;
  name: string;
  size: number;
  hash: HashAlgorithm;
}
export interface AcceptMessage {
  type: 'accept';
}
export interface TrailerMessage {
  type: 'trailer';
  hash: string;
}
export interface ResultMessage {
  type: 'result';
  hash: string;
  bytes: number;
  path: string;
}
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
}
export type Message = HelloMessage | AcceptMessage | TrailerMessage | ResultMessage | ErrorMessage;

const TYPE_OF: Record<Message['type'], FrameType> = {
  hello: FrameType.HELLO,
  accept: FrameType.ACCEPT,
  trailer: FrameType.TRAILER,
  result: FrameType.RESULT,
  error: FrameType.ERROR,
};

export function encodeMessage(msg: Message): Buffer {
  const { type, ...body } = msg;
  return encodeFrame(TYPE_OF[type], Buffer.from(JSON.stringify(body), 'utf8'));
}

/** Hex digest of a 64-bit hash: 16 lowercase hex digits. */
const HASH_RE = /^[0-9a-f]{16}$/;

function bad(what: string): never {
  throw new PlotferryError('PF_PROTOCOL', `malformed message: ${what}`);
}

function str(o: Record<string, unknown>, k: string, max = 4096): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max) bad(`field "${k}" must be a string`);
  return v;
}

function size(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`field "${k}" must be a whole number >= 0`);
  return v;
}

function hash(o: Record<string, unknown>, k: string): string {
  const v = str(o, k, 64);
  if (!HASH_RE.test(v)) bad(`field "${k}" must be 16 hex digits`);
  return v;
}

/** Validates a frame's payload into a typed message; throws PF_PROTOCOL on anything off. */
export function decodeMessage(frame: Frame): Message {
  let o: unknown;
  try {
    o = JSON.parse(frame.payload.toString('utf8'));
  } catch {
    bad('payload is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad('payload is not a JSON object');
  const m = o as Record<string, unknown>;
  switch (frame.type) {
    case FrameType.HELLO: {
      const alg = str(m, 'hash', 32);
      if (!(HASH_ALGORITHMS as readonly string[]).includes(alg)) {
        throw new PlotferryError(
          'PF_UNSUPPORTED_HASH',
          `hash algorithm "${alg.slice(0, 32)}" is not supported (this end has ${HASH_ALGORITHMS.join(', ')})`,
        );
      }
      // The name is validated as a file name by the receiver, which answers PF_BAD_NAME.
      return {
        type: 'hello',
        token: str(m, 'token', 1024),
        name: str(m, 'name', 1024),
        size: size(m, 'size'),
        hash: alg as HashAlgorithm,
      };
    }
    case FrameType.ACCEPT:
      return { type: 'accept' };
    case FrameType.TRAILER:
      return { type: 'trailer', hash: hash(m, 'hash') };
    case FrameType.RESULT:
      return { type: 'result', hash: hash(m, 'hash'), bytes: size(m, 'bytes'), path: str(m, 'path') };
    case FrameType.ERROR: {
      const code = str(m, 'code', 64);
      return { type: 'error', code: isErrorCode(code) ? code : 'PF_INTERNAL', message: str(m, 'message', 4096) };
    }
  }
}

export function errorMessage(err: PlotferryError): ErrorMessage {
  return { type: 'error', code: err.code, message: err.message };
}
