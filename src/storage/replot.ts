/**
 * `--replot`: PoS1 plots give way to incoming PoS2 plots just in time.
 *
 * A receiving disk counts the space of its PoS1 plots as room it may free. When a transfer that
 * was claimed needs more than is free above the reserve, the PoS1 plots go in `order` (oldest
 * first by default) until the incoming plot fits, and not one more. That happens when the
 * transfer starts (its header has arrived), before its first byte is written. Rules:
 * - Only a file whose header reads as PoS1 (chiapos v1, BladeBit v2) is ever deleted. A PoS2
 *   plot, a file that is not a plot, a file whose header cannot be read, and anything not
 *   matching `match` stay. So does a plot with a sweep's lock beside it (being sent), or with
 *   other hard links (deleting it would free nothing).
 * - Each victim is looked at again just before it goes (the same size, inode, mtime, and still
 *   PoS1), so a stale list never deletes the wrong file.
 * - Every deletion is logged with name, size, header kind and the plot it made room for.
 * - Bytes freed for a transfer that then fails stay free for the next plot; nothing refills them.
 * - `maxPerHour` stops a runaway (a wrong --reserve, a loop): past it, the plot is refused with
 *   PF_NO_SPACE and the log says why.
 * - `dryRun`: nothing is deleted; what would go is logged, and the disk is not counted as room.
 * Files are read only as PoS1 candidates when named `*.plot` (PoS1 plotters all name them so);
 * PoS2 `*.plot2` files are never opened for this. The list per directory is cached for a minute,
 * and its headers come from the directory's plot index (plot-index.ts): a list made again, or a
 * restart, reads no header it has read before. A victim's own header is read from the disk
 * again just before it is deleted.
 */
import { promises as fsp, type StatsFs } from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import type { Logger } from 'pino';
import { PlotferryError } from '../core/errors.js';
import { isPlotFileName, lockNameFor } from '../wire/names.js';
import { readPlotHeader } from './fsio.js';
import { type DirPlotIndex, headerIn, type HeaderSummary, plotIndexFor, summarize } from './plot-index.js';
import { formatBytes } from '../core/format.js';
import { metrics } from '../core/metrics.js';
import { type PlanStep, ReplotPlan } from './replot-plan.js';

export const REPLOT_ORDERS = ['oldest', 'newest', 'largest', 'smallest'] as const;
export type ReplotOrder = (typeof REPLOT_ORDERS)[number];
export const DEFAULT_REPLOT_MAX_PER_HOUR = 60;
const LIST_TTL_MS = 60_000;

/** What a command's --replot flags say (the rest comes from the receiver). */
export type ReplotSettings = Pick<ReplotOptions, 'match' | 'order' | 'dryRun' | 'maxPerHour'>;

export interface ReplotOptions {
  /** Only plots whose file name matches count (a glob); all PoS1 plots when absent. */
  match?: string;
  order?: ReplotOrder;
  dryRun?: boolean;
  maxPerHour?: number;
  log: Logger;
  /** A plot this deleted, and its size (for the ledger and the plot counts). */
  onDeleted?: (file: string, bytes: number) => void | Promise<void>;
}

/** A PoS1 plot that may go. */
export interface Victim {
  path: string;
  name: string;
  size: number;
  /** Bytes deleting it frees (allocated blocks). */
  frees: number;
  ino: number;
  mtimeMs: number;
  header: HeaderSummary;
}

/**
 * PoS1 candidates of a directory that --replot must keep, by reason: what `status` and
 * PF_NO_SPACE say when the replot can free nothing.
 */
export interface ReplotKept {
  /** `*.plot` files whose names do not match --replot-match (their headers are not read). */
  unmatched: number;
  /** PoS1 plots with other hard links: deleting one frees nothing. */
  linked: number;
  /** PoS1 plots with a sweep's lock beside them: being sent from here. */
  inUse: number;
}

/** What --replot may delete in a directory, and what it keeps. */
export interface ReplotList {
  victims: Victim[];
  kept: ReplotKept;
}

/** A directory's replot at a glance (heartbeat, `status`): what may go, and what stays. */
export interface ReplotSummary extends ReplotKept {
  /** PoS1 plots --replot may delete here, and their bytes (by size). */
  mayGoPlots: number;
  mayGoBytes: number;
}

/**
 * Why --replot can free nothing in a directory, in words (undefined when it can free some):
 * "--replot can free nothing here: 3 *.plot files do not match --replot-match old-*".
 */
export function replotBlocked(s: ReplotSummary, match?: string): string | undefined {
  if (s.mayGoPlots > 0) return undefined;
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  const parts = [
    ...(s.unmatched
      ? [`${n(s.unmatched, '*.plot file does', '*.plot files do')} not match --replot-match ${match ?? '(none)'}`]
      : []),
    ...(s.linked ? [`${n(s.linked, 'PoS1 plot is', 'PoS1 plots are')} hard-linked (deleting frees nothing)`] : []),
    ...(s.inUse ? [`${n(s.inUse, 'PoS1 plot is', 'PoS1 plots are')} being sent by a sweep`] : []),
  ];
  const why = parts.length
    ? parts.join(', ')
    : match
      ? `no PoS1 plot matches --replot-match ${match}`
      : 'no PoS1 plot here';
  return `--replot can free nothing here: ${why}`;
}

/**
 * Why deleting plots freed less room than their sizes, from the filesystem's counts. ext4 keeps
 * blocks for root (5% unless formatted with `-m 0`: ~900 GB of an 18 TB disk); a disk filled
 * into them by a process running as root gives an ordinary user no room back until its free
 * blocks exceed that reserve, so the deletions seemed to free nothing.
 */
export function whyStillShort(st: Pick<StatsFs, 'bfree' | 'bavail' | 'bsize'> | undefined, short: number): string {
  const kept = st ? (st.bfree - st.bavail) * st.bsize : 0;
  // The free blocks are there, but kept for root: the reserve alone is the shortfall.
  if (kept >= short)
    return `the filesystem keeps ${formatBytes(kept)} of its free space for root (ext4 reserved blocks); \`tune2fs -m 0 DEVICE\` gives that to plots on a disk that holds only plots`;
  return 'files changed meanwhile?';
}

export class Replotter {
  private readonly lists = new Map<string, { at: number; list: Promise<ReplotList> }>();
  /** --replot-dry-run: what a real --replot would have deleted so far (replot-plan.ts). */
  private readonly dryPlan = new ReplotPlan();
  private deletedAt: number[] = [];
  private readonly matcher?: (name: string) => boolean;

  constructor(private readonly o: ReplotOptions) {
    if (o.match) this.matcher = picomatch(o.match, { dot: false });
  }

  get dryRun(): boolean {
    return this.o.dryRun === true;
  }

  /** --replot-match, as given. */
  get match(): string | undefined {
    return this.o.match;
  }

  /** What may go from `dir` and what stays (the cached list: no more I/O than a bid's). */
  async summary(dir: string): Promise<ReplotSummary> {
    const { victims, kept } = await this.list(dir);
    return { mayGoPlots: victims.length, mayGoBytes: victims.reduce((n, v) => n + v.size, 0), ...kept };
  }

  /** Why --replot can free nothing in `dir` (undefined when it can, or in a dry run). */
  async blocked(dir: string): Promise<string | undefined> {
    if (this.dryRun) return undefined;
    return replotBlocked(await this.summary(dir), this.o.match);
  }

  /** Bytes the PoS1 plots of `dir` would free; 0 in a dry run (nothing will be deleted). */
  async freeable(dir: string): Promise<number> {
    if (this.dryRun) return 0;
    return (await this.victims(dir)).reduce((n, v) => n + v.frees, 0);
  }

  /** The plots that would go, in order, to free `need` bytes in `dir`; undefined if they cannot. */
  async plan(dir: string, need: number): Promise<Victim[] | undefined> {
    const chosen: Victim[] = [];
    let freed = 0;
    for (const v of await this.victims(dir)) {
      if (freed >= need) break;
      chosen.push(v);
      freed += v.frees;
    }
    return freed >= need ? chosen : undefined;
  }

  /**
   * Frees at least `need` bytes in `dir` for `forPlot` by deleting PoS1 plots, in order, each
   * checked again just before it goes; stops as soon as `stillNeeded()` is 0. Throws PF_NO_SPACE
   * when the plots that may go cannot free enough, or the hourly cap is reached.
   */
  async makeRoom(dir: string, forPlot: string, stillNeeded: () => Promise<number>): Promise<Victim[]> {
    const deleted: Victim[] = [];
    let need = await stillNeeded();
    if (need <= 0) return deleted;
    const plan = await this.plan(dir, need);
    if (this.dryRun) {
      this.logPlan(dir, forPlot, need, plan);
      throw new PlotferryError('PF_NO_SPACE', `replot dry run: nothing deleted in ${dir} for ${forPlot}`);
    }
    if (!plan) {
      const blocked = await this.blocked(dir).catch(() => undefined);
      throw new PlotferryError(
        'PF_NO_SPACE',
        `${dir}: the PoS1 plots that may go (--replot${this.o.match ? `, --replot-match ${this.o.match}` : ''}) cannot free ${formatBytes(need)} for ${forPlot}${blocked ? ` (${blocked})` : ''}`,
      );
    }
    for (const v of plan) {
      if (need <= 0) break;
      this.withinCap();
      if (!(await stillTheSame(v))) {
        this.lists.delete(dir);
        continue;
      }
      await fsp.unlink(v.path);
      this.deletedAt.push(Date.now());
      deleted.push(v);
      metrics.replotDeletedPlots.inc();
      metrics.replotDeletedBytes.inc(v.size);
      this.o.log.warn(
        {
          deleted: v.path,
          bytes: v.size,
          kind: describe(v.header),
          for: forPlot,
          mtime: new Date(v.mtimeMs).toISOString(),
        },
        `replot: deleted ${v.name} (${describe(v.header)}, ${formatBytes(v.size)}) to make room for ${forPlot}`,
      );
      await this.o.onDeleted?.(v.path, v.size);
      need = await stillNeeded();
    }
    this.lists.delete(dir);
    if (need > 0) {
      const st = await fsp.statfs(dir).catch(() => undefined);
      throw new PlotferryError(
        'PF_NO_SPACE',
        `${dir}: deleted ${deleted.length} PoS1 plot(s) for ${forPlot}, still ${formatBytes(need)} short (${whyStillShort(st, need)})`,
      );
    }
    return deleted;
  }

  /**
   * --replot-dry-run, for plot `name` that no disk has room for: the plan's next step, logged
   * once per plot, with what the plan has deleted so far (nothing is deleted).
   */
  async planDryRun(
    name: string,
    size: number,
    reserve: number,
    disks: readonly { dir: string; freeBytes: number }[],
  ): Promise<PlanStep | undefined> {
    const withVictims = await Promise.all(
      disks.map(async (d) => ({
        ...d,
        victims: (await this.victims(d.dir)).map((v) => ({ name: v.name, frees: v.frees })),
      })),
    );
    const step = this.dryPlan.step(name, size, reserve, withVictims);
    if (!step) return undefined;
    const soFar = this.soFar();
    if (step.kind === 'no-room')
      this.o.log.info(
        { for: name, dryRun: 'no-room' },
        `replot dry run: ${name}: no disk could make room for it, even deleting every PoS1 plot that may go; ${soFar}`,
      );
    else
      this.o.log.info(
        { for: name, dir: step.dir, would: step.deletes.map((v) => v.name), dryRun: 'lands' },
        `replot dry run: ${name} would land on ${step.dir}, ${step.deletes.length ? `deleting ${step.deletes.map((v) => `${v.name} (${formatBytes(v.frees)})`).join(', ')}` : 'in room an earlier deletion freed'}; ${soFar}`,
      );
    return step;
  }

  /**
   * --replot-dry-run: plot `name` was stored by harvester `by` (another one, or this one after
   * all). A real --replot would have deleted nothing for it, so it leaves the plan (replot-plan.ts
   * retract), said in one line. False when the plan did not hold it.
   */
  retractDryRun(name: string, by: string): boolean {
    if (!this.dryRun || !this.dryPlan.retract(name)) return false;
    this.o.log.info(
      { for: name, harvester: by, dryRun: 'retracted' },
      `replot dry run: ${name} went to ${by}: out of the plan; ${this.soFar()}`,
    );
    return true;
  }

  /** The plan so far, as each of its lines ends. */
  private soFar(): string {
    const p = this.dryPlan;
    return `so far ${p.landedPlots} plot(s) would have landed and ${p.deletedPlots} PoS1 plot(s) gone (${formatBytes(p.deletedBytes)}); nothing deleted`;
  }

  /** Forget the cached list of `dir` (a plot arrived or left). */
  changed(dir: string): void {
    this.lists.delete(dir);
  }

  private withinCap(): void {
    const hourAgo = Date.now() - 3_600_000;
    this.deletedAt = this.deletedAt.filter((t) => t > hourAgo);
    const cap = this.o.maxPerHour ?? DEFAULT_REPLOT_MAX_PER_HOUR;
    if (this.deletedAt.length >= cap)
      throw new PlotferryError(
        'PF_NO_SPACE',
        `replot cap reached: ${this.deletedAt.length} PoS1 plots deleted in the last hour (--replot-max-per-hour ${cap}); nothing more is deleted until the hour has passed`,
      );
  }

  private logPlan(dir: string, forPlot: string, need: number, plan: Victim[] | undefined): void {
    if (!plan) {
      this.o.log.info(
        { dir, for: forPlot, need },
        `replot dry run: the PoS1 plots here could not free ${formatBytes(need)} for ${forPlot}`,
      );
      return;
    }
    this.o.log.info(
      { dir, for: forPlot, need, would: plan.map((v) => v.name) },
      `replot dry run: would delete ${plan.map((v) => `${v.name} (${describe(v.header)}, ${formatBytes(v.size)})`).join(', ')} for ${forPlot}; nothing deleted`,
    );
  }

  /** The PoS1 plots of `dir` that may go, in order (cached for a minute). */
  private async victims(dir: string): Promise<Victim[]> {
    return (await this.list(dir)).victims;
  }

  /** The PoS1 plots of `dir` that may go, in order, and those kept (cached for a minute). */
  private list(dir: string): Promise<ReplotList> {
    const have = this.lists.get(dir);
    if (have && Date.now() - have.at < LIST_TTL_MS) return have.list;
    const list = listVictims(dir, this.matcher).then((l) => ({
      ...l,
      victims: sortVictims(l.victims, this.o.order ?? 'oldest'),
    }));
    list.catch(() => this.lists.delete(dir));
    this.lists.set(dir, { at: Date.now(), list });
    return list;
  }
}

function describe(h: HeaderSummary): string {
  const c = h.compression ? ` C${h.compression}` : '';
  return `PoS1 ${h.format} k${h.k}${c}`;
}

function sortVictims(vs: Victim[], order: ReplotOrder): Victim[] {
  const by: Record<ReplotOrder, (a: Victim, b: Victim) => number> = {
    oldest: (a, b) => a.mtimeMs - b.mtimeMs,
    newest: (a, b) => b.mtimeMs - a.mtimeMs,
    largest: (a, b) => b.size - a.size,
    smallest: (a, b) => a.size - b.size,
  };
  // Ties by name, so the order is the same every time.
  return vs.sort((a, b) => by[order](a, b) || a.name.localeCompare(b.name));
}

async function listVictims(dir: string, match?: (name: string) => boolean): Promise<ReplotList> {
  const names = await fsp.readdir(dir);
  const present = new Set(names);
  // `listen` has no inventory to scan the directory: the index's entries of `*.plot` files that
  // are gone go here.
  const index = await plotIndexFor(dir);
  index.retain((n) => !n.endsWith('.plot') || present.has(n));
  const victims: Victim[] = [];
  const kept: ReplotKept = { unmatched: 0, linked: 0, inUse: 0 };
  for (const name of names) {
    if (!isPlotFileName(name) || !name.endsWith('.plot')) continue;
    if (match && !match(name)) {
      kept.unmatched++;
      continue;
    }
    // Linked and locked ones are read too (few, as a rule) so that only PoS1 plots count as kept.
    const v = await inspect(path.join(dir, name), index, true);
    if (!v) continue;
    if (present.has(lockNameFor(name)))
      kept.inUse++; // a sweep here is sending it
    else if (v.nlink !== 1) kept.linked++;
    else victims.push(v);
  }
  return { victims, kept };
}

/**
 * The file as a victim: a regular file, one link, a PoS1 header; else undefined. `from`: where
 * its header comes from: the directory's plot index, or the disk (just before it is deleted).
 */
async function inspect(file: string, from: 'disk'): Promise<Victim | undefined>;
/** `anyLinks`: with other hard links too (`nlink` says how many). */
async function inspect(
  file: string,
  from: DirPlotIndex,
  anyLinks: true,
): Promise<(Victim & { nlink: number }) | undefined>;
async function inspect(
  file: string,
  from: DirPlotIndex | 'disk',
  anyLinks = false,
): Promise<(Victim & { nlink: number }) | undefined> {
  try {
    const st = await fsp.lstat(file, { bigint: true });
    if (!st.isFile() || (st.nlink !== 1n && !anyLinks)) return undefined;
    const header =
      from === 'disk'
        ? summarize(await readPlotHeader(file, Number(st.size)))
        : await headerIn(from, path.basename(file), st);
    if (header?.pos !== 1) return undefined;
    return {
      nlink: Number(st.nlink),
      path: file,
      name: path.basename(file),
      size: Number(st.size),
      frees: Number(st.blocks) * 512,
      ino: Number(st.ino),
      mtimeMs: Number(st.mtimeNs) / 1e6,
      header,
    };
  } catch {
    return undefined; // unreadable, or not a plot: never deleted
  }
}

async function stillTheSame(v: Victim): Promise<boolean> {
  const now = await inspect(v.path, 'disk');
  return now !== undefined && now.ino === v.ino && now.size === v.size && now.mtimeMs === v.mtimeMs;
}
