/**
 * Sleeps that never outlive their use. Whichever ends one (time, `wake()`, the signal's abort),
 * its timer is cleared and its abort listener removed at once: a signal shared by a whole run
 * does not collect one listener per sleep, and a loop that sleeps and is woken often does not
 * collect a timer per turn (a 60 s sleep woken after 10 ms kept its timer for 60 s).
 */

/** Resolves after `ms`, at `wake()`, or at once when `signal` aborts. */
export function wakeableSleep(ms: number, signal?: AbortSignal): { done: Promise<void>; wake: () => void } {
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

/** The back-off sleep: after `ms`, or at once when `signal` aborts (Ctrl-C must not wait out 30 s). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return wakeableSleep(ms, signal).done;
}
