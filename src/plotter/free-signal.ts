/**
 * Wakes plotters that wait while every harvester disk with room is busy: harvesters publish
 * `free` when a claim ends. Without it a waiting plot announced again every 1.0-1.2 s, and a
 * disk writing 0.92 GiB plots at HDD speed (~4 s each) sat idle for up to a quarter of the time.
 * The poll stays, as the fallback for a `free` that was lost or a harvester that never sends one.
 */
import type { NatsConnection, Subscription } from 'nats';
import { subjects } from '../bus/bus-messages.js';
import { wakeableSleep } from '../core/sleep.js';

export class FreeSignal {
  private readonly sub: Subscription;
  private waiters: (() => void)[] = [];
  /**
   * `free`s heard so far. A plot notes it as it announces: a `free` that comes while the
   * announce still gathers answers (a busy bid, then the disk done 10-52 ms later, measured by
   * the farm-10gbe bench) came before the plot waited, and was missed; the plot then polled
   * after ~1 s while a disk sat idle.
   */
  heard = 0;

  constructor(nc: NatsConnection, prefix = 'plotferry') {
    this.sub = nc.subscribe(subjects(prefix).free, {
      callback: (err) => {
        if (err) return;
        this.heard++;
        const ws = this.waiters;
        this.waiters = [];
        for (const w of ws) w();
      },
    });
  }

  /**
   * Resolves when a harvester frees a disk, after `ms` at the latest, or when `signal` aborts;
   * at once when one did since `since` (a count of `heard` taken before the announce).
   */
  async wait(ms: number, signal?: AbortSignal, since?: number): Promise<void> {
    if (since !== undefined && this.heard > since) return;
    const sleep = wakeableSleep(ms, signal);
    this.waiters.push(sleep.wake);
    await sleep.done;
    this.waiters = this.waiters.filter((w) => w !== sleep.wake);
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
