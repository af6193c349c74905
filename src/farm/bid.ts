/**
 * How long a harvester waits before bidding: the first bid wins, so a busier or fuller
 * harvester bids later and an idle, empty one wins (chia-garden's proven formula).
 *   10 ms per active transfer + 0..50 ms by how full the disk it would use is.
 */
export const MS_PER_TRANSFER = 10;
export const MS_FULL_DISK = 50;

export function bidDelayMs(activeTransfers: number, freeBytes: number, totalBytes: number): number {
  const fullness = totalBytes > 0 ? Math.min(1, Math.max(0, 1 - freeBytes / totalBytes)) : 1;
  return MS_PER_TRANSFER * Math.max(0, activeTransfers) + Math.round(MS_FULL_DISK * fullness);
}
