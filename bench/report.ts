/**
 * The bench's outputs: per scenario a summary row per tool (median MB/s with min and max,
 * plotferry's ratio to it, CPU seconds per GiB, peak RSS), as a terminal/Markdown table and an
 * SVG bar chart of MB/s per tool per scenario. The chart is a few rectangles and labels, written
 * here rather than adding a plotting library for it.
 */
import { median } from './proc.js';
import type { Run, Tool } from './tools.js';

export interface Row {
  tool: Tool;
  label: string;
  ok: number;
  runs: number;
  medianMBps: number;
  minMBps: number;
  maxMBps: number;
  /** plotferry's median over this tool's (how many times faster plotferry is). */
  plotferryRatio?: number;
  senderCpuPerGiB: number;
  receiverCpuPerGiB: number;
  senderRssMB?: number;
  receiverRssMB?: number;
  errors: string[];
}

export interface ScenarioResult {
  scenario: string;
  describe: string;
  skipped?: string;
  rows: Row[];
  runs: Run[];
}

export function summarize(runs: Run[], tools: Tool[], labels: Record<Tool, string>, size: number): Row[] {
  const gib = size / 2 ** 30;
  const rows: Row[] = tools.map((tool) => {
    const all = runs.filter((r) => r.tool === tool);
    const rs = all.filter((r) => r.ok);
    const mb = rs.map((r) => r.mbps);
    const max = (xs: (number | undefined)[]) => {
      const v = xs.filter((x): x is number => x !== undefined);
      return v.length ? Math.max(...v) : undefined;
    };
    return {
      tool,
      label: labels[tool],
      ok: rs.length,
      runs: all.length,
      medianMBps: rs.length ? median(mb) : 0,
      minMBps: rs.length ? Math.min(...mb) : 0,
      maxMBps: rs.length ? Math.max(...mb) : 0,
      senderCpuPerGiB: rs.length ? median(rs.map((r) => r.senderCpu)) / gib : 0,
      receiverCpuPerGiB: rs.length ? median(rs.map((r) => r.receiverCpu)) / gib : 0,
      senderRssMB: max(rs.map((r) => r.senderRssMB)),
      receiverRssMB: max(rs.map((r) => r.receiverRssMB)),
      errors: [...new Set(all.filter((r) => !r.ok).map((r) => r.error ?? 'failed'))],
    };
  });
  const pf = rows.find((r) => r.tool === 'plotferry');
  for (const r of rows) if (pf?.medianMBps && r.medianMBps) r.plotferryRatio = pf.medianMBps / r.medianMBps;
  return rows;
}

const f0 = (x: number) => x.toFixed(0);
const f2 = (x: number) => x.toFixed(2);

export function markdownTable(rows: Row[]): string {
  const lines = [
    '| tool | MB/s median (min–max) | plotferry ÷ tool | CPU s/GiB send / recv | peak RSS MB send / recv | ok |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const ratio = r.plotferryRatio === undefined ? '–' : f2(r.plotferryRatio);
    const mb = r.ok ? `${f0(r.medianMBps)} (${f0(r.minMBps)}–${f0(r.maxMBps)})` : 'failed';
    const rss = `${r.senderRssMB === undefined ? '–' : f0(r.senderRssMB)} / ${r.receiverRssMB === undefined ? '–' : f0(r.receiverRssMB)}`;
    lines.push(
      `| ${r.label} | ${mb} | ${ratio} | ${f2(r.senderCpuPerGiB)} / ${f2(r.receiverCpuPerGiB)} | ${rss} | ${r.ok}/${r.runs} |`,
    );
  }
  return lines.join('\n');
}

export function markdownReport(
  results: ScenarioResult[],
  meta: { machine: string; date: string; size: string; rounds: number; warmup: number; command: string },
): string {
  const out = [
    `# plotferry bench: ${meta.date}`,
    '',
    `Machine: ${meta.machine}. File: ${meta.size} of random bytes, ${meta.rounds} round(s) after ${meta.warmup} untimed warm-up round(s), tools interleaved`,
    `(A B C ... A B C ...), medians with min–max; every copy checked byte-exact. Command: \`${meta.command}\`.`,
    '',
    '![MB/s per tool per scenario](latest.svg)',
    '',
  ];
  for (const s of results) {
    out.push(`## ${s.scenario}: ${s.describe}`, '');
    if (s.skipped) {
      out.push(`Skipped: ${s.skipped}.`, '');
      continue;
    }
    out.push(markdownTable(s.rows), '');
    for (const r of s.rows) for (const e of r.errors) out.push(`- ${r.tool} failed: ${e}`);
    out.push('');
  }
  return out.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Horizontal bars, one group per scenario, plotferry highlighted. */
export function svgChart(results: ScenarioResult[], title: string): string {
  const ran = results.filter((s) => !s.skipped);
  const labelW = 270;
  const barW = 460;
  const rowH = 22;
  const headH = 30;
  const max = Math.max(1, ...ran.flatMap((s) => s.rows.map((r) => r.maxMBps)));
  const parts: string[] = [];
  let y = 40;
  for (const s of ran) {
    parts.push(`<text x="10" y="${y + 18}" font-weight="bold">${esc(s.scenario)}</text>`);
    y += headH;
    for (const r of s.rows) {
      const w = (r.medianMBps / max) * barW;
      const colour = r.tool === 'plotferry' ? '#2a9d4b' : r.tool === 'iperf3' ? '#999' : '#4a78b5';
      parts.push(
        `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(r.label)}</text>`,
        `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colour}"/>`,
        `<line x1="${labelW + (r.minMBps / max) * barW}" x2="${labelW + (r.maxMBps / max) * barW}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#222"/>`,
        `<text x="${labelW + w + 6}" y="${y + 15}">${r.ok ? `${f0(r.medianMBps)} MB/s` : 'failed'}</text>`,
      );
      y += rowH;
    }
    y += 10;
  }
  const width = labelW + barW + 110;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
