/**
 * A receiving directory is the disk it was. When a directory enters the rotation, the filesystem
 * it is on is recorded (its st_dev, and whether the directory is that filesystem's mount point).
 * A directory that later sits on another filesystem (its disk unmounted: the bare mount point on
 * `/` shows through) or is gone is not a new empty disk: writing there would fill the root
 * filesystem, and what was written would be hidden under the disk when it is mounted again. So
 * it leaves the rotation until the filesystem it joined on is back.
 *
 * Pure: the I/O (stat, the lock's token) is storage/disks.ts's.
 */

/** The filesystem a directory joined the rotation on. */
export interface DiskHome {
  dev: number;
  /** It was the mount point of its filesystem (its parent was on another one). */
  mountPoint: boolean;
}

/** What a look at a directory found: its st_dev, or that it does not exist. */
export type Seen = { dev: number } | 'missing';

export type HomeVerdict =
  /** Not in the rotation yet: it may join (on the root filesystem only if allowed). */
  | { kind: 'new' }
  /** In the rotation, on the filesystem it joined on. */
  | { kind: 'home' }
  /** Not in the rotation yet, and on the root filesystem without --allow-root-fs. */
  | { kind: 'root-fs' }
  /** Its filesystem is not there: out of the rotation until it is back. */
  | { kind: 'gone'; why: string };

/**
 * The rule. `home`: recorded when it joined (none yet: `new`, or `root-fs`). `rootDev`: the
 * st_dev of `/`. A directory that joined on the root filesystem because that was allowed is held
 * to it like any other: a disk mounted over it later would hide what was written there.
 */
export function judgeHome(home: DiskHome | undefined, seen: Seen, rootDev: number, allowRootFs: boolean): HomeVerdict {
  if (!home) {
    if (seen !== 'missing' && seen.dev === rootDev && !allowRootFs) return { kind: 'root-fs' };
    return { kind: 'new' };
  }
  const joined = `${formatDev(home.dev)}${home.mountPoint ? ' (mounted there)' : ''}`;
  if (seen === 'missing') return { kind: 'gone', why: `does not exist any more (it joined on filesystem ${joined})` };
  if (seen.dev === home.dev) return { kind: 'home' };
  const onRoot = seen.dev === rootDev;
  const now = onRoot ? `the root filesystem ${formatDev(seen.dev)}` : `filesystem ${formatDev(seen.dev)}`;
  const likely =
    home.dev === rootDev
      ? 'a disk mounted over it? what was written there is hidden under it'
      : onRoot
        ? 'its disk unmounted?'
        : 'another disk mounted there?';
  return { kind: 'gone', why: `is on ${now}, not on filesystem ${joined} where it joined the rotation (${likely})` };
}

/**
 * st_dev as MAJOR:MINOR, as lsblk, /proc/self/mountinfo and `stat -c %D` (in hex) name it
 * (glibc's gnu_dev_major/minor encoding).
 */
export function formatDev(dev: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** How `unusable` begins for a directory whose disk is gone (PF_DISK_GONE). */
export const GONE = 'disk gone (PF_DISK_GONE):';

/** How `unusable` reads for a directory on the root filesystem without --allow-root-fs. */
export const ON_ROOT_FS =
  'on the root filesystem (its disk is not mounted?): mount its disk, or pass --allow-root-fs if plots are meant to go there';
