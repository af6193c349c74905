/** How a serving command (`listen`, `harvester`) stops: gracefully on a signal, at once on a second. */
import type { Logger } from 'pino';

/**
 * Serves until SIGINT/SIGTERM: the first signal calls `close(graceMs)` so running transfers can
 * finish, a second one calls `close(0)` to abort them. Resolves once closed.
 *
 * `replacing`: the start's own listener, removed once this one is on. Never remove it first: a
 * signal that libuv has taken but not yet handed to JavaScript is dropped when the last listener
 * goes (its handle stops), and a SIGTERM that came as the start ended was lost, the process
 * running on until systemd's SIGKILL (found by a test that hung).
 */
export function serveUntilSignalled(
  log: Logger,
  graceSeconds: number,
  close: (graceMs: number) => Promise<void>,
  replacing?: () => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1)
        log.info(
          { signal: sig },
          `stopping: nothing new is taken; running transfers get ${graceSeconds} s (signal again to abort them)`,
        );
      else log.warn({ signal: sig }, 'aborting running transfers');
      // A close that fails rejects the wait, so the command reports it (not an unhandled rejection).
      close(signals === 1 ? graceSeconds * 1000 : 0).then(resolve, reject);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (replacing) {
      process.off('SIGINT', replacing);
      process.off('SIGTERM', replacing);
    }
  });
}
