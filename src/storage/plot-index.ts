/**
 * A persistent index of plot headers per receiving directory (`.plotferry-plot-index`), so that a
 * restart reads no header it has read before. Measured on an ext4 disk capped at 150 reads/s (an
 * HDD's seek rate): a start without it read every plot's header, one seek each, 10,002 reads and
 * 69 s for 10,000 plots; see docs/performance.md for the figures with it.
 *
 * - **Keyed by the file, not the name.** An entry holds the plot's size, inode and mtime (ns);
 *   it is believed only while the file still has all three. A plot replaced under its name, or
 *   rewritten, is read again; one that is gone is dropped at the next scan.
 * - **A cache, never the truth.** A missing, truncated, garbled index, or one written by a newer
 *   version, is set aside and rebuilt from the headers (read once more). Its first line carries
 *   a version, the entry count and a checksum of the rest, so a cut or garbled file is known.
 * - **Written atomically** (temporary file, fsync, rename, directory fsync), after a scan and
 *   after changes, at most every SAVE_DELAY_MS: one write per landed plot on an HDD is a seek
 *   the farming harvester pays for. A directory that cannot be written (read-only) is said once;
 *   the index then lives in memory only.
 * - **Compact**: a JSON array per plot, the header without its plot id (nothing uses it here).
 *
 * One process writes a directory's index: the one that holds the directory (storage/dir-lock.ts).
 * Header reads go through a per-disk cap (core/per-key-limit.ts), keyed by st_dev.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { PerKeyLimit } from '../core/per-key-limit.js';
import { metrics } from '../core/metrics.js';
import { PlotferryError } from '../core/errors.js';
import type { PlotHeaderInfo } from '../wire/plot-header.js';
import { readPlotHeader } from './fsio.js';
import { TEMP_PREFIX, tempPathFor } from './hidden-names.js';
import { syncDir } from './publish.js';

export const PLOT_INDEX_NAME = `${TEMP_PREFIX}plot-index`;
const MAGIC = 'plotferry-plot-index';
export const PLOT_INDEX_VERSION = 1;
/** Changes are written at most this often (the first change waits this long for the rest). */
export const SAVE_DELAY_MS = 30_000;
/**
 * Header reads in flight per disk: one seeking, one queued behind it so that the disk never
 * waits for the thread pool. More only lengthens the queue a farming harvester's lookups join.
 */
export const HEADER_READS_PER_DISK = 2;

/** What the index keeps of a header: all but the plot id. null: the file is not a plot. */
export type HeaderSummary = Omit<PlotHeaderInfo, 'id'>;

export interface IndexEntry {
  /** The file it was read from: `size:ino:mtimeNs`. */
  key: string;
  header: HeaderSummary | null;
}

/** The key of the file `st` describes (an lstat with `bigint: true`: mtime in ns, inode exact). */
export function fileKey(st: Pick<BigIntStats, 'size' | 'ino' | 'mtimeNs'>): string {
  return `${st.size}:${st.ino}:${st.mtimeNs}`;
}

export function summarize(h: PlotHeaderInfo): HeaderSummary {
  const rest: Partial<PlotHeaderInfo> = { ...h };
  delete rest.id;
  return rest as HeaderSummary;
}

const checksum = (body: string) => createHash('md5').update(body).digest('hex').slice(0, 16);

/**
 * The index as its file holds it: a first line (magic, version, count, checksum, and `whole`
 * when it holds every plot its directory held: see DirPlotIndex.whole), a line per plot.
 */
export function encodeIndex(entries: ReadonlyMap<string, IndexEntry>, whole = false): string {
  let body = '';
  for (const [name, e] of entries) body += JSON.stringify([name, e.key, e.header ?? 0]) + '\n';
  return `${MAGIC} ${PLOT_INDEX_VERSION} ${entries.size} ${checksum(body)}${whole ? ' whole' : ''}\n${body}`;
}

export type DecodeResult =
  | { ok: true; entries: Map<string, IndexEntry>; whole: boolean }
  | { ok: false; why: 'garbage' | 'truncated' }
  | { ok: false; why: 'future'; version: number };

/** The entries of an index file's text, or why it cannot be believed (it is then rebuilt). */
export function decodeIndex(text: string): DecodeResult {
  const nl = text.indexOf('\n');
  const head = (nl < 0 ? text : text.slice(0, nl)).split(' ');
  const whole = head.length === 5 && head[4] === 'whole';
  if (head[0] !== MAGIC || (head.length !== 4 && !whole) || !/^\d+$/.test(head[1]!))
    return { ok: false, why: 'garbage' };
  const version = Number(head[1]);
  if (version > PLOT_INDEX_VERSION) return { ok: false, why: 'future', version };
  if (version !== PLOT_INDEX_VERSION) return { ok: false, why: 'garbage' };
  const body = nl < 0 ? '' : text.slice(nl + 1);
  const count = Number(head[2]);
  if (checksum(body) !== head[3]) return { ok: false, why: 'truncated' };
  const entries = new Map<string, IndexEntry>();
  for (const row of body.split('\n')) {
    if (row === '') continue;
    const e = decodeRow(row);
    if (!e) return { ok: false, why: 'garbage' };
    entries.set(e[0], e[1]);
  }
  return entries.size === count ? { ok: true, entries, whole } : { ok: false, why: 'truncated' };
}

function decodeRow(row: string): [string, IndexEntry] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(row);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 3) return undefined;
  const [name, key, h] = v as unknown[];
  if (typeof name !== 'string' || typeof key !== 'string' || !/^\d+:\d+:\d+$/.test(key)) return undefined;
  if (h === 0) return [name, { key, header: null }];
  const o = h as Partial<HeaderSummary> | null;
  if (typeof o !== 'object' || o === null || (o.pos !== 1 && o.pos !== 2) || typeof o.k !== 'number') return undefined;
  if (typeof o.format !== 'string') return undefined;
  return [name, { key, header: o as HeaderSummary }];
}

/** What a scan does with a directory's listing (name -> file key) and its index. */
export interface Reconciled {
  /** Listed and indexed for the very same file: its header is known. */
  keep: Map<string, IndexEntry>;
  /** Listed, but not indexed or indexed for another file: its header is read. */
  read: string[];
  /** Indexed, but not listed (gone), or listed as another file: the entry goes. */
  drop: string[];
}

export function reconcile(listing: ReadonlyMap<string, string>, index: ReadonlyMap<string, IndexEntry>): Reconciled {
  const keep = new Map<string, IndexEntry>();
  const read: string[] = [];
  const drop: string[] = [];
  for (const [name, key] of listing) {
    const e = index.get(name);
    if (e && e.key === key) keep.set(name, e);
    else read.push(name);
  }
  for (const [name, e] of index) if (listing.get(name) !== e.key) drop.push(name);
  return { keep, read, drop };
}

/** How an index was found when opened (`read`: believed; the others: rebuilt). */
export type IndexFound = 'read' | 'missing' | 'garbage' | 'truncated' | 'future' | 'unreadable';

/** One directory's index, in memory, written back when it changed. */
export class DirPlotIndex {
  private entries = new Map<string, IndexEntry>();
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private saidUnwritable = false;
  /** Headers read from disk for this directory by this process (hits do not count). */
  headerReads = 0;
  /** How the index was found when it was opened. */
  found: IndexFound = 'missing';
  /** Whether its file now holds what it was opened with or rebuilt to (written since, or read). */
  private onDisk = false;
  /**
   * It holds an entry for every plot of its directory: a scan found each indexed for the very
   * file it listed, and changes since were followed (landed plots, the watch). A start that lists
   * the same plot names then takes their sizes and headers from it without an lstat (knownByName).
   */
  whole = false;

  private constructor(
    readonly dir: string,
    private readonly log?: Logger,
    /** The directory it was read from (st_dev:st_ino): a bare mount point is another one. */
    private readonly identity?: string,
  ) {}

  get file(): string {
    return path.join(this.dir, PLOT_INDEX_NAME);
  }

  get size(): number {
    return this.entries.size;
  }

  static async open(dir: string, log?: Logger, identity?: string): Promise<DirPlotIndex> {
    const idx = new DirPlotIndex(dir, log, identity ?? (await identityOf(dir)));
    let text: string | undefined;
    try {
      text = await fsp.readFile(idx.file, 'utf8');
    } catch (err) {
      idx.found = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
    }
    if (text !== undefined) {
      const r = decodeIndex(text);
      if (r.ok) {
        idx.entries = r.entries;
        idx.onDisk = true;
        idx.whole = r.whole;
      }
      idx.found = r.ok ? 'read' : r.why;
      if (!r.ok)
        log?.warn(
          { dir, index: idx.file, why: r.why, ...(r.why === 'future' ? { version: r.version } : {}) },
          r.why === 'future'
            ? `plot index: written by a newer plotferry (version ${r.version}); rebuilt, its plots' headers are read once more`
            : `plot index: ${r.why === 'truncated' ? 'cut short or altered' : 'not an index'}; rebuilt, its plots' headers are read once more`,
        );
    }
    return idx;
  }

  /** The entry of `name` if it is of the file with `key`. */
  get(name: string, key: string): IndexEntry | undefined {
    const e = this.entries.get(name);
    return e && e.key === key ? e : undefined;
  }

  /** A read-only view of every entry (for reconcile). */
  all(): ReadonlyMap<string, IndexEntry> {
    return this.entries;
  }

  set(name: string, key: string, header: HeaderSummary | null): void {
    const e = this.entries.get(name);
    if (e && e.key === key && JSON.stringify(e.header) === JSON.stringify(header)) return;
    this.entries.set(name, { key, header });
    this.changed();
  }

  delete(name: string): void {
    if (this.entries.delete(name)) this.changed();
  }

  /** Drops the entries `keep` says no to (a scan's names that are gone). */
  retain(keep: (name: string) => boolean): void {
    for (const name of [...this.entries.keys()]) if (!keep(name)) this.delete(name);
  }

  /** A scan found every plot of the directory here, each for the very file it listed. */
  markWhole(): void {
    if (this.whole) return;
    this.whole = true;
    this.changed();
  }

  /**
   * The entries of `plotNames` (a listing's plot names, no lstat) when this index can stand for
   * them: it is whole and holds exactly these names. After a reboot that saves the lstat of every
   * plot (~1/16 read each on ext4: 625 for 10,000 plots). A plot replaced under its own name is
   * not seen this way: the next reconciliation scan (10 min) looks at every file, and --replot
   * reads a victim's header again before deleting it.
   */
  knownByName(plotNames: readonly string[]): ReadonlyMap<string, IndexEntry> | undefined {
    if (!this.whole || plotNames.length !== this.entries.size) return undefined;
    return plotNames.every((n) => this.entries.has(n)) ? this.entries : undefined;
  }

  /** Written now if it changed (after a scan), else nothing. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Nothing to keep, and no file to set right: a directory without plots gets no index.
    const nothing = this.entries.size === 0 && this.found === 'missing' && !this.onDisk;
    if ((!this.dirty && this.onDisk) || nothing) return this.writing;
    const run = this.writing.then(() => this.write());
    this.writing = run.catch(() => undefined);
    return this.writing;
  }

  private changed(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => void this.flush(), SAVE_DELAY_MS);
    this.timer.unref();
  }

  /** The entries into a temporary file, synced, renamed over the index, directory synced. */
  private async write(): Promise<void> {
    this.dirty = false;
    // Its disk gone (unmounted: the bare mount point shows through), nothing is written there.
    if (this.identity !== (await identityOf(this.dir))) return;
    const tmp = tempPathFor(this.dir, 'plot-index');
    try {
      const fh = await fsp.open(tmp, 'w');
      try {
        await fh.writeFile(encodeIndex(this.entries, this.whole));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
      await syncDir(this.dir);
      this.onDisk = true;
    } catch (err) {
      await fsp.unlink(tmp).catch(() => undefined);
      if (this.saidUnwritable) return;
      this.saidUnwritable = true;
      this.log?.warn(
        { dir: this.dir, err: (err as Error).message },
        'plot index: cannot be written here (a read-only disk?); it is kept in memory, and the next start reads these plots’ headers again',
      );
    }
  }
}

const open = new Map<string, { identity: string; index: Promise<DirPlotIndex> }>();

async function identityOf(dir: string): Promise<string | undefined> {
  const st = await fsp.stat(dir).catch(() => undefined);
  return st && `${st.dev}:${st.ino}`;
}
const limit = new PerKeyLimit<string>(HEADER_READS_PER_DISK);
const reading = new Map<string, Promise<HeaderSummary | null>>();

/** The index of `dir` (read on first use; read afresh when the directory is another one now). */
export async function plotIndexFor(dir: string, log?: Logger): Promise<DirPlotIndex> {
  const d = path.resolve(dir);
  const st = await fsp.stat(d);
  const identity = `${st.dev}:${st.ino}`;
  const have = open.get(d);
  if (have && have.identity === identity) return have.index;
  const index = DirPlotIndex.open(d, log, identity);
  open.set(d, { identity, index });
  return index;
}

/** The open indexes of `dirs` written now if they changed (a harvester that stops). */
export async function flushPlotIndexes(dirs: readonly string[]): Promise<void> {
  await Promise.all(
    dirs.map(async (d) => {
      const o = open.get(path.resolve(d));
      if (o) await (await o.index.catch(() => undefined))?.flush();
    }),
  );
}

/** The size of the file an entry's key describes. */
export const sizeOfKey = (key: string): number => Number(key.slice(0, key.indexOf(':')));

/**
 * The header of the plot `name` in the index's directory, which `st` describes (an lstat with
 * `bigint: true`): from the index when it knows this very file, else read (capped per disk) and
 * indexed. null: not a plot. Throws the OS error when it cannot be read (not indexed: read again
 * next time).
 */
export async function headerIn(index: DirPlotIndex, name: string, st: BigIntStats): Promise<HeaderSummary | null> {
  const file = path.join(index.dir, name);
  const key = fileKey(st);
  const e = index.get(name, key);
  if (e) return e.header;
  const id = `${file}\0${key}`;
  let r = reading.get(id);
  if (!r) {
    r = limit.run(String(st.dev), () => readHeader(file, Number(st.size), index));
    reading.set(id, r);
    void r.then(
      () => reading.delete(id),
      () => reading.delete(id),
    );
  }
  const header = await r;
  index.set(name, key, header);
  return header;
}

async function readHeader(file: string, size: number, index: DirPlotIndex): Promise<HeaderSummary | null> {
  index.headerReads++;
  metrics.headerReads.inc();
  try {
    return summarize(await readPlotHeader(file, size));
  } catch (err) {
    if (err instanceof PlotferryError && err.code === 'PF_NOT_A_PLOT') return null;
    throw err;
  }
}
