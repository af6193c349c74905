/** `plotferry status`: the latest heartbeat of every live harvester, and a table of them. */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { decodeBus, Heartbeat, subjects } from '../bus/bus-messages.js';
import { abortableSleep } from '../core/sleep.js';
import { formatBytes } from '../core/format.js';
import { replotBlocked } from '../storage/replot.js';

/** After the last new heartbeat, how long `status` waits for another harvester. */
const QUIET_MS = 1_000;

export async function collectHeartbeats(
  nc: NatsConnection,
  prefix: string,
  waitMs: number,
  log: Logger,
  /** Filled with a line per id two harvesters answer under (for the exit status). */
  clashes: string[] = [],
): Promise<Heartbeat[]> {
  const latest = new Map<string, Heartbeat>();
  const clashed = new Set<string>();
  const sub = nc.subscribe(subjects(prefix).heartbeats, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const hb = decodeBus(msg.data, ['heartbeat']);
        const before = latest.get(hb.harvester);
        if (before && !sameHarvester(before, hb) && !clashed.has(hb.harvester)) {
          clashed.add(hb.harvester);
          const line = `two harvesters answer as ${hb.harvester} (${whereIs(before)}; ${whereIs(hb)}): status shows one of them at a time, and bids cannot tell them apart; give each its own --id (PLOTFERRY_HARVESTER_ID)`;
          clashes.push(line);
          log.warn({ harvester: hb.harvester }, line);
        }
        latest.set(hb.harvester, hb);
      } catch (e) {
        log.warn({ subject: msg.subject }, `ignored: ${(e as Error).message}`);
      }
    },
  });
  nc.publish(subjects(prefix).statusPing);
  // Harvesters answer a ping within milliseconds: stop QUIET_MS after the last new one, at
  // waitMs at the latest (`status --wait`), instead of always waiting it out.
  const started = Date.now();
  let seen = 0;
  let lastNew = started;
  while (Date.now() - started < waitMs) {
    await abortableSleep(50);
    if (latest.size > seen) {
      seen = latest.size;
      lastNew = Date.now();
    } else if (seen > 0 && Date.now() - lastNew >= QUIET_MS) break;
  }
  sub.unsubscribe();
  return [...latest.values()].sort((a, b) => a.harvester.localeCompare(b.harvester));
}

/**
 * What `status` exits with, for a monitor that runs it: 0 when harvesters answered and every
 * disk takes plots; 1 when a disk is out of rotation, disabled or gone (unless `ignoreDisks`),
 * or two harvesters answer under one id (`clashes`, said by collectHeartbeats);
 * 3 when no harvester answered at all. `problems` says why, one line each.
 */
export interface StatusVerdict {
  exit: 0 | 1 | 3;
  problems: string[];
}

export function statusVerdict(
  beats: readonly Heartbeat[],
  waitS: number,
  ignoreDisks: boolean,
  clashes: readonly string[] = [],
): StatusVerdict {
  if (beats.length === 0)
    return {
      exit: 3,
      problems: [
        `no harvester answered within ${waitS} s: is the harvester running, and on the same NATS server and --prefix?`,
      ],
    };
  const problems = beats.flatMap((b) =>
    b.dirs
      .filter((d) => d.unusable !== undefined || d.gone)
      .map((d) => `${b.harvester}: ${d.dir} takes no plot: ${d.unusable ?? 'disk gone (PF_DISK_GONE)'}`),
  );
  // Two harvesters under one id: what status shows of them is wrong, whatever the disks say.
  return { exit: clashes.length > 0 || (problems.length > 0 && !ignoreDisks) ? 1 : 0, problems };
}

/** Two heartbeats of one id from one harvester: the same host and the same directories. */
export function sameHarvester(a: Heartbeat, b: Heartbeat): boolean {
  const dirs = (h: Heartbeat) =>
    h.dirs
      .map((d) => d.dir)
      .sort()
      .join('\0');
  return a.host === b.host && dirs(a) === dirs(b);
}

const whereIs = (h: Heartbeat) => `${h.host}: ${h.dirs.map((d) => d.dir).join(', ')}`;

/** Below this, the other files beside the plots (records, locks, lost+found) are not mentioned. */
const OTHER_WORTH_SAYING = 2 ** 30;

export function formatStatus(beats: readonly Heartbeat[]): string {
  if (beats.length === 0) return 'no live harvesters\n';
  const lines: string[] = [];
  const farm = { pos1Plots: 0, pos1Bytes: 0, pos2Plots: 0, pos2Bytes: 0, free: 0 };
  for (const b of beats) {
    const plots = b.dirs.reduce((n, d) => n + d.plots, 0);
    // Directories on one filesystem share its free space: count it once.
    const byFs = new Map<string, number>();
    for (const d of b.dirs) if (!d.unusable) byFs.set(d.fs !== undefined ? `fs:${d.fs}` : `dir:${d.dir}`, d.freeBytes);
    const free = [...byFs.values()].reduce((n, f) => n + f, 0);
    farm.free += free;
    lines.push(
      `${b.harvester} (${b.host})  transfers ${b.activeTransfers}/${b.maxTransfers}  plots ${plots}  free ${formatBytes(free)}${replotModeOf(b)}`,
    );
    for (const d of b.dirs) {
      // A gone disk's free space and plots are not this host's now: neither is shown or counted.
      if (d.gone) {
        lines.push(`  ${d.dir}  [${d.unusable ?? 'disk gone (PF_DISK_GONE)'}]`);
        continue;
      }
      const state = d.unusable ? `  [${d.unusable}]` : '';
      // Other files that take a real share of the disk are worth a look (a forgotten copy, logs).
      const other = (d.otherBytes ?? 0) >= OTHER_WORTH_SAYING ? `, ${formatBytes(d.otherBytes!)} other files` : '';
      const groups = d.groups ? `  ${d.groups} group${d.groups === 1 ? '' : 's'}` : '';
      lines.push(
        `  ${d.dir}  ${formatBytes(d.freeBytes)} free of ${formatBytes(d.totalBytes)}  ${d.plots} plots (${formatBytes(d.plotBytes)}${other})${replotOf(d)}${groups}${state}`,
      );
      // Why the last plot went here: a farmer asking "why this disk?" reads it at a glance.
      if (d.placed)
        lines.push(
          `    last: ${d.placed.name} at ${new Date(d.placed.at).toISOString().slice(11, 19)} UTC (${d.placed.why})`,
        );
      const blocked = blockedOf(b, d);
      if (blocked) lines.push(`    replot: ${blocked}`);
      for (const k of ['pos1Plots', 'pos1Bytes', 'pos2Plots', 'pos2Bytes'] as const) farm[k] += d[k] ?? 0;
    }
  }
  const both = farm.pos1Bytes + farm.pos2Bytes;
  if (both > 0) {
    lines.push(
      `farm: PoS1 ${farm.pos1Plots} plots (${formatBytes(farm.pos1Bytes)})  PoS2 ${farm.pos2Plots} plots (${formatBytes(farm.pos2Bytes)})  free ${formatBytes(farm.free)}  replotted ${Math.floor((farm.pos2Bytes / both) * 100)}% by bytes`,
    );
    const sum = (k: Exclude<keyof NonNullable<Heartbeat['replot']>, 'mode' | 'match'>) =>
      beats.reduce((n, b) => n + (b.replot?.[k] ?? 0), 0);
    const hour = sum('pos2StoredLastHour');
    const day = sum('pos2StoredLastDay');
    const eta = replotEta(beats, farm.pos1Bytes, day);
    lines.push(
      `replot: PoS2 stored ${formatBytes(hour)} in the last hour, ${formatBytes(day)} in the last day; PoS1 deleted ${formatBytes(sum('pos1DeletedLastHour'))} / ${formatBytes(sum('pos1DeletedLastDay'))}; ${eta}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** "  replot on (--replot-match old-*)", "  replot dry run", "  replot off" (older harvesters: ""). */
function replotModeOf(b: Heartbeat): string {
  const mode = b.replot?.mode;
  if (mode === undefined) return '';
  const match = b.replot?.match !== undefined ? ` (--replot-match ${b.replot.match})` : '';
  return mode === 'on' ? `  replot on${match}` : mode === 'dry-run' ? `  replot dry run${match}` : '  replot off';
}

/** Why --replot frees nothing on this disk though it holds PoS1 candidates; undefined otherwise. */
function blockedOf(b: Heartbeat, d: Heartbeat['dirs'][number]): string | undefined {
  const r = d.replot;
  if (b.replot?.mode !== 'on' || !r || d.unusable) return undefined;
  if ((d.pos1Plots ?? 0) === 0 && r.unmatched + r.linked + r.inUse === 0) return undefined;
  return replotBlocked(r, b.replot.match);
}

/**
 * The replot's ETA, or why there is none. Each PoS2 byte that lands takes the place of a PoS1
 * byte on a full farm: at the last day's pace, the PoS1 bytes that can go are replaced in this
 * long. On a harvester running --replot only the PoS1 plots it may delete can go; under
 * --replot-dry-run none do; elsewhere (no --replot, or an older harvester that does not say)
 * every PoS1 byte counts, as a farmer may replot by hand.
 */
export function replotEta(beats: readonly Heartbeat[], pos1Bytes: number, day: number): string {
  if (pos1Bytes === 0) return 'done: every plot is PoS2';
  let canGo = 0;
  const why = new Set<string>();
  for (const b of beats)
    for (const d of b.dirs) {
      const pos1 = d.pos1Bytes ?? 0;
      if (pos1 === 0) continue;
      const mode = b.replot?.mode;
      if (mode === 'dry-run') why.add('--replot-dry-run deletes nothing');
      else if (mode === 'on' && d.replot) {
        canGo += Math.min(pos1, d.replot.mayGoBytes);
        if (d.replot.mayGoBytes < pos1) why.add('--replot may not delete the PoS1 plots left (see the disks above)');
      } else canGo += pos1;
    }
  if (canGo === 0) return `no ETA: ${[...why].join('; ') || 'no PoS1 plot can go'}`;
  if (day === 0) return 'no PoS2 plot stored in the last day: no ETA';
  const stay = pos1Bytes - canGo;
  if (stay <= 0) return `all PoS2 in ${formatDuration((canGo / day) * 86_400_000)} at the last day's pace`;
  return `the PoS1 plots that can go are replaced in ${formatDuration((canGo / day) * 86_400_000)} at the last day's pace; ${formatBytes(stay)} of PoS1 plots stay (${[...why].join('; ')})`;
}

/** "  PoS1 3 (303 GiB) / PoS2 120 (110 GiB)" when the heartbeat says. */
function replotOf(d: Heartbeat['dirs'][number]): string {
  if (d.pos1Plots === undefined && d.pos2Plots === undefined) return '';
  return `  PoS1 ${d.pos1Plots ?? 0} (${formatBytes(d.pos1Bytes ?? 0)}) / PoS2 ${d.pos2Plots ?? 0} (${formatBytes(d.pos2Bytes ?? 0)})`;
}

function formatDuration(ms: number): string {
  const h = ms / 3_600_000;
  if (h < 48) return `${h.toFixed(1)} h`;
  return `${Math.round(h / 24)} days`;
}
