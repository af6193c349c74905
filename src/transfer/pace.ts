/**
 * `--bwlimit`: a rate cap shared by every transfer of one process (a sweep's concurrent plots
 * together stay under it). Each write books the next slot on one timeline; a write waits until
 * its slot starts, so the average never exceeds the rate. Idle time is not saved up as a burst.
 */
export class Pacer {
  private nextFree = 0;

  /** @param bytesPerSecond the cap, > 0 */
  constructor(readonly bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be > 0');
  }

  /** Milliseconds to wait before writing `n` bytes (and books them). */
  book(n: number, nowMs = performance.now()): number {
    const start = Math.max(nowMs, this.nextFree);
    this.nextFree = start + (n / this.bytesPerSecond) * 1000;
    return start - nowMs;
  }
}
