/**
 * `--concurrency` counts plots whose bytes are being sent (overlap the fixed costs).
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

/**
 * One plot of a PoS2 plot group on its way at a time from this plotter, from its announce until
 * its last byte is sent. A group's plots all go to the one disk that holds it, which takes one
 * file at a time anyway; sent together, two plots of a new group would both be announced before
 * any harvester held it, and start it on two disks. Plots of other groups pass freely (each of
 * today's chia plots is a group of its own).
 */
export class GroupGate {
  private readonly gates = new Map<string, { slots: Slots; users: number }>();

  /** Resolves once this plotter sends no other plot of group `key`; returns leave() (at most once). */
  async enter(key: string): Promise<() => void> {
    let g = this.gates.get(key);
    if (!g) this.gates.set(key, (g = { slots: new Slots(1), users: 0 }));
    g.users++;
    const release = await g.slots.acquire();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      release();
      if (--g.users === 0) this.gates.delete(key);
    };
  }

  /** Whether a plot of group `key` is on its way or waiting already (enter() would wait). */
  busy(key: string): boolean {
    return (this.gates.get(key)?.users ?? 0) > 0;
  }

  /** Groups with a plot on its way or waiting (tests). */
  get size(): number {
    return this.gates.size;
  }
}
