/**
 * At most `perKey` tasks at once for each key, with no bound across keys: header reads capped
 * per disk (the key is the file's st_dev), so that 20 disks are read side by side while none of
 * them sees a queue deeper than `perKey`. A process-wide cap of 2 (what the inventory had) made a
 * harvester of 20 HDDs read them one after another, each at a fraction of its seek rate.
 *
 * Tasks of one key run in the order they were given. The total in flight is still bounded by
 * libuv's thread pool (UV_THREADPOOL_SIZE, 4 by default), which is where fs calls run.
 */
export class PerKeyLimit<K = string> {
  private readonly running = new Map<K, number>();
  private readonly waiting = new Map<K, (() => void)[]>();

  constructor(readonly perKey: number) {
    if (!Number.isInteger(perKey) || perKey < 1)
      throw new RangeError(`perKey must be a positive integer, not ${perKey}`);
  }

  /** Runs `task` once fewer than `perKey` tasks of `key` are running; its result or error. */
  async run<T>(key: K, task: () => Promise<T>): Promise<T> {
    await this.slot(key);
    try {
      return await task();
    } finally {
      this.release(key);
    }
  }

  /** Tasks of `key` running now. */
  inFlight(key: K): number {
    return this.running.get(key) ?? 0;
  }

  /** Tasks of `key` waiting for a slot. */
  queued(key: K): number {
    return this.waiting.get(key)?.length ?? 0;
  }

  private slot(key: K): Promise<void> {
    const n = this.running.get(key) ?? 0;
    if (n < this.perKey) {
      this.running.set(key, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let q = this.waiting.get(key);
      if (!q) this.waiting.set(key, (q = []));
      q.push(resolve);
    });
  }

  private release(key: K): void {
    const q = this.waiting.get(key);
    const next = q?.shift();
    if (q && q.length === 0) this.waiting.delete(key);
    // The slot passes straight to the next waiter: the count stays.
    if (next) return next();
    const n = (this.running.get(key) ?? 1) - 1;
    if (n > 0) this.running.set(key, n);
    else this.running.delete(key);
  }
}
