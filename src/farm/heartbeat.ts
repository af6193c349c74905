/** What a harvester publishes every few seconds (and on `status`): its disks and transfers. */
import { promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import * as fastFolderSizeModule from 'fast-folder-size';
import type { DirStatus, Heartbeat } from '../bus/messages.js';
import type { DiskSet } from '../storage/disks.js';
import { isPlotFileName } from '../wire/names.js';

// A CommonJS module whose typings say `export default`: under NodeNext the function is the
// namespace's default, as Node itself provides it.
const fastFolderSize = (
  fastFolderSizeModule as unknown as { default: (dir: string, cb: (err: Error | null, bytes?: number) => void) => void }
).default;
/** Bytes under `dir` (it runs `du`). */
const folderSize = promisify(fastFolderSize) as (dir: string) => Promise<number | undefined>;

export async function buildHeartbeat(
  disks: DiskSet,
  h: Pick<Heartbeat, 'harvester' | 'host' | 'activeTransfers' | 'maxTransfers'>,
): Promise<Heartbeat> {
  const infos = await disks.snapshot();
  const dirs: DirStatus[] = await Promise.all(
    infos.map(async (i) => {
      let plots = 0;
      let plotBytes = 0;
      if (!i.unusable) {
        plots = (await fsp.readdir(i.dir).catch(() => [] as string[])).filter(isPlotFileName).length;
        plotBytes = (await folderSize(i.dir).catch(() => 0)) ?? 0;
      }
      return {
        dir: i.dir,
        freeBytes: i.freeBytes,
        totalBytes: i.totalBytes,
        plots,
        plotBytes,
        ...(i.unusable ? { unusable: i.unusable } : {}),
      };
    }),
  );
  return { kind: 'heartbeat', v: 1, ...h, dirs, at: Date.now() };
}
