/**
 * The one back-off sleep: resolves after `ms`, or at once when `signal` aborts (Ctrl-C must not
 * wait out a 30 s back-off). Its timer is cleared and its abort listener removed either way, so
 * a signal shared by a whole run does not collect one listener per sleep.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A sleep that can also be cut short by calling `wake()`. Whichever ends it (time, wake,
 * abort), its timer and listener go at once: a loop that sleeps and is woken often must not
 * collect a timer per turn (a 60 s sleep woken after 10 ms kept its timer for 60 s).
 */
export function wakeableSleep(ms: number, signal?: AbortSignal): { done: Promise<void>; wake(): void } {
  let wake!: () => void;
  const done = new Promise<void>((resolve) => {
    if (signal?.aborted) {
      wake = () => undefined;
      return resolve();
    }
    const end = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', end);
      resolve();
    };
    const t = setTimeout(end, ms);
    signal?.addEventListener('abort', end, { once: true });
    wake = end;
  });
  return { done, wake };
}
