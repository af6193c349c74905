/** What a harvester publishes every few seconds (and on `status`): its disks and transfers. */
import type { DirStatus, Heartbeat } from '../bus/messages.js';
import type { DiskSet } from '../storage/disks.js';
import type { Inventory } from './inventory.js';

/** O(directories): statfs for space, the inventory for plot counts (no per-plot work). */
export async function buildHeartbeat(
  disks: DiskSet,
  inventory: Inventory,
  h: Pick<Heartbeat, 'harvester' | 'host' | 'activeTransfers' | 'maxTransfers'>,
): Promise<Heartbeat> {
  const dirs: DirStatus[] = (await disks.snapshot()).map((i) => ({
    dir: i.dir,
    freeBytes: i.freeBytes,
    totalBytes: i.totalBytes,
    ...(i.dev >= 0 ? { fs: i.dev } : {}),
    // A disk out of rotation (failed, disabled) still holds its plots; a gone one does not.
    ...(i.gone ? { plots: 0, plotBytes: 0, gone: true as const } : inventory.of(i.dir)),
    ...(i.unusable ? { unusable: i.unusable } : {}),
  }));
  return { kind: 'heartbeat', v: 1, ...h, dirs, replot: inventory.rates(), at: Date.now() };
}
