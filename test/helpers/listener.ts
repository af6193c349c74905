import { once } from 'node:events';
import { promises as fsp } from 'node:fs';
import { after, before } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { Listener, ListenerOptions } from '../../src/transfer/listener.js';
import type { ReceiveOutcome } from '../../src/transfer/receive/session.js';
import { tmpDir } from './files.js';

export const TOKEN = 'test-token-0123456789';

export interface TestListener {
  listener: Listener;
  port: number;
  outcomes: ReceiveOutcome[];
  /** The next outcome not yet taken (waits for it). */
  nextOutcome(timeoutMs?: number): Promise<ReceiveOutcome>;
  close(): Promise<void>;
}

export async function startListener(opts: Partial<ListenerOptions> & { dirs: string[] }): Promise<TestListener> {
  // Test disks are temporary directories, on the root filesystem on most machines.
  const listener = await Listener.start({
    token: TOKEN,
    host: '127.0.0.1',
    port: 0,
    log: silentLogger(),
    allowRootFs: true,
    ...opts,
  });
  const outcomes: ReceiveOutcome[] = [];
  let taken = 0;
  listener.on('transfer', (o) => outcomes.push(o));
  return {
    listener,
    port: listener.address().port,
    outcomes,
    async nextOutcome(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (outcomes.length <= taken) {
        if (Date.now() > deadline) throw new Error(`no transfer outcome within ${timeoutMs} ms`);
        await Promise.race([once(listener, 'transfer'), new Promise((r) => setTimeout(r, 50))]);
      }
      return outcomes[taken++]!;
    },
    close: () => listener.close(),
  };
}

/** Polls `fn` until it returns a truthy value. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Polls `count` until it has stayed the same for `quietMs`: for replies that trickle in with no
 * message to say the last has come, so their end is seen as a gap longer than any they can have.
 */
export async function waitQuiet(
  count: () => number,
  quietMs: number,
  timeoutMs = 10_000,
  what = 'quiet',
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = count();
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const now = Date.now();
    if (count() !== last) {
      last = count();
      since = now;
    } else if (now - since >= quietMs) return last;
    if (now > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

export interface Fixture {
  /** Where test files are made. */
  src: string;
  /** The listener's one receiving directory. */
  dst: string;
  l: TestListener;
}

/**
 * Registers before/after hooks for the enclosing describe(): a source directory, a receiving
 * directory and a listener over it, all removed afterwards. The fields are set in before().
 */
export function useFixture(opts: Omit<Partial<ListenerOptions>, 'dirs'> = {}): Fixture {
  const f = {} as Fixture;
  before(async () => {
    f.src = await tmpDir();
    f.dst = await tmpDir();
    f.l = await startListener({ dirs: [f.dst], ...opts });
  });
  after(async () => {
    await f.l.close();
    await fsp.rm(f.src, { recursive: true, force: true });
    await fsp.rm(f.dst, { recursive: true, force: true });
  });
  return f;
}
