/**
 * A receiver (`listen`, `harvester`) none of whose directories can take a file says so loudly:
 * an error line and a `no-usable-disk` event (the receiver sends the webhook), at start and
 * whenever it comes to that, and an info line once a directory is usable again. It keeps running
 * and keeps looking. A disk that mounts after the service starts (boot order, a slow enclosure,
 * an unlock), or that is fixed while it runs, rejoins without a restart; exiting instead would
 * have systemd restart it in a loop until its start limit stops it for good, and the farm would
 * lose it for the time the disk comes back. Meanwhile plotters learn at once that it has no disk
 * (a harvester declines `no-disk`, a listener refuses with PF_NO_DISK), and `status` shows each
 * directory's reason.
 */
import type { Logger } from 'pino';
import type { DiskSet } from './disks.js';

/** How often the directories are looked at while none can be used (and after). */
export const USABLE_CHECK_MS = 10_000;

/**
 * Watches `disks`; returns the function that stops watching, which resolves once a look under
 * way has ended (so the receiver's claims are released after it, not re-taken by it).
 */
export function watchUsable(disks: DiskSet, role: string, log: Logger, everyMs = USABLE_CHECK_MS): () => Promise<void> {
  let none = false;
  let running: Promise<void> | undefined;
  let stopped = false;
  const check = () => {
    if (running || stopped) return;
    running = look().finally(() => (running = undefined));
  };
  const look = async () => {
    try {
      const infos = await disks.snapshot();
      if (stopped) return;
      const unusable = infos.filter((i) => i.unusable);
      if (unusable.length === infos.length && !none) {
        none = true;
        const why = unusable.map((i) => `${i.dir}: ${i.unusable}`).join('; ');
        log.error(
          { code: 'PF_NO_DISK', dirs: unusable.map((i) => ({ dir: i.dir, why: i.unusable })) },
          `no usable directory: this ${role} takes no file until one is (${why}); still running, looking again every ${Math.round(everyMs / 1000)} s`,
        );
        disks.report({ kind: 'no-usable-disk', role, why });
      } else if (unusable.length < infos.length && none) {
        none = false;
        log.info(
          { dirs: infos.filter((i) => !i.unusable).map((i) => i.dir) },
          'a receiving directory is usable again: taking files',
        );
      }
    } catch (err) {
      log.debug({ err }, 'checking the receiving directories failed');
    }
  };
  check();
  const timer = setInterval(check, everyMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
