/**
 * What each receiving directory holds, for heartbeats and `status`, without touching every plot
 * every few seconds. Counting and sizing a directory (readdir, then `du` through
 * fast-folder-size) costs O(plots): with 18,000 PoS2 plots on each of 20 disks that is 360,000
 * files every 5 s, CPU all the time, and HDDs that never sleep. So the counts are kept here:
 * a plot this harvester stores is added as it lands, and a slow reconciliation scan (at start,
 * then every `rescanMs`, default 10 min) catches what changed outside plotferry (a farmer's
 * `rm`, a copy by hand). Free and total space come from statfs on every heartbeat, which is O(1).
 *
 * What each plot is (PoS1 or PoS2, its group) comes from its header, read once: the directory's
 * plot index (storage/plot-index.ts) keeps it across restarts, so a restart of an unchanged disk
 * reads no header, only the directory and the plots' inodes.
 *
 * Between scans, a watch on each directory (inotify, one per directory, not per file) names the
 * files that came or went, and only those are looked at (an lstat each): a plot removed by hand
 * leaves the counts within a second, at O(changes). A watch that cannot be set up (the inotify
 * limit, max_user_watches) or that fails, and events the kernel dropped (its queue overflowed;
 * libuv does not report that), leave the counts to the next scan, as before.
 */
import fs, { type BigIntStats, promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as fastFolderSizeModule from 'fast-folder-size';
import type { Logger } from 'pino';
import { isPlotFileName } from '../wire/names.js';
import { groupOf, type PlotGroup, type PlotHeaderInfo } from '../wire/plot-header.js';
import {
  type DirPlotIndex,
  fileKey,
  HEADER_READS_PER_DISK,
  headerIn,
  type HeaderSummary,
  type IndexEntry,
  plotIndexFor,
  reconcile,
  sizeOfKey,
  summarize,
} from '../storage/plot-index.js';

// A CommonJS module whose typings say `export default`: under NodeNext the function is the
// namespace's default, as Node itself provides it.
const fastFolderSize = (
  fastFolderSizeModule as unknown as { default: (dir: string, cb: (err: Error | null, bytes?: number) => void) => void }
).default;
/** Bytes under `dir` (it runs `du`). */
const folderSize = promisify(fastFolderSize);

export const DEFAULT_RESCAN_MS = 10 * 60_000;

export interface DirCounts {
  plots: number;
  /** Bytes of the plot files alone (hidden records, locks and other files are not plots). */
  plotBytes: number;
  /** Bytes of everything else under the directory (`du` less the plots), at the last scan. */
  otherBytes: number;
  /** The replot's progress: PoS1 plots (by header) and PoS2 plots (`*.plot2`, or by header). */
  pos1Plots: number;
  pos1Bytes: number;
  pos2Plots: number;
  pos2Bytes: number;
  /** PoS2 plot groups (by group key). */
  groups: number;
  /** The last plot this process stored here, and why the disk was chosen. */
  placed?: { name: string; why: string; at: number };
}

/** What a directory holds of one group, for placement (storage/disks.ts). */
export interface GroupPresence {
  /** Plots of the group `key` here. */
  plots: number;
  /** Other groups here of the same meta-group. */
  sameMeta: number;
}

/** Stats issued at once during a scan: enough to keep a disk's queue busy, few enough to share it. */
const STAT_BATCH = 64;

/**
 * How long the watch collects names before they are looked at: a `rm *.plot` of thousands is
 * looked at in one pass, and a file renamed twice in a row once.
 */
const WATCH_SETTLE_MS = 200;

/** Bytes per minute over the last day: a rate without keeping one entry per plot. */
class MinuteBuckets {
  private readonly buckets = new Map<number, number>();

  add(bytes: number, now = Date.now()): void {
    const m = Math.floor(now / 60_000);
    this.buckets.set(m, (this.buckets.get(m) ?? 0) + bytes);
    for (const k of this.buckets.keys()) if (k <= m - 1440) this.buckets.delete(k);
  }

  /** Bytes in the last `minutes` minutes. */
  sum(minutes: number, now = Date.now()): number {
    const from = Math.floor(now / 60_000) - minutes;
    let n = 0;
    for (const [k, v] of this.buckets) if (k > from) n += v;
    return n;
  }
}

/** The replot's pace on this harvester: PoS2 bytes stored, PoS1 bytes deleted by --replot. */
export interface ReplotRates {
  pos2StoredLastHour: number;
  pos2StoredLastDay: number;
  pos1DeletedLastHour: number;
  pos1DeletedLastDay: number;
}

export class Inventory {
  private readonly stored = new MinuteBuckets();
  private readonly deleted = new MinuteBuckets();
  /** Per directory: every plot's name and size, and their sum. */
  private readonly plots = new Map<string, PlotIndex>();
  private readonly other = new Map<string, number>();
  private readonly placed = new Map<string, { name: string; why: string; at: number }>();
  private timer?: NodeJS.Timeout;
  /** Per directory, the background reading of its last scan's PoS2 headers (readLater). */
  private readonly reading = new Map<string, Promise<void>>();
  private scanning?: Promise<void>;
  /** Per directory, its watch and the directory it watches (st_dev:st_ino: a remount is another). */
  private readonly watchers = new Map<string, { watcher: fs.FSWatcher; identity: string }>();
  /** Per directory, the names the watch reported since they were last looked at. */
  private readonly touched = new Map<string, Set<string>>();
  private settleTimer?: NodeJS.Timeout;
  private lookingAgain?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly dirs: () => readonly string[],
    private readonly log: Logger,
    private readonly rescanMs = DEFAULT_RESCAN_MS,
    /**
     * A plot name in `dir` came or went outside this index's own updates (seen by the watch):
     * what caches a directory's plots (--replot's list of PoS1 plots that may go) looks again.
     */
    private readonly onOutsideChange?: (dir: string) => void,
  ) {}

  /** Scans now, then every rescanMs (the timer does not keep the process alive). */
  start(): Promise<void> {
    this.started = true;
    this.timer = setInterval(() => void this.rescan(), this.rescanMs);
    this.timer.unref();
    return this.rescan();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.settleTimer);
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** The counts of `dir` (zero before its first scan), from the index: O(1), no disk touched. */
  of(dir: string): DirCounts {
    const m = this.plots.get(dir) ?? new PlotIndex();
    return {
      plots: m.size,
      plotBytes: m.bytes,
      otherBytes: this.other.get(dir) ?? 0,
      pos1Plots: m.byPos[1].plots,
      pos1Bytes: m.byPos[1].bytes,
      pos2Plots: m.byPos[2].plots,
      pos2Bytes: m.byPos[2].bytes,
      groups: m.groups.size,
      ...(this.placed.has(dir) ? { placed: this.placed.get(dir)! } : {}),
    };
  }

  /** What `dir` holds of `group`, from the index: O(1). */
  groupIn(dir: string, group: PlotGroup): GroupPresence {
    const m = this.plots.get(dir);
    if (!m) return { plots: 0, sameMeta: 0 };
    const g = m.groups.get(group.key);
    const sameMeta = (m.metaGroups.get(group.meta) ?? 0) - (g && g.meta === group.meta ? 1 : 0);
    return { plots: g?.plots ?? 0, sameMeta };
  }

  /** The plots `dir` holds, by name with their sizes (a read-only view of the index). */
  plotsIn(dir: string): ReadonlyMap<string, number> {
    return this.plots.get(dir) ?? new PlotIndex();
  }

  /**
   * A plot this process stored in `dir`: counted at once, not at the next scan. `why`: why the
   * disk was chosen, for `status`. `group`: the plot's group as announced, counted at once.
   * `header`: what the receiver read from the first buffer; without it the header is read now
   * (the page cache has it), and the promise is that read. The header has the last word.
   */
  added(
    finalPath: string,
    bytes: number,
    why?: string,
    group?: PlotGroup,
    header?: PlotHeaderInfo | null,
  ): Promise<void> {
    const name = path.basename(finalPath);
    if (!isPlotFileName(name)) return Promise.resolve();
    const dir = path.dirname(finalPath);
    const index = this.plots.get(dir);
    if (!index) return Promise.resolve();
    if (why) this.placed.set(dir, { name, why, at: Date.now() });
    const byName = posByName(name);
    const settle = (kind: Kind) => {
      if (index.get(name) !== bytes) return;
      index.setPlot(name, bytes, byName || kind.pos, kind.group ?? group);
      if (byName === 0 && kind.pos === 2) this.stored.add(bytes);
    };
    if (byName === 2) this.stored.add(bytes);
    index.setPlot(name, bytes, byName, group, false);
    // The receiver read the header on its way to disk: no second read, and the plot index
    // learns it, so that no restart reads it either.
    if (header !== undefined) {
      void indexKnown(finalPath, header, this.log);
      return Promise.resolve(settle(kindOf(header)));
    }
    return readKind(finalPath, this.log).then(settle);
  }

  /**
   * A plot this process removed (--replot). `pos1Bytes`: the PoS1 plot's size, as the deleter
   * knew it (the watch may have taken it out of the index already).
   */
  removed(finalPath: string, pos1Bytes?: number): void {
    const index = this.plots.get(path.dirname(finalPath));
    const name = path.basename(finalPath);
    const size = index?.get(name);
    if (pos1Bytes !== undefined) this.deleted.add(pos1Bytes);
    else if (index && size !== undefined && index.posOf(name) === 1) this.deleted.add(size);
    index?.delete(name);
  }

  /** `dir`'s disk is gone: nothing it held is here now (counted again when it is back). */
  forget(dir: string): void {
    this.plots.delete(dir);
    this.other.delete(dir);
  }

  /**
   * A directory that became this process's after the start (a disk mounted late, one remounted
   * writable): scanned now, after the scan under way, instead of at the next reconciliation.
   */
  joined(dir: string): void {
    if (!this.started || this.stopped) return; // the first scan will see it
    void (this.scanning ?? Promise.resolve()).then(() => (this.dirs().includes(dir) ? this.scanDir(dir) : 0));
  }
  private started = false;

  /** A scan soon that sees every directory as it is now (after the one under way, if any). */
  refresh(): void {
    void (this.scanning ?? Promise.resolve()).then(() => this.rescan());
  }

  /** PoS2 bytes stored and PoS1 bytes deleted, over the last hour and day. */
  rates(): ReplotRates {
    return {
      pos2StoredLastHour: this.stored.sum(60),
      pos2StoredLastDay: this.stored.sum(1440),
      pos1DeletedLastHour: this.deleted.sum(60),
      pos1DeletedLastDay: this.deleted.sum(1440),
    };
  }

  /**
   * One reconciliation scan of every directory (never two at once), the directories side by
   * side (header reads are capped per disk, storage/plot-index.ts): the names and sizes of its
   * plots (readdir, then an lstat of each plot, O(plots) every rescanMs), their headers from the
   * directory's plot index (read only for files it does not know), and the bytes of what else
   * the directory holds (otherBytes).
   */
  rescan(): Promise<void> {
    this.scanning ??= (async () => {
      const t0 = Date.now();
      const counts = await Promise.all(this.dirs().map((dir) => this.scanDir(dir)));
      this.log.debug({ ms: Date.now() - t0, plots: counts.reduce((a, b) => a + b, 0) }, 'inventory scanned');
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** One directory's scan (rescan); the plots found. */
  private async scanDir(dir: string): Promise<number> {
    // Watched before it is read, so nothing that changes during the scan goes unseen.
    if (!this.stopped) await this.watch(dir);
    const names = await fsp.readdir(dir).catch(() => undefined);
    const index = names && (await plotIndexFor(dir, this.log).catch(() => undefined));
    if (!names || !index) return 0;
    // A start that lists the very plot names a whole index holds: their sizes and headers from it,
    // no lstat (after a reboot, one read per 16 plots on ext4); the periodic scans look at each.
    const known = this.plots.has(dir) ? undefined : index.knownByName(names.filter(isPlotFileName));
    if (known) return this.takeKnown(dir, names, index, known);
    const { plots, otherBytes } = await listDir(dir, names);
    const listing = new Map([...plots].map(([n, st]) => [n, fileKey(st)]));
    const r = reconcile(listing, index.all());
    for (const n of r.drop) index.delete(n);
    const found = new PlotIndex();
    for (const [n, e] of r.keep)
      found.setPlot(n, Number(plots.get(n)!.size), posByName(n) || posOf(e.header), groupOfSummary(e.header));
    // A `*.plot2` is PoS2 by its name: its header (for its group) is read after the scan, so that
    // 18,000 new ones on an HDD do not hold up the start (readLater). A `*.plot` is read now.
    const later = r.read.filter((n) => posByName(n) === 2);
    for (const n of later) found.setPlot(n, Number(plots.get(n)!.size), 2, undefined, false);
    const readsBefore = index.headerReads;
    await Promise.all(
      r.read
        .filter((n) => posByName(n) !== 2)
        .map(async (n) => {
          const st = plots.get(n)!;
          const kind = await kindIn(index, path.join(dir, n), st);
          found.setPlot(n, Number(st.size), kind.pos, kind.group);
        }),
    );
    const readNow = index.headerReads - readsBefore;
    // Its disk went while it was read: what was read is not here any more.
    if (!this.dirs().includes(dir)) return 0;
    const before = this.plots.get(dir);
    if (before) logDrift(this.log, dir, before, found);
    this.plots.set(dir, found);
    this.other.set(dir, otherBytes);
    // In inode order: on ext4 a file's first block lies near its inode, so the head sweeps
    // across the disk once instead of seeking at random.
    later.sort((a, b) => (plots.get(a)!.ino < plots.get(b)!.ino ? -1 : 1));
    const read = later.length > 0 ? this.readLater(dir, index, found, plots, later) : Promise.resolve();
    // Every plot listed is indexed for that very file: the next start may take them by name.
    const whole = () => {
      if ([...plots].every(([n, st]) => index.get(n, fileKey(st)))) index.markWhole();
    };
    this.reading.set(dir, this.readAndSave(read.then(whole), index, found, readNow, !before));
    return found.size;
  }

  /** A first scan from a whole index that holds exactly the listed plot names (knownByName). */
  private async takeKnown(
    dir: string,
    names: readonly string[],
    index: DirPlotIndex,
    known: ReadonlyMap<string, IndexEntry>,
  ): Promise<number> {
    const { otherBytes } = await listDir(dir, names, false);
    if (!this.dirs().includes(dir)) return 0;
    const found = new PlotIndex();
    for (const [n, e] of known)
      found.setPlot(n, sizeOfKey(e.key), posByName(n) || posOf(e.header), groupOfSummary(e.header));
    this.plots.set(dir, found);
    this.other.set(dir, otherBytes);
    this.log.info(
      { dir, plots: found.size, headersRead: 0, index: 'by-name' },
      `plot index: ${found.size} plot(s), 0 header(s) read, no plot looked at (the index holds every name listed)`,
    );
    return found.size;
  }

  /** Once `read` is done: says how many headers the scan read (none: the index knew them all), and saves the index. */
  private async readAndSave(
    read: Promise<void>,
    index: DirPlotIndex,
    found: PlotIndex,
    readBefore: number,
    first: boolean,
  ): Promise<void> {
    const reads0 = index.headerReads;
    await read;
    const headersRead = index.headerReads - reads0 + readBefore;
    this.log[first ? 'info' : 'debug'](
      { dir: index.dir, plots: found.size, headersRead, index: index.found },
      `plot index: ${found.size} plot(s), ${headersRead} header(s) read`,
    );
    await index.flush();
  }

  /**
   * Watches `dir` for names that come and go, unless the same directory is watched already; a
   * directory that is another now (remounted, replaced) is watched again.
   */
  private async watch(dir: string): Promise<void> {
    const st = await fsp.stat(dir).catch(() => undefined);
    const have = this.watchers.get(dir);
    const identity = st ? `${st.dev}:${st.ino}` : '';
    if (have && have.identity === identity) return;
    have?.watcher.close();
    this.watchers.delete(dir);
    if (!st || this.stopped) return;
    const giveUp = (err: unknown) =>
      this.log.warn(
        { dir, err: (err as Error).message },
        'inventory: cannot watch this directory; plots removed or added by hand show at the next scan',
      );
    try {
      // Not persistent: a watch never keeps the process alive.
      const watcher = fs.watch(dir, { persistent: false }, (event, name) => this.onWatch(dir, identity, event, name));
      watcher.on('error', (err) => {
        watcher.close();
        if (this.watchers.get(dir)?.watcher === watcher) this.watchers.delete(dir);
        giveUp(err);
      });
      this.watchers.set(dir, { watcher, identity });
    } catch (err) {
      giveUp(err);
    }
  }

  /** A name in `dir` came, went or was renamed (content writes, 'change', are of no interest). */
  private onWatch(dir: string, identity: string, event: string, name: string | Buffer | null): void {
    if (event !== 'rename' || this.stopped) return;
    const n = name === null ? undefined : name.toString();
    if (n === undefined || !isPlotFileName(n)) {
      // The directory itself went (unmounted, removed): this watch is dead; the scan sets up another.
      if (n === undefined || n === path.basename(dir)) void this.checkWatched(dir, identity);
      return;
    }
    let names = this.touched.get(dir);
    if (!names) this.touched.set(dir, (names = new Set()));
    names.add(n);
    this.onOutsideChange?.(dir);
    this.settleTimer ??= setTimeout(() => {
      this.settleTimer = undefined;
      this.lookingAgain ??= this.lookAgain().finally(() => (this.lookingAgain = undefined));
    }, WATCH_SETTLE_MS);
  }

  private async checkWatched(dir: string, identity: string): Promise<void> {
    const st = await fsp.stat(dir).catch(() => undefined);
    const w = this.watchers.get(dir);
    if (w?.identity === identity && (!st || `${st.dev}:${st.ino}` !== identity)) {
      w.watcher.close();
      this.watchers.delete(dir);
    }
  }

  /**
   * The names the watches reported, each looked at once (lstat; a header read for a `*.plot`
   * that came): the index follows what is on disk without a scan. A scan under way finishes
   * first, so its index is the one brought up to date.
   */
  private async lookAgain(): Promise<void> {
    while (this.touched.size > 0) {
      await this.scanning;
      const batch = [...this.touched];
      this.touched.clear();
      for (const [dir, names] of batch) {
        const index = this.plots.get(dir);
        if (!index) continue;
        let gone = 0;
        for (const n of names) {
          const st = await fsp.lstat(path.join(dir, n), { bigint: true }).catch(() => undefined);
          if (!st?.isFile()) {
            if (index.delete(n)) gone++;
            void plotIndexFor(dir, this.log).then(
              (i) => i.delete(n),
              () => undefined,
            );
            continue;
          }
          const size = Number(st.size);
          if (index.get(n) === size) continue;
          // Came (a copy by hand, or a plot this process just stored: added() has its last word).
          const kind = await readKind(path.join(dir, n), this.log);
          if (this.plots.get(dir) === index) index.setPlot(n, size, posByName(n) || kind.pos, kind.group);
        }
        if (gone) this.log.info({ dir, gone }, `inventory: ${gone} plot(s) removed outside plotferry`);
      }
    }
  }

  /** Resolves once the PoS2 headers the scans left for later are read (their groups known). */
  async headersRead(): Promise<void> {
    await Promise.all(this.reading.values());
  }

  /**
   * The headers of `names` in `dir` (PoS2 plots whose group is not known yet), a few at a time
   * in the background; an entry that changed meanwhile (another scan, a plot gone) is left alone.
   */
  private async readLater(
    dir: string,
    index: DirPlotIndex,
    found: PlotIndex,
    plots: ReadonlyMap<string, BigIntStats>,
    names: readonly string[],
  ): Promise<void> {
    for (let i = 0; i < names.length; i += HEADER_READS_PER_DISK) {
      await Promise.all(
        names.slice(i, i + HEADER_READS_PER_DISK).map(async (n) => {
          const size = found.get(n);
          if (size === undefined || this.plots.get(dir) !== found) return; // a newer scan has it
          const kind = await kindIn(index, path.join(dir, n), plots.get(n)!);
          if (found.get(n) === size && !found.kindOf(n)?.read) found.setPlot(n, size, 2, kind.group);
        }),
      );
    }
  }
}

/** 1 (PoS1), 2 (PoS2), 0 (not known: no readable header). */
type Pos = 0 | 1 | 2;

/** What a name says: `*.plot2` (and PoS2 group files) are PoS2; `*.plot` needs its header. */
function posByName(name: string): Pos {
  return name.endsWith('.plot2') || name.endsWith('.gplot') ? 2 : 0;
}

interface Kind {
  pos: Pos;
  group?: PlotGroup;
  /** Taken from the header (false: from the name only, its header not read yet). */
  read?: boolean;
}

/** What a header says (null: no plot's). */
function kindOf(h: PlotHeaderInfo | null): Kind {
  const group = h ? groupOf(h) : undefined;
  return { pos: h?.pos ?? 0, ...(group ? { group } : {}) };
}

function posOf(h: HeaderSummary | null): Pos {
  return h?.pos ?? 0;
}

function groupOfSummary(h: HeaderSummary | null): PlotGroup | undefined {
  return h ? groupOf({ ...h, id: '' }) : undefined;
}

/** What the header of `file` (which `st` describes) says, through the directory's plot index. */
async function kindIn(index: DirPlotIndex, file: string, st: BigIntStats): Promise<Kind> {
  try {
    const h = await headerIn(index, path.basename(file), st);
    const group = groupOfSummary(h);
    return { pos: posOf(h), ...(group ? { group } : {}) };
  } catch {
    return { pos: 0 }; // unreadable now: not indexed, read again at the next scan
  }
}

/** A header the receiver read, into the plot index (best effort: else read at the next start). */
async function indexKnown(file: string, header: PlotHeaderInfo | null, log: Logger): Promise<void> {
  const st = await fsp.lstat(file, { bigint: true }).catch(() => undefined);
  const index = await plotIndexFor(path.dirname(file), log).catch(() => undefined);
  if (st?.isFile() && index) index.set(path.basename(file), fileKey(st), header ? summarize(header) : null);
}

/** What the header of `file` says, `st` taken now; pos 0 when it is gone or cannot be read. */
async function readKind(file: string, log: Logger): Promise<Kind> {
  const st = await fsp.lstat(file, { bigint: true }).catch(() => undefined);
  const index = await plotIndexFor(path.dirname(file), log).catch(() => undefined);
  if (!st?.isFile() || !index) return { pos: 0 };
  return kindIn(index, file, st);
}

/**
 * A directory's plots (regular files named as plots: lstat, mtime in ns for the index's key),
 * and the bytes of everything else in it: an lstat of each other entry (a few: plotferry's hidden
 * files, a farmer's notes), and `du` only of a subdirectory. `du` of the whole directory read
 * every plot's inode again every rescan (18,000 on a full HDD) to learn what the lstats had
 * just said.
 */
async function listDir(
  dir: string,
  all: readonly string[],
  withPlots = true,
): Promise<{ plots: Map<string, BigIntStats>; otherBytes: number }> {
  const plots = new Map<string, BigIntStats>();
  let otherBytes = 0;
  // withPlots false: the plots are known by name (knownByName), only the rest is looked at.
  const names = withPlots ? all : all.filter((n) => !isPlotFileName(n));
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    await Promise.all(
      names.slice(i, i + STAT_BATCH).map(async (n) => {
        const st = await fsp.lstat(path.join(dir, n), { bigint: true }).catch(() => undefined);
        if (!st) return;
        if (st.isFile() && isPlotFileName(n)) plots.set(n, st);
        else if (st.isDirectory()) otherBytes += (await folderSize(path.join(dir, n)).catch(() => 0)) ?? 0;
        else otherBytes += Number(st.size);
      }),
    );
  }
  return { plots, otherBytes };
}

/**
 * Plot names and sizes, keeping their sums (all, PoS1, PoS2) and their groups up to date, so
 * counts and placement cost O(1).
 */
class PlotIndex extends Map<string, number> {
  bytes = 0;
  readonly byPos: Record<Pos, { plots: number; bytes: number }> = {
    0: { plots: 0, bytes: 0 },
    1: { plots: 0, bytes: 0 },
    2: { plots: 0, bytes: 0 },
  };
  /** Per group key: its plots here, and its meta-group (its first plot's). */
  readonly groups = new Map<string, { plots: number; meta: number }>();
  /** Per meta-group: how many groups here have it. */
  readonly metaGroups = new Map<number, number>();
  private readonly kinds = new Map<string, Kind>();

  posOf(name: string): Pos | undefined {
    return this.kinds.get(name)?.pos;
  }

  kindOf(name: string): Kind | undefined {
    return this.kinds.get(name);
  }

  setPlot(name: string, size: number, pos: Pos, group?: PlotGroup, read = true): this {
    this.delete(name);
    super.set(name, size);
    this.kinds.set(name, { pos, read, ...(group ? { group } : {}) });
    this.bytes += size;
    this.byPos[pos].plots++;
    this.byPos[pos].bytes += size;
    if (group) {
      const g = this.groups.get(group.key);
      if (g) g.plots++;
      else {
        this.groups.set(group.key, { plots: 1, meta: group.meta });
        this.metaGroups.set(group.meta, (this.metaGroups.get(group.meta) ?? 0) + 1);
      }
    }
    return this;
  }

  override set(name: string, size: number): this {
    // (Map's constructor calls set before the fields exist; it is never given entries here.)
    return this.setPlot(name, size, posByName(name), undefined, false);
  }

  override delete(name: string): boolean {
    const size = super.get(name);
    if (size === undefined) return false;
    const kind = this.kinds.get(name);
    const pos = kind?.pos ?? 0;
    this.bytes -= size;
    this.byPos[pos].plots--;
    this.byPos[pos].bytes -= size;
    const key = kind?.group?.key;
    const g = key !== undefined ? this.groups.get(key) : undefined;
    if (key !== undefined && g && --g.plots === 0) {
      this.groups.delete(key);
      const left = (this.metaGroups.get(g.meta) ?? 1) - 1;
      if (left > 0) this.metaGroups.set(g.meta, left);
      else this.metaGroups.delete(g.meta);
    }
    this.kinds.delete(name);
    return super.delete(name);
  }
}

/** Plots that came or went outside plotferry since the last scan, said once in the log. */
function logDrift(log: Logger, dir: string, before: ReadonlyMap<string, number>, now: ReadonlyMap<string, number>) {
  let gone = 0;
  let came = 0;
  for (const n of before.keys()) if (!now.has(n)) gone++;
  for (const n of now.keys()) if (!before.has(n)) came++;
  if (gone || came)
    log.info(
      { dir, gone, came },
      `inventory: ${gone} plot(s) removed and ${came} added outside plotferry since the last scan`,
    );
}
