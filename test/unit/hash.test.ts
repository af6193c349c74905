import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alignedBuffers, BufferPool } from '../../src/storage/buffers.js';
import { createHasher, hashImplementation } from '../../src/transfer/hash.js';

// Reference digests of XXH64, seed 0 (the xxHash project's own sanity values).
const VECTORS: [string, string][] = [
  ['', 'ef46db3751d8e999'],
  ['a', 'd24ec4f1a98c6e5b'],
  ['abc', '44bc2cf5ad770999'],
];

/** 3 MiB + 77 bytes of a fixed pattern, hashed in uneven pieces. */
function pattern(): Buffer {
  const b = Buffer.alloc(3 * 1024 * 1024 + 77);
  for (let i = 0; i < b.length; i++) b[i] = (i * 2654435761) >>> 13;
  return b;
}

describe('hash', () => {
  it('this machine loads the native binding (npm installs the prebuilt one for linux-x64)', () => {
    assert.equal(hashImplementation(), process.env.PLOTFERRY_HASH_IMPL === 'wasm' ? 'wasm' : 'native');
  });

  for (const impl of ['native', 'wasm'] as const) {
    it(`${impl}: XXH64 reference vectors`, async () => {
      for (const [input, want] of VECTORS) {
        const h = await createHasher('xxh64', impl);
        h.update(Buffer.from(input));
        assert.equal(h.digest(), want, `XXH64(${JSON.stringify(input)})`);
      }
    });
  }

  it('native and wasm agree on a large input fed in uneven pieces', async () => {
    const data = pattern();
    const digests = [];
    for (const impl of ['native', 'wasm'] as const) {
      const h = await createHasher('xxh64', impl);
      for (let i = 0; i < data.length; i += 100_003) h.update(data.subarray(i, i + 100_003));
      digests.push(h.digest());
    }
    const whole = await createHasher('xxh64', 'wasm');
    whole.update(data);
    assert.equal(digests[0], whole.digest());
    assert.equal(digests[1], whole.digest());
  });
});

describe('aligned buffers', () => {
  it('gives separate buffers of the asked size that do not overlap', () => {
    const bufs = alignedBuffers(3, 100_000);
    assert.deepEqual(
      bufs.map((b) => b.length),
      [100_000, 100_000, 100_000],
    );
    bufs.forEach((b, i) => b.fill(i + 1));
    bufs.forEach((b, i) => assert.ok(b.every((x) => x === i + 1)));
    // Each starts at a multiple of a WebAssembly page within its memory, hence on a page boundary.
    bufs.forEach((b) => assert.equal(b.byteOffset % 65536, 0));
  });
});

describe('buffer pool', () => {
  it('gives back the buffers it was given, before allocating new ones, page-aligned either way', () => {
    const pool = new BufferPool(10 * 65536);
    const first = pool.take(2, 65536);
    assert.equal(first.length, 2);
    pool.give(first);
    assert.equal(pool.held, 2 * 65536);
    const again = pool.take(3, 65536);
    assert.ok(
      first.every((b) => again.includes(b)),
      'the idle ones are reused',
    );
    assert.equal(again.filter((b) => !first.includes(b)).length, 1, 'the rest are new');
    again.forEach((b) => assert.equal(b.byteOffset % 65536, 0));
    assert.equal(pool.held, 0);
    assert.equal(pool.take(1, 4096)[0]!.length, 4096, 'another size is another shelf');
  });

  it('never shelves a buffer twice (it would go to two transfers at once), and caps what it keeps', () => {
    const pool = new BufferPool(3 * 65536);
    const [b] = pool.take(1, 65536);
    pool.give([b!]);
    pool.give([b!]);
    assert.equal(pool.held, 65536);
    const two = pool.take(2, 65536);
    assert.notEqual(two[0], two[1]);
    pool.give([...two, ...pool.take(3, 65536)]);
    assert.equal(pool.held, 3 * 65536, 'beyond the cap, buffers are left to the garbage collector');
  });
});
