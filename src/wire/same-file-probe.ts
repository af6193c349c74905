/**
 * Is a copy a receiver holds the sender's own source? A plotter locks each plot it handles with
 * `.plotferry-lock-NAME` beside it, holding a random token (plotter/lock.ts), and sends that
 * token as a probe. The receiver looks beside its copy for that lock name:
 * - 'absent': no lock there, so its copy is in another directory than the source: two files;
 * - 'source': the plotter's own lock, so its copy *is* the source, reached through another path
 *   (an NFS mount, a bind mount, a host that plots and harvests, a sweep of a harvester's disk);
 * - 'locked': some other lock (or one it cannot read), so that directory is a plotter's source
 *   directory too, and it cannot tell.
 * Only 'absent' lets a plotter remove its source on the strength of the receiver's copy. A
 * directory is the same directory whatever path reaches it, so this holds where comparing paths
 * or device numbers across hosts cannot.
 */
export const BESIDE = ['absent', 'source', 'locked'] as const;
export type Beside = (typeof BESIDE)[number];
