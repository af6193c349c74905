/**
 * What a harvester's heartbeat tells a farmer by webhook about its disks: a disk nearly full, a
 * disk replotted. Pure; the harvester sends what this returns (core/notify.ts).
 *
 * Without --replot a disk `fullPercent` full is reported: it will soon take no plot. With
 * --replot (or --replot-dry-run, which must send what a real run would) a full disk is the aim:
 * one that still holds PoS1 plots makes room for the next plot, and one that holds none is
 * replotted, said once as such. Such a disk is "nearly full" only when its free space falls
 * below --reserve, which plotferry never writes into: something else is filling it.
 */
import type { DirStatus } from '../bus/bus-messages.js';
import { formatBytes } from '../core/format.js';
import type { Severity } from '../core/notify.js';

export interface DiskAlert {
  key: string;
  severity: Severity;
  title: string;
  message: string;
}

export interface DiskAlertSettings {
  /** --notify-full, in percent. */
  fullPercent: number;
  /** --replot or --replot-dry-run. */
  replot: boolean;
  /** --reserve, in bytes. */
  reserveBytes: number;
}

/** The alerts for disk `d`, given its PoS1 plot count at the previous heartbeat (`pos1Before`). */
export function diskAlerts(d: DirStatus, pos1Before: number | undefined, s: DiskAlertSettings): DiskAlert[] {
  const alerts: DiskAlert[] = [];
  if (d.unusable || d.totalBytes === 0) return alerts;
  const used = (1 - d.freeBytes / d.totalBytes) * 100;
  const full = s.replot ? (d.pos1Plots ?? 0) === 0 && d.freeBytes < s.reserveBytes : used >= s.fullPercent;
  if (full)
    alerts.push({
      key: `disk-full:${d.dir}`,
      severity: 'warning',
      title: 'a disk is nearly full',
      message: s.replot
        ? `${d.dir} has ${formatBytes(d.freeBytes)} free, less than --reserve ${formatBytes(s.reserveBytes)}, and no PoS1 plot to give way: something other than plotferry is filling it.`
        : `${d.dir} is ${used.toFixed(1)}% full (${formatBytes(d.freeBytes)} free).`,
    });
  if (pos1Before !== undefined && pos1Before > 0 && d.pos1Plots === 0)
    alerts.push({
      key: `replot-done:${d.dir}`,
      severity: 'info',
      title: 'a disk is replotted',
      message: `${d.dir} holds no PoS1 plot any more.`,
    });
  return alerts;
}
