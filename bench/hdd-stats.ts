/**
 * The hdd scenario's arithmetic, apart from its I/O: what a cgroup's blkio counters say, when a
 * disk has gone quiet, and percentiles of a reader's latencies over a window.
 */

/**
 * Reads serviced for device `majMin` ("7:0"), from a cgroup v1 `blkio.throttle.io_serviced` (a
 * line "7:0 Read 123" per device); 0 when the device has none yet (no line for it).
 */
export function readsOf(ioServiced: string, majMin: string): number {
  for (const line of ioServiced.split('\n')) {
    const [dev, op, n] = line.trim().split(/\s+/);
    if (dev === majMin && op === 'Read') return Number(n);
  }
  return 0;
}

/**
 * Follows a read counter sampled over time, to tell when a disk has gone quiet: no new read
 * for `quietMs` (the process may still be running). `lastReadMs` is when the counter last moved,
 * from the start; undefined while it has not moved at all.
 */
export class QuietWatch {
  private last?: number;
  private lastAt?: number;
  private readonly t0: number;

  constructor(
    private readonly quietMs: number,
    now: number,
  ) {
    this.t0 = now;
  }

  /** A sample of the counter at `now` (ms); true once the disk has been quiet for quietMs. */
  sample(reads: number, now: number): boolean {
    if (this.last === undefined) this.last = reads;
    else if (reads !== this.last) {
      this.last = reads;
      this.lastAt = now;
    }
    return now - (this.lastAt ?? this.t0) >= this.quietMs;
  }

  get lastReadMs(): number | undefined {
    return this.lastAt === undefined ? undefined : this.lastAt - this.t0;
  }
}

export interface Latencies {
  /** Reads timed in the window. */
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** When the slowest read started, in ms from the window's start. */
  maxStartMs: number;
}

/**
 * Percentiles (nearest rank) of the latencies, in ms, of the reads that ended within [from, to]
 * (ms, the clock of the samples). undefined when no read ended in it.
 */
export function latencies(
  samples: readonly { at: number; ms: number }[],
  from: number,
  to: number,
): Latencies | undefined {
  const inside = samples.filter((s) => s.at >= from && s.at <= to);
  if (inside.length === 0) return undefined;
  const ms = inside.map((s) => s.ms).sort((a, b) => a - b);
  const slowest = inside.reduce((a, b) => (b.ms > a.ms ? b : a));
  const rank = (q: number) => ms[Math.max(0, Math.ceil(q * ms.length) - 1)]!;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    n: ms.length,
    p50: r2(rank(0.5)),
    p99: r2(rank(0.99)),
    max: r2(slowest.ms),
    maxStartMs: Math.round(slowest.at - slowest.ms - from),
  };
}

/** A reader's log: one line per read, "END_MS LATENCY_MS" (bench/hdd-reader.ts writes it). */
export function parseReaderLog(text: string): { at: number; ms: number }[] {
  const out: { at: number; ms: number }[] = [];
  for (const line of text.split('\n')) {
    const [at, ms] = line.split(' ').map(Number);
    if (Number.isFinite(at) && Number.isFinite(ms)) out.push({ at: at!, ms: ms! });
  }
  return out;
}

/** CPU seconds (user + system) from the text of /proc/PID/stat. */
export function statCpuSeconds(stat: string, ticksPerSecond = 100): number {
  const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond;
}
