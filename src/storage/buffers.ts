/**
 * Page-aligned transfer buffers.
 *
 * Why: `Buffer.allocUnsafeSlow(512 KiB)` comes from malloc, which serves large blocks from their
 * own mmap with a 16-byte header, so the buffer starts 16 bytes past a page boundary. A kernel
 * copy from a page-aligned page-cache page into a destination 16 bytes further on hits 4K
 * aliasing (each load matches the low 12 address bits of the store just made) and runs about 4x
 * slower. Measured on this machine, `readSync` of a 2 GiB file in /dev/shm in 512 KiB blocks:
 * 1,930 MB/s with 1.09 s of system CPU into an allocUnsafeSlow buffer, 7,100 MB/s with 0.30 s
 * into a page-aligned one (Python and the same buffer at offset 16 reproduce the slow case;
 * `dd`, whose buffers are page-aligned, the fast one). A minimal sender went from ~1,700 to
 * ~2,700 MB/s over loopback with nothing else changed.
 *
 * Node has no aligned allocator and does not expose a buffer's address, but WebAssembly memory
 * is allocated in whole pages, so buffers carved from it at multiples of 64 KiB start on a page
 * boundary. The memory is never grown (growing would detach the buffers).
 */

const WASM_PAGE = 64 * 1024;

// The WebAssembly global's types live in TypeScript's DOM libs, which this Node project leaves out.
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } };

/** `count` buffers of `size` bytes, each starting on a page boundary, from one allocation. */
export function alignedBuffers(count: number, size: number): Buffer[] {
  if (count <= 0 || size <= 0) return [];
  const stride = Math.ceil(size / WASM_PAGE) * WASM_PAGE;
  const memory = new WebAssembly.Memory({ initial: (stride * count) / WASM_PAGE });
  return Array.from({ length: count }, (_, i) => Buffer.from(memory.buffer, i * stride, size));
}
