/**
 * `--concurrency` counts plots whose bytes are being sent (issue 12: overlap the fixed costs).
 * A plot holds a slot from its announce until its last byte is handed to the socket; the wait
 * for the harvester's verdict (its fsync, rename, directory sync, RESULT) and the deletion of
 * the source run outside it, so the next plot is announced, claimed and connected meanwhile.
 * With ~1 GiB plots that wait is a fixed cost paid on every file, and on an HDD its fsync is long.
 */
export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Resolves once a slot is ours; the returned release() gives it back (at most once). */
  async acquire(): Promise<() => void> {
    if (this.used < this.size) this.used++;
    else await new Promise<void>((r) => this.waiting.push(r)); // handed over by a release
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }

  /** Slots taken now (tests). */
  get inUse(): number {
    return this.used;
  }
}
