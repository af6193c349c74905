const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/**
 * Sizes as people read them: binary units, one decimal, rounded to the nearest. A figure that
 * rounds to 1024.0 of a unit is said in the next one (1023.96 KiB is "1.0 MiB"), so that a
 * larger size never reads smaller.
 */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (u < UNITS.length - 1 && (u === 0 ? v >= 1024 : Number(v.toFixed(1)) >= 1024)) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${UNITS[u]}`;
}

/** Every byte, with thousands separators: "5,234,688 bytes". */
export function formatExactBytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes`;
}

/**
 * Sizes a reader will compare with one another (free space beside a plot's size), each as
 * formatBytes says it, unless two that differ would read the same ("5.0 MiB free" beside a
 * 5.0 MiB plot that does not fit): then all of them in exact bytes. Rounding to the nearest
 * keeps the order, so figures that read differently compare as the sizes do.
 */
export function formatBytesAll(ns: readonly number[]): string[] {
  const rounded = ns.map(formatBytes);
  const valueOf = new Map<string, number>();
  for (let i = 0; i < ns.length; i++) {
    const seen = valueOf.get(rounded[i]!);
    if (seen !== undefined && seen !== ns[i]) return ns.map(formatExactBytes);
    valueOf.set(rounded[i]!, ns[i]!);
  }
  return rounded;
}
