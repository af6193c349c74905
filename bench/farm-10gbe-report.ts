/**
 * The `farm-10gbe` scenario's table and targets, from its runs: MB/s per tool (median, min–max),
 * each tool's median against the socat loop's and iperf3's, with the range of the same ratio
 * taken round by round (the tools of one round ran back to back, so on a shared machine the
 * per-round ratios say more than MB/s), and CPU seconds per GiB on each side.
 */
import { median } from './proc.js';
import type { Run } from './tools.js';

export const FARM_TOOLS = ['sweep', 'sweep --watch', 'socat loop', 'iperf3'] as const;
export type FarmTool = (typeof FARM_TOOLS)[number];

/**
 * One timed run, as the other scenarios' (tools.ts Run), of a farm tool. CPU seconds: the sweep
 * (or the socat senders, iperf3's client) / the harvester (the listeners, iperf3's server).
 */
export interface FarmRun extends Omit<Run, 'tool' | 'senderRssMB' | 'receiverRssMB'> {
  tool: FarmTool;
  /** The sweeps only: what NATS showed of their waits on busy disks (busyWaits). */
  busy?: BusyWaits;
}

/** What bench/nats-spy.ts heard: an announce, a bid, a harvester's `free`; `t` in ms. */
export interface BusEvent {
  t: number;
  kind: 'announce' | 'bid' | 'free';
  id?: string;
  name?: string;
  busy?: boolean;
}

export interface BusyWaits {
  /** Announces answered busy (every disk with room was receiving). */
  answers: number;
  /** From each busy answer to the same plot's next announce, summed. */
  waitedS: number;
  /** From each busy answer to the next `free` a harvester published. */
  freeAfterMs: number[];
}

/**
 * The busy answers among one run's `events` (in the order heard), how long each of those plots
 * then waited before it was announced again, and how soon after a busy answer a disk was freed:
 * a plot that waits far longer than the `free` took missed the wake-up and polled.
 */
export function busyWaits(events: readonly BusEvent[]): BusyWaits {
  const names = new Map(events.filter((e) => e.kind === 'announce').map((e) => [e.id, e.name]));
  const seen = new Set<string | undefined>();
  const out: BusyWaits = { answers: 0, waitedS: 0, freeAfterMs: [] };
  for (const [i, e] of events.entries()) {
    if (e.kind !== 'bid' || !e.busy || seen.has(e.id)) continue;
    seen.add(e.id);
    out.answers++;
    const later = events.slice(i + 1);
    const again = later.find((x) => x.kind === 'announce' && x.name === names.get(e.id));
    if (again) out.waitedS += (again.t - e.t) / 1000;
    const free = later.find((x) => x.kind === 'free');
    if (free) out.freeAfterMs.push(free.t - e.t);
  }
  return out;
}

const LABELS: Record<FarmTool, string> = {
  sweep: 'plotferry sweep --concurrency 2 (start to exit)',
  'sweep --watch': 'plotferry sweep --watch --concurrency 2 (first drop to last landing)',
  'socat loop': 'socat loop, a listener and a sender per plot, 2 at a time',
  iperf3: 'iperf3, one stream (memory to memory: the link)',
};

/** The targets: the tool's median over the reference's, at least. */
export const FARM_TARGETS: { tool: FarmTool; over: FarmTool; want: number }[] = [
  { tool: 'sweep', over: 'socat loop', want: 1.0 },
  { tool: 'sweep', over: 'iperf3', want: 0.9 },
  { tool: 'sweep --watch', over: 'iperf3', want: 0.95 },
];

const f0 = (x: number) => x.toFixed(0);
const f2 = (x: number) => x.toFixed(2);

/** `tool`'s median MB/s over `over`'s, and the min–max of the same ratio within each round. */
export function farmRatio(
  runs: readonly FarmRun[],
  tool: FarmTool,
  over: FarmTool,
): { median: number; min: number; max: number } | undefined {
  const ok = (t: FarmTool) => runs.filter((r) => r.tool === t && r.ok);
  const [a, b] = [ok(tool), ok(over)];
  if (!a.length || !b.length) return undefined;
  const perRound = a.flatMap((x) => {
    const y = b.find((r) => r.round === x.round);
    return y ? [x.mbps / y.mbps] : [];
  });
  const m = median(a.map((r) => r.mbps)) / median(b.map((r) => r.mbps));
  return {
    median: m,
    min: perRound.length ? Math.min(...perRound) : m,
    max: perRound.length ? Math.max(...perRound) : m,
  };
}

export function farmSummary(runs: readonly FarmRun[], bytesPerRun: number): string {
  const gib = bytesPerRun / 2 ** 30;
  const ratio = (tool: FarmTool, over: FarmTool) => {
    const r = farmRatio(runs, tool, over);
    return !r ? '–' : r.min === r.max ? f2(r.median) : `${f2(r.median)} (${f2(r.min)}–${f2(r.max)})`;
  };
  const lines = [
    '| tool | MB/s median (min–max) | ÷ socat loop (per round) | ÷ iperf3 (per round) | CPU s/GiB send / recv | ok |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const tool of FARM_TOOLS) {
    const all = runs.filter((r) => r.tool === tool);
    const rs = all.filter((r) => r.ok);
    if (!all.length) continue;
    const mb = rs.map((r) => r.mbps);
    const speed = rs.length ? `${f0(median(mb))} (${f0(Math.min(...mb))}–${f0(Math.max(...mb))})` : 'failed';
    const cpu = rs.length
      ? `${f2(median(rs.map((r) => r.senderCpu)) / gib)} / ${f2(median(rs.map((r) => r.receiverCpu)) / gib)}`
      : '–';
    lines.push(
      `| ${LABELS[tool]} | ${speed} | ${tool === 'socat loop' ? '–' : ratio(tool, 'socat loop')} | ${tool === 'iperf3' ? '–' : ratio(tool, 'iperf3')} | ${cpu} | ${rs.length}/${all.length} |`,
    );
  }
  lines.push('');
  for (const t of FARM_TARGETS) {
    const r = farmRatio(runs, t.tool, t.over);
    if (r)
      lines.push(
        `- target ${t.tool} >= ${t.want} x ${t.over}: ${f2(r.median)} ${r.median >= t.want ? 'met' : 'NOT met'}`,
      );
  }
  for (const tool of FARM_TOOLS) {
    const bs = runs.filter((r) => r.tool === tool && r.busy).map((r) => r.busy!);
    if (!bs.length) continue;
    const free = bs.flatMap((b) => b.freeAfterMs);
    lines.push(
      `- ${tool}: announces answered busy per run ${bs.map((b) => b.answers).join(', ')}; those plots waited ${bs.map((b) => b.waitedS.toFixed(1)).join(', ')} s in all before their next announce` +
        (free.length ? `, while a disk was freed ${f0(median(free))} ms after a busy answer (median)` : ''),
    );
  }
  const errors = [...new Set(runs.filter((r) => !r.ok).map((r) => `${r.tool}: ${r.error ?? 'failed'}`))];
  for (const e of errors) lines.push(`- FAILED ${e}`);
  return lines.join('\n');
}
