/** Shutdown of a set of running transfers: give them `graceMs`, then abort the rest. */
import type { Logger } from 'pino';

export interface Running {
  /** Settles when the transfer has ended and cleaned up. */
  readonly done: Promise<unknown>;
  abort(): void;
}

export async function drainWithin(running: () => Running[], graceMs: number, log: Logger): Promise<void> {
  const all = () => Promise.all(running().map((r) => r.done));
  if (running().length === 0) return;
  log.info({ active: running().length, graceMs }, 'waiting for running transfers to finish');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
  const r = await Promise.race([all(), timedOut]);
  clearTimeout(timer);
  if (r === 'timeout') {
    log.warn({ active: running().length }, 'grace period over: aborting running transfers (their sources are kept)');
    for (const t of running()) t.abort();
  }
  await all();
}
