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
