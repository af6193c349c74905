/** What a harvester publishes every few seconds (and on `status`): its disks and transfers. */
import type { DirStatus, Heartbeat, ReplotMode } from '../bus/bus-messages.js';
import type { DiskSet } from '../storage/disks.js';
import type { Inventory } from './inventory.js';

/** --replot ('on'), --replot-dry-run ('dry-run') or neither ('off'). */
export function replotMode(disks: Pick<DiskSet, 'replotter'>): ReplotMode {
  const r = disks.replotter;
  return !r ? 'off' : r.dryRun ? 'dry-run' : 'on';
}

/**
 * O(directories): statfs for space, the inventory for plot counts (no per-plot work). With
 * --replot, what it may delete per directory comes from its list, cached for a minute and read
 * by every bid already (storage/replot.ts).
 */
export async function buildHeartbeat(
  disks: DiskSet,
  inventory: Inventory,
  h: Pick<Heartbeat, 'harvester' | 'host' | 'activeTransfers' | 'maxTransfers' | 'instance'>,
): Promise<Heartbeat> {
  const replotter = disks.replotter;
  const mode = replotMode(disks);
  const dirs: DirStatus[] = await Promise.all(
    (await disks.snapshot()).map(async (i) => {
      const summary =
        mode === 'on' && !i.unusable && !i.gone ? await replotter!.summary(i.dir).catch(() => undefined) : undefined;
      return {
        dir: i.dir,
        freeBytes: i.freeBytes,
        totalBytes: i.totalBytes,
        ...(i.dev >= 0 ? { fs: i.dev } : {}),
        // A disk out of rotation (failed, disabled) still holds its plots; a gone one does not.
        ...(i.gone ? { plots: 0, plotBytes: 0, gone: true as const } : inventory.of(i.dir)),
        ...(i.unusable ? { unusable: i.unusable } : {}),
        ...(summary ? { replot: summary } : {}),
      };
    }),
  );
  const replot = {
    ...inventory.rates(),
    mode,
    ...(replotter?.match !== undefined ? { match: replotter.match } : {}),
  };
  return { kind: 'heartbeat', v: 1, ...h, dirs, replot, at: Date.now() };
}
