import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import { encodeFrame, FrameType, MAX_PAYLOAD, StreamReader } from '../../src/wire/frame.js';
import { decodeMessage, encodeMessage, Message } from '../../src/wire/wire-messages.js';

const hello: Message = { type: 'hello', token: 't0k', name: 'plot-k32-x.plot', size: 108_000_000_000, hash: 'xxh64' };

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PlotferryError, `expected a PlotferryError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected an error');
}

describe('frames', () => {
  it('lays out magic, version, type and a big-endian length', () => {
    const f = encodeFrame(FrameType.TRAILER, Buffer.from('{}'));
    assert.deepEqual([...f.subarray(0, 8)], [0x50, 0x46, 1, 3, 0, 0, 0, 2]);
  });

  it('decodes a frame fed one byte at a time, then raw bytes, then another frame', () => {
    const data = Buffer.from('raw file bytes');
    const stream = Buffer.concat([
      encodeMessage(hello),
      data,
      encodeMessage({ type: 'trailer', hash: '0123456789abcdef' }),
    ]);
    const r = new StreamReader();
    const got: Message[] = [];
    let raw = '';
    let wantRaw = 0;
    for (const byte of stream) {
      r.push(Buffer.from([byte]));
      if (wantRaw > 0) {
        const b = r.readRaw(wantRaw);
        if (b) {
          raw += b.toString();
          wantRaw -= b.length;
        }
        continue;
      }
      const f = r.readFrame();
      if (f) {
        const m = decodeMessage(f);
        got.push(m);
        if (m.type === 'hello') wantRaw = data.length;
      }
    }
    assert.deepEqual(got, [hello, { type: 'trailer', hash: '0123456789abcdef' }]);
    assert.equal(raw, 'raw file bytes');
    assert.equal(r.bufferedBytes, 0);
  });

  it('rejects wrong magic on the first byte, before the rest arrives', () => {
    const r = new StreamReader();
    r.push(Buffer.from('G'));
    assert.equal(
      code(() => r.readFrame()),
      'PF_PROTOCOL',
    );
  });

  it('rejects another protocol version with PF_VERSION', () => {
    const r = new StreamReader();
    r.push(Buffer.from([0x50, 0x46, 2]));
    assert.equal(
      code(() => r.readFrame()),
      'PF_VERSION',
    );
  });

  it('rejects an oversized header from its length field alone', () => {
    const r = new StreamReader();
    const h = Buffer.from([0x50, 0x46, 1, 1, 0, 0, 0, 0]);
    h.writeUInt32BE(MAX_PAYLOAD + 1, 4);
    r.push(h);
    assert.equal(
      code(() => r.readFrame()),
      'PF_HEADER_TOO_LARGE',
    );
  });

  it('accepts a payload of exactly MAX_PAYLOAD and refuses to encode more', () => {
    const r = new StreamReader();
    r.push(encodeFrame(FrameType.HELLO, Buffer.alloc(MAX_PAYLOAD, 0x20)));
    assert.equal(r.readFrame()?.payload.length, MAX_PAYLOAD);
    assert.equal(
      code(() => encodeFrame(FrameType.HELLO, Buffer.alloc(MAX_PAYLOAD + 1))),
      'PF_HEADER_TOO_LARGE',
    );
  });

  it('rejects unknown frame types', () => {
    const r = new StreamReader();
    r.push(Buffer.from([0x50, 0x46, 1, 99, 0, 0, 0, 0]));
    assert.equal(
      code(() => r.readFrame()),
      'PF_PROTOCOL',
    );
  });

  it('returns raw bytes as views without copying', () => {
    const r = new StreamReader();
    const chunk = Buffer.from('abcdef');
    r.push(chunk);
    const v = r.readRaw(4)!;
    assert.equal(v.toString(), 'abcd');
    assert.equal(v.buffer, chunk.buffer);
    assert.equal(r.readRaw(10)!.toString(), 'ef');
    assert.equal(r.readRaw(10), null);
  });
});

describe('messages', () => {
  const frame = (type: FrameType, body: unknown) => ({
    type,
    payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });

  it('round-trips every message kind', () => {
    const all: Message[] = [
      hello,
      { type: 'accept' },
      { type: 'trailer', hash: 'ffffffffffffffff' },
      { type: 'result', hash: '0000000000000001', bytes: 5, path: '/mnt/d1/x.plot' },
      { type: 'error', code: 'PF_DISK_FULL', message: 'full' },
    ];
    for (const m of all) {
      const r = new StreamReader();
      r.push(encodeMessage(m));
      assert.deepEqual(decodeMessage(r.readFrame()!), m);
    }
  });

  it('rejects payloads that are not JSON objects', () => {
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, 'not json'))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, [1, 2]))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, 'null'))),
      'PF_PROTOCOL',
    );
  });

  it('validates HELLO fields', () => {
    const ok = { token: 't', name: 'a.plot', size: 1, hash: 'xxh64' };
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, { ...ok, size: -1 }))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, { ...ok, size: 1.5 }))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, { ...ok, size: '1' }))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, { ...ok, size: 2 ** 60 }))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, { ...ok, token: 5 }))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.HELLO, { ...ok, hash: 'md5' }))),
      'PF_UNSUPPORTED_HASH',
    );
  });

  it('validates trailer hashes as 16 hex digits', () => {
    assert.equal(
      code(() => decodeMessage(frame(FrameType.TRAILER, { hash: 'xyz' }))),
      'PF_PROTOCOL',
    );
    assert.equal(
      code(() => decodeMessage(frame(FrameType.TRAILER, { hash: '0123456789ABCDEF' }))),
      'PF_PROTOCOL',
    );
  });

  // An unknown code became PF_INTERNAL ("an internal bug"), and the peer's code was lost.
  it('maps an unknown error code from a newer peer to PF_UNKNOWN, keeping its code and message', () => {
    const m = decodeMessage(frame(FrameType.ERROR, { code: 'PF_FROM_THE_FUTURE', message: 'x' }));
    assert.deepEqual(m, { type: 'error', code: 'PF_UNKNOWN', message: 'PF_FROM_THE_FUTURE: x' });
  });
});
