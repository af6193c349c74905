/** `plotferry status`: the latest heartbeat of every live harvester, and a table of them. */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { decodeBus, Heartbeat, subjects } from '../bus/messages.js';
import { formatBytes } from '../storage/disks.js';

export async function collectHeartbeats(
  nc: NatsConnection,
  prefix: string,
  waitMs: number,
  log: Logger,
): Promise<Heartbeat[]> {
  const latest = new Map<string, Heartbeat>();
  const sub = nc.subscribe(subjects(prefix).heartbeats, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const hb = decodeBus(msg.data, ['heartbeat']);
        latest.set(hb.harvester, hb);
      } catch (e) {
        log.warn({ subject: msg.subject }, `ignored: ${(e as Error).message}`);
      }
    },
  });
  nc.publish(subjects(prefix).statusPing);
  await new Promise((r) => setTimeout(r, waitMs));
  sub.unsubscribe();
  return [...latest.values()].sort((a, b) => a.harvester.localeCompare(b.harvester));
}

export function formatStatus(beats: readonly Heartbeat[]): string {
  if (beats.length === 0) return 'no live harvesters\n';
  const lines: string[] = [];
  for (const b of beats) {
    const plots = b.dirs.reduce((n, d) => n + d.plots, 0);
    const free = b.dirs.reduce((n, d) => n + (d.unusable ? 0 : d.freeBytes), 0);
    lines.push(
      `${b.harvester} (${b.host})  transfers ${b.activeTransfers}/${b.maxTransfers}  plots ${plots}  free ${formatBytes(free)}`,
    );
    for (const d of b.dirs) {
      const state = d.unusable ? `  [${d.unusable}]` : '';
      lines.push(
        `  ${d.dir}  ${formatBytes(d.freeBytes)} free of ${formatBytes(d.totalBytes)}  ${d.plots} plots (${formatBytes(d.plotBytes)})${state}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
