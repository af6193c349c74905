/**
 * A receiver's disk events (storage/disk-events.ts) as webhooks. Shared by `listen` and
 * `harvester`: the text and the dedup key of each message are decided here, in one place.
 */
import { notify, type Severity } from '../core/notify.js';
import type { DiskEvent } from '../storage/disk-events.js';
import { disabledBy } from '../wire/names.js';

export interface Notice {
  /** The condition it is deduplicated under (core/notify.ts). */
  key: string;
  severity: Severity;
  title: string;
  message: string;
}

/** The webhook for `e` (the notifier puts the host's name in front, core/notify.ts). */
export function diskNotice(e: DiskEvent): Notice {
  switch (e.kind) {
    case 'failed':
      return {
        key: `disk-failed:${e.dir}`,
        severity: 'critical',
        title: 'a disk failed a write',
        message: `${e.dir} failed a write (${e.reason}); it is out of rotation until ${new Date(e.until).toISOString()} and plots go to the other disks. Check it (dmesg, smartctl).`,
      };
    case 'disabled':
      return {
        key: `disk-disabled:${e.dir}`,
        severity: 'warning',
        title: 'a disk is disabled',
        message: `${e.dir} holds ${disabledBy(e.file)}: no plot goes there until it is removed.`,
      };
    case 'gone':
      return {
        key: `disk-gone:${e.dir}`,
        severity: 'critical',
        title: 'a disk is gone',
        message: e.atStart
          ? `${e.dir} cannot be used since the start: ${e.why}. Nothing is written there until it can be; plots go to the other disks.`
          : `${e.dir} ${e.why}. It is out of rotation: nothing is written there, and its plots are not counted, until that filesystem is mounted there again.`,
      };
    case 'back':
      return {
        key: `disk-back:${e.dir}`,
        severity: 'info',
        title: 'a disk is back',
        message: `${e.dir} is back in rotation.`,
      };
    case 'no-usable-disk':
      return {
        key: 'no-usable-disk',
        severity: 'critical',
        title: `a ${e.role} has no usable disk`,
        message: `no --dir of this ${e.role} can take a file (${e.why}). It keeps running and takes plots again as soon as one is usable: mount the disk, or fix the directory's owner and mode.`,
      };
  }
}

/** Sends `e`'s webhook (through the process's notifier; none set: nothing is sent). */
export function notifyDiskEvent(e: DiskEvent): void {
  const n = diskNotice(e);
  notify(n.key, n.severity, n.title, n.message);
}
