/** Seeded randomness for fuzz tests: the seed is printed, and PLOTFERRY_FUZZ_SEED replays it. */
export interface Rng {
  seed: number;
  /** [0, 1) */
  next(): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  bytes(n: number): Buffer;
}

export function fuzzSeed(): number {
  const env = process.env.PLOTFERRY_FUZZ_SEED;
  return env ? Number(env) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    pick: (xs) => xs[int(xs.length)]!,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
  };
}

/** Values that break validators: wrong types, edges, hostile strings. */
export const NASTY: readonly unknown[] = [
  null,
  undefined,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  2 ** 60,
  Number.MAX_VALUE,
  '',
  ' ',
  '0',
  '-1',
  '../../x',
  '/etc/passwd',
  'a/b.plot',
  '.hidden',
  'x\u0000y',
  'x'.repeat(300),
  'é.plot',
  '\u202e.plot',
  '*',
  '>',
  'a.b',
  [],
  ['x'],
  {},
  { toString: 'x' },
];

/** Flips `n` random bytes of `b` (a copy), or truncates it, or appends junk. */
export function mutateBytes(r: Rng, b: Buffer): Buffer {
  const out = Buffer.from(b);
  switch (r.int(4)) {
    case 0:
      for (let i = r.int(4) + 1; i > 0 && out.length > 0; i--) {
        const at = r.int(out.length); // the index is drawn before the bit, so an old seed replays the same case
        out[at] = out[at]! ^ (1 << r.int(8));
      }
      return out;
    case 1:
      return out.subarray(0, r.int(out.length + 1));
    case 2:
      return Buffer.concat([out, r.bytes(r.int(64))]);
    default:
      return out;
  }
}

/** A copy of `o` with one to three fields replaced by nasty values, removed, or added. */
export function mutateObject(r: Rng, o: Record<string, unknown>): Record<string, unknown> {
  const m: Record<string, unknown> = { ...o };
  const keys = Object.keys(m);
  for (let i = r.int(3) + 1; i > 0; i--) {
    const k = r.next() < 0.8 ? r.pick(keys) : r.pick(['extra', 'constructor', 'v', 'kind', 'type']);
    if (r.next() < 0.15) delete m[k];
    else m[k] = r.pick(NASTY);
  }
  return m;
}
