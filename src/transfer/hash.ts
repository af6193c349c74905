/**
 * Streaming XXH64 over xxhash-wasm. One instance per transfer; `update` is called in file order.
 * xxhash-wasm copies each input into WebAssembly memory: feeding it the large read buffers
 * (MiBs) rather than 64 KiB socket chunks is measurably faster (PERF-NOTES: ~5.4 GB/s at
 * 64 KiB vs ~7 GB/s at 1 MiB).
 */
import xxhash from 'xxhash-wasm';
import type { HashAlgorithm } from '../wire/messages.js';

export interface Hasher {
  update(data: Uint8Array): void;
  /** 16 lowercase hex digits. */
  digest(): string;
}

let api: Awaited<ReturnType<typeof xxhash>> | undefined;

export async function createHasher(alg: HashAlgorithm = 'xxh64'): Promise<Hasher> {
  switch (alg) {
    case 'xxh64': {
      api ??= await xxhash();
      const h = api.create64();
      return {
        update(data) {
          h.update(data);
        },
        digest() {
          return h.digest().toString(16).padStart(16, '0');
        },
      };
    }
  }
}
