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

  constructor(nc: NatsConnection, prefix = 'plotferry') {
    this.sub = nc.subscribe(subjects(prefix).free, {
      callback: (err) => {
        if (err) return;
        const ws = this.waiters;
        this.waiters = [];
        for (const w of ws) w();
      },
    });
  }

  /** Resolves when a harvester frees a disk, after `ms` at the latest, or when `signal` aborts. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    const sleep = wakeableSleep(ms, signal);
    this.waiters.push(sleep.wake);
    await sleep.done;
    this.waiters = this.waiters.filter((w) => w !== sleep.wake);
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
