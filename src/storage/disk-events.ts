/**
 * What a receiver's disks report: the storage layer says what happened to a directory, and the
 * layer that owns the process (a harvester, a listener) decides what to do with it (a webhook,
 * its plot counts). Storage itself sends nothing.
 */

export type DiskEvent =
  /** A write failed there: out of rotation until `until` (ms since the epoch). */
  | { kind: 'failed'; dir: string; reason: string; until: number }
  /** It holds the disable file (`file`): no plot goes there until it is removed. */
  | { kind: 'disabled'; dir: string; file: string }
  /**
   * Its filesystem is gone (`why`): nothing is written there and its plots are not counted.
   * `atStart`: it could not be used from the start (not mounted, missing, unreadable).
   */
  | { kind: 'gone'; dir: string; why: string; atStart?: boolean }
  /** Its filesystem is back: in rotation again, and what it holds is counted afresh. */
  | { kind: 'back'; dir: string }
  /** No directory of this `role` can take a file (`why`: each one's reason). */
  | { kind: 'no-usable-disk'; role: string; why: string };

export type DiskEventSink = (event: DiskEvent) => void;
