/**
 * Streaming XXH64 (seed 0). One instance per transfer; `update` is called in file order.
 *
 * Two implementations with the same digest:
 * - native, `@node-rs/xxhash` (a prebuilt N-API binding): reads the buffer in place. Measured
 *   here at ~12 GB/s on one core.
 * - `xxhash-wasm`: copies every input into WebAssembly memory first; ~6.4-8.9 GB/s on large
 *   inputs, less on small ones.
 * The native one is used when its binary loads (npm installs the one for this platform); else
 * xxhash-wasm, so plotferry still runs where no prebuilt binary exists. Both ends of a transfer
 * may use either. PLOTFERRY_HASH_IMPL=wasm forces the fallback (tests and the bench compare them).
 */
import fs, { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import type xxhash from 'xxhash-wasm';
import type { HashAlgorithm } from '../wire/wire-messages.js';
import { alignedBuffers } from '../storage/buffers.js';
import { readAt } from '../storage/fsio.js';
import { assertUnchanged, openSource, SourceId } from '../storage/source.js';

export interface Hasher {
  update(data: Uint8Array): void;
  /** 16 lowercase hex digits. */
  digest(): string;
}

export type HashImplementation = 'native' | 'wasm';

interface NativeXxh64 {
  update(input: Uint8Array): unknown;
  digest(): bigint;
}
type NativeModule = { Xxh64: new () => NativeXxh64 };

let native: NativeModule | null | undefined;
let wasm: Awaited<ReturnType<typeof xxhash>> | undefined;

function loadNative(): NativeModule | null {
  if (native !== undefined) return native;
  if (process.env.PLOTFERRY_HASH_IMPL === 'wasm') return (native = null);
  try {
    native = createRequire(import.meta.url)('@node-rs/xxhash') as NativeModule;
  } catch {
    native = null;
  }
  return native;
}

/** Which implementation createHasher() uses in this process. */
export function hashImplementation(): HashImplementation {
  return loadNative() ? 'native' : 'wasm';
}

const hex = (v: bigint) => v.toString(16).padStart(16, '0');

export async function createHasher(
  alg: HashAlgorithm = 'xxh64',
  impl: HashImplementation = hashImplementation(),
): Promise<Hasher> {
  switch (alg) {
    case 'xxh64': {
      const mod = impl === 'native' ? loadNative() : null;
      if (impl === 'native' && !mod) throw new Error('the native xxhash binding did not load');
      if (mod) {
        const h = new mod.Xxh64();
        return { update: (data) => void h.update(data), digest: () => hex(h.digest()) };
      }
      // Loaded only where the native binding is missing: most processes never need it.
      wasm ??= await (await import('xxhash-wasm')).default();
      const h = wasm.create64();
      return { update: (data) => void h.update(data), digest: () => hex(h.digest()) };
    }
  }
}

/** XXH64 of a whole file, read in 4 MiB steps (to check a copy's recorded hash against it). */
export async function hashFile(file: string): Promise<string> {
  const fh = await fsp.open(file, 'r');
  try {
    return await hashFd(fh.fd);
  } finally {
    await fh.close();
  }
}

/**
 * XXH64 of a plot's source, with its identity (storage/source.ts): taken before the first read
 * and checked after the last, so the hash is of the file `id` describes (PF_SOURCE_CHANGED else).
 */
export async function hashSource(file: string): Promise<{ hash: string; id: SourceId }> {
  const { fd, id } = await openSource(file);
  try {
    const hash = await hashFd(fd);
    await assertUnchanged(fd, file, id, 'while it was hashed');
    return { hash, id };
  } finally {
    fs.close(fd, () => undefined);
  }
}

/** XXH64 of the open file `fd`, from its first byte to its end, in 4 MiB reads. */
async function hashFd(fd: number): Promise<string> {
  const h = await createHasher('xxh64');
  const [buf] = alignedBuffers(1, 4 * 1024 * 1024);
  for (let pos = 0; ;) {
    const n = await readAt(fd, buf!, buf!.length, pos);
    if (n === 0) break;
    h.update(buf!.subarray(0, n));
    pos += n;
  }
  return h.digest();
}
