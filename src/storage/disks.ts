/**
 * Receiving directories: free space, one write per filesystem, and the choice of where the
 * next file goes (the filesystem with the most free space that holds size + reserve).
 *
 * Directories are looked at again on every choice, so a disk that is added, removed, unmounted
 * or marked with a `plotferry.disable` file is seen without a restart.
 *
 * A receiver (`owner` set) also claims each directory for itself (storage/dir-lock.ts), and uses
 * and cleans only the ones it holds. A disk that fails a write (read-only after disk errors,
 * EIO, EACCES) is taken out of rotation for a while, so the next plot goes to another disk
 * instead of failing on it again and again.
 *
 * Each directory is held to the filesystem it joined the rotation on (storage/disk-home.ts): an
 * unmounted disk's bare mount point is not a new empty disk, and a directory on the root
 * filesystem is used only with `allowRootFs`.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { PlotferryError } from '../core/errors.js';
import { formatBytes, formatBytesAll } from '../core/format.js';
import { type DiskFigures, metrics } from '../core/metrics.js';
import { claimDir } from './dir-lock.js';
import type { DiskEvent, DiskEventSink } from './disk-events.js';
import { DiskHome, GONE, judgeHome, ON_ROOT_FS, type HomeVerdict } from './disk-home.js';
import { decodeOwner } from './owner.js';
import type { HeldLock } from './lockfile.js';
import type { Replotter } from './replot.js';
import { metaGroupRuleApplies, type PlotGroup } from '../wire/plot-header.js';
import { flushPlotIndexes } from './plot-index.js';
import { DISABLE_FILE, DISABLE_LOOKALIKES, disabledBy, RECEIVER_LOCK } from '../wire/names.js';

/** How long a disk that failed a write stays out of rotation: doubling on each failure, up to 1 h. */
export const FAILED_DISK_MS = 5 * 60_000;
const FAILED_DISK_MAX_MS = 60 * 60_000;

/**
 * Why a directory takes no file: a write failed there (for a while), it holds the disable file,
 * no disk is mounted there (its disk is gone, PF_DISK_GONE; a bare mount point on the root
 * filesystem; not a mount point under --require-mount), or anything else (missing, another
 * receiver's, unreadable).
 */
export type OutOfRotation = 'failed' | 'disabled' | 'not-mounted' | 'unusable';

export interface DirInfo {
  dir: string;
  /** st_dev: directories on one filesystem share it, and share one write slot. */
  dev: number;
  freeBytes: number;
  totalBytes: number;
  busy: boolean;
  /** Why the directory cannot take files now, when it cannot. */
  unusable?: string;
  /** Its disk is gone (PF_DISK_GONE): what it held is not there, and is not counted. */
  gone?: true;
  /** Why it is out of rotation, as a kind (the state gauge of --metrics); absent while usable. */
  out?: OutOfRotation;
  /** --replot: bytes its PoS1 plots would free (storage/replot.ts). */
  freeableBytes?: number;
  /** --replot: why its PoS1 plots can free nothing, when they cannot (replot.ts replotBlocked). */
  replotBlocked?: string;
  /** Set by chooseDir: bytes PoS1 plots must free before the file fits (0 or absent: none). */
  needsRoom?: number;
  /** For a PoS2 plot with a group: plots of that group here, and other groups of its meta-group. */
  groupPlots?: number;
  sameMeta?: number;
  /** Set by chooseDir: why this directory ("holds 3 plots of its group", "the most free space"). */
  why?: string;
}

/**
 * PF_NO_SPACE from chooseDir; `replotBlocked`: why --replot could free nothing on the
 * directories, when that is part of the reason (for a decline's `why`).
 */
export class NoRoomError extends PlotferryError {
  constructor(
    message: string,
    readonly replotBlocked?: string,
  ) {
    super('PF_NO_SPACE', message);
  }
}

/**
 * PF_BUSY because the disk that holds the plot's group is receiving another file: the plot waits
 * for it rather than split its group (unless its announce says any disk will do).
 */
export class GroupBusyError extends PlotferryError {
  constructor(readonly home: readonly string[]) {
    super('PF_BUSY', `the disk holding this plot's group (${home.join(', ')}) is receiving another file`);
  }
}

export interface Reservation {
  readonly dir: string;
  readonly dev: number;
  /** Why this directory was chosen (chooseDir), for the log and `status`. */
  readonly why: string;
  /** Frees the write slot. Idempotent. */
  release(): void;
  /** The disk failed a write: takes it out of rotation for a while, and frees the slot. */
  fail(err: PlotferryError): void;
  /**
   * --replot: frees room for the file `name` now, deleting PoS1 plots if it must (just before
   * the first byte is written). Throws PF_NO_SPACE when it cannot.
   */
  makeRoom?(name: string): Promise<void>;
}

export interface DiskSetOptions {
  /** Bytes to leave free on every filesystem. */
  reserveBytes?: number;
  /**
   * Skip a directory that is on the same filesystem as its parent: the disk meant to be
   * mounted there is not, and writing would fill the parent (often the root filesystem).
   */
  requireMount?: boolean;
  /**
   * Use a directory on the root filesystem (the one `/` is on). Off, such a directory is skipped
   * until a disk is mounted there: a farmer's disks are mounted, and an unmounted one's bare
   * mount point is on `/`, which plots would fill.
   */
  allowRootFs?: boolean;
  /** What happens to the directories (a disk fails, is disabled, goes, comes back): the caller notifies. */
  onEvent?: DiskEventSink;
  /**
   * A receiver's role ("listen", "harvester"): claim each directory before using it, and skip
   * one another live process holds. Without it nothing is written (bids, tests).
   */
  owner?: string;
  /** What a directory holds of a PoS2 plot group (farm/inventory.ts), for group-aware placement. */
  groups?: (dir: string, group: PlotGroup) => { plots: number; sameMeta: number };
  /** Called once for each directory when it is claimed: start-up housekeeping. */
  onClaimed?: (dir: string) => Promise<void>;
  /** --replot: PoS1 plots count as room, and give way when a file needs it. */
  replot?: Replotter;
  log?: Logger;
}

interface FailedDisk {
  until: number;
  reason: string;
  /** Consecutive failures: the pause doubles with each. */
  count: number;
}

export class DiskSet {
  readonly dirs: readonly string[];
  readonly reserveBytes: number;
  readonly requireMount: boolean;
  private readonly busyDevs = new Set<number>();
  private readonly failed = new Map<number, FailedDisk>();
  /** Directories this process holds (owner set), and claims under way. */
  private readonly claimed = new Map<string, HeldLock & { identity: string }>();
  /** Claims of directories that changed under us (see claim()). */
  private retired: HeldLock[] = [];
  private readonly claiming = new Map<string, Promise<string | undefined>>();
  /** The filesystem each directory joined the rotation on (storage/disk-home.ts). */
  private readonly homes = new Map<string, DiskHome>();
  /** Directories whose disk is gone: since when, and the st_dev whose lock was last read. */
  private readonly gone = new Map<string, { since: number; lockReadOn?: number }>();
  /** Directories that could not be used at start (said as gone), until they can be. */
  private readonly missingAtStart = new Set<string>();

  constructor(
    dirs: readonly string[],
    private readonly options: DiskSetOptions = {},
  ) {
    if (dirs.length === 0) throw new PlotferryError('PF_CONFIG', 'at least one receiving directory (--dir) is needed');
    this.dirs = [...new Set(dirs.map((d) => path.resolve(d)))];
    this.reserveBytes = options.reserveBytes ?? 0;
    this.requireMount = options.requireMount ?? false;
  }

  /**
   * For a receiver at start: claims every directory it can, and refuses to start when another
   * live plotferry serves one of them (two receivers on one directory destroy each other's
   * transfers). Directories that cannot be used now are looked at again later.
   */
  async open(): Promise<DirInfo[]> {
    const infos = await this.snapshot();
    const taken = infos.filter((i) => i.unusable?.startsWith(SERVED_BY));
    if (taken.length > 0)
      throw new PlotferryError('PF_DIR_IN_USE', taken.map((i) => `${i.dir} is ${i.unusable}`).join('; '));
    // Not mounted (or missing, unreadable) at start is said as a disk that goes at run time is:
    // a log line alone reached no one watching from afar. Back: cameBackAtStart(). With no
    // directory usable at all, the receiver's no-usable-disk notice names each one already.
    if (infos.every((i) => i.unusable)) return infos;
    for (const i of infos)
      if (i.unusable && !i.gone && (i.out === 'not-mounted' || i.out === 'unusable')) {
        this.missingAtStart.add(i.dir);
        this.report({ kind: 'gone', dir: i.dir, why: i.unusable, atStart: true });
      }
    return infos;
  }

  /** Directories this process holds now (their housekeeping is ours to do). */
  get ownedDirs(): string[] {
    // A gone disk's directory is a bare mount point: not ours to scan or clean.
    const present = this.dirs.filter((d) => !this.gone.has(d));
    return this.options.owner ? present.filter((d) => this.claimed.has(d)) : present;
  }

  /** Releases every directory's claim (at shutdown). */
  async close(): Promise<void> {
    // The plot indexes' last changes, written while the directories are still this process's.
    await flushPlotIndexes(this.dirs.filter((d) => !this.gone.has(d))).catch(() => undefined);
    const locks = [...this.claimed.values(), ...this.retired];
    this.claimed.clear();
    this.retired = [];
    await Promise.all(locks.map((l) => l.release()));
  }

  /** Passes `event` to the caller's sink (storage/disk-events.ts); without one, it goes nowhere. */
  report(event: DiskEvent): void {
    this.options.onEvent?.(event);
  }

  /** Takes a disk out of rotation after a failed write (see FAILED_DISK_MS). */
  markFailed(dev: number, dir: string, err: PlotferryError): void {
    const prev = this.failed.get(dev);
    // A disk that has worked for a while since its last failure starts again at the shortest pause.
    const count = prev && Date.now() < prev.until + FAILED_DISK_MAX_MS ? prev.count + 1 : 1;
    const ms = Math.min(FAILED_DISK_MAX_MS, FAILED_DISK_MS * 2 ** (count - 1));
    const until = Date.now() + ms;
    this.failed.set(dev, { until, count, reason: err.message });
    metrics.diskFailures.inc({ dir, code: err.code });
    this.report({ kind: 'failed', dir, reason: err.message, until });
    this.options.log?.warn(
      { dir, code: err.code, reason: err.message, until: new Date(until).toISOString(), failures: count },
      `disk out of rotation for ${Math.round(ms / 60_000)} min after a failed write; plots go to the other disks`,
    );
  }

  get activeWrites(): number {
    return this.busyDevs.size;
  }

  /** Current state of every directory (statfs and stat, no caching). */
  async snapshot(): Promise<DirInfo[]> {
    const looked = await Promise.all(this.dirs.map((d) => this.inspect(d)));
    // Claimed one after another, in the order the directories were named, so that of two paths
    // to one directory the first named is the one used. Claimed all at once, they raced for it.
    // (A directory claimed already costs no I/O here.)
    for (const l of looked) {
      // A disabled directory is claimed too: out of rotation for writes, it still holds plots
      // that this harvester farms and counts, at a start as after a `touch` while running.
      // Another's claim on it leaves it disabled, not in use.
      const disabled = l.info.out === 'disabled';
      if (l.info.unusable && !disabled) continue;
      const notOurs = await this.claim(l.info.dir, l.identity);
      if (notOurs && !disabled) {
        l.info.unusable = notOurs;
        l.info.out = 'unusable';
      }
    }
    for (const l of looked) if (!l.info.unusable) this.cameBackAtStart(l.info.dir);
    const replot = this.options.replot;
    return Promise.all(
      looked.map(async ({ info }) => {
        if (!info.unusable && replot) {
          info.freeableBytes = await replot.freeable(info.dir).catch(() => 0);
          if (info.freeableBytes === 0) {
            const blocked = await replot.blocked(info.dir).catch(() => undefined);
            if (blocked) info.replotBlocked = blocked;
          }
        }
        return info;
      }),
    );
  }

  /** One directory's state, before it is claimed; `identity`: its device and inode. */
  private async inspect(dir: string): Promise<{ info: DirInfo; identity: string }> {
    const info: DirInfo = { dir, dev: -1, freeBytes: 0, totalBytes: 0, busy: false };
    const unusable = (why: string, out: OutOfRotation = 'unusable') => ({
      info: { ...info, unusable: why, out },
      identity: '',
    });
    let identity: string;
    /** The file that disables this directory (DISABLE_FILE, or one typed for it), if any. */
    let disabled: string | undefined;
    try {
      // One round of calls: the disable file is looked for at the same time.
      const [st, fs, disabledNow, root] = await Promise.all([
        fsp.stat(dir),
        fsp.statfs(dir),
        disableFileIn(dir),
        rootDevice(),
      ]);
      disabled = disabledNow;
      if (!st.isDirectory()) return unusable('not a directory');
      const verdict = await this.judge(dir, st, root);
      if (verdict.kind === 'gone') return { info: this.goneInfo(info, verdict.why), identity: '' };
      if (this.requireMount && (await fsp.stat(path.dirname(dir))).dev === st.dev) {
        return unusable('not a mount point (same filesystem as its parent; --require-mount)', 'not-mounted');
      }
      if (verdict.kind === 'root-fs') return unusable(ON_ROOT_FS, 'not-mounted');
      if (verdict.kind === 'new') await this.join(dir, st);
      info.dev = st.dev;
      identity = `${st.dev}:${st.ino}`;
      info.freeBytes = fs.bavail * fs.bsize;
      info.totalBytes = fs.blocks * fs.bsize;
      info.busy = this.busyDevs.has(st.dev);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && this.homes.has(dir)) {
        const v = judgeHome(this.homes.get(dir), 'missing', -1, this.allowRootFs);
        if (v.kind === 'gone') {
          this.wentAway(dir, v.why);
          return { info: this.goneInfo(info, v.why), identity: '' };
        }
      }
      const why =
        code === 'ENOENT'
          ? 'does not exist'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : 'cannot be read';
      return unusable(`${why} (${code ?? String(err)})`);
    }
    if (disabled) {
      this.report({ kind: 'disabled', dir, file: disabled });
      return { info: { ...info, unusable: `disabled by ${disabledBy(disabled)}`, out: 'disabled' }, identity };
    }
    const failed = this.failed.get(info.dev);
    if (failed && Date.now() < failed.until) {
      const until = new Date(failed.until).toISOString().slice(11, 19);
      return unusable(`out of rotation until ${until} UTC after a failed write (${failed.reason})`, 'failed');
    }
    return { info, identity };
  }

  private get allowRootFs(): boolean {
    return this.options.allowRootFs ?? false;
  }

  /**
   * judgeHome() for what stat saw, and its consequences: a disk that goes is said once (log,
   * event), one that is back rejoins. A directory on another device that holds this process's
   * own lock is the same filesystem back under a new device number (a USB disk that came back
   * as another sdX): it rejoins, and is held to that number from then on.
   */
  private async judge(dir: string, st: { dev: number; ino: number }, root: number): Promise<HomeVerdict> {
    const home = this.homes.get(dir);
    let v = judgeHome(home, { dev: st.dev }, root, this.allowRootFs);
    if (v.kind === 'gone' && home && (await this.holdsOurLock(dir, st.dev))) {
      this.homes.set(dir, { ...home, dev: st.dev });
      const held = this.claimed.get(dir);
      if (held) this.claimed.set(dir, { ...held, identity: `${st.dev}:${st.ino}` });
      v = { kind: 'home' };
    }
    if (v.kind === 'gone') this.wentAway(dir, v.why, st.dev);
    else if (this.gone.has(dir)) this.cameBack(dir);
    return v;
  }

  /**
   * Whether `dir` (now on device `dev`) holds the lock this process took there. Read once per
   * device it is seen on while gone, so a gone disk costs a bid no more than a stat.
   */
  private async holdsOurLock(dir: string, dev: number): Promise<boolean> {
    const held = this.claimed.get(dir);
    const g = this.gone.get(dir);
    if (!held || g?.lockReadOn === dev) return false;
    if (g) g.lockReadOn = dev;
    const content = await fsp.readFile(path.join(dir, RECEIVER_LOCK), 'utf8').catch(() => '');
    return decodeOwner(content)?.token === held.token;
  }

  /** Records the filesystem `dir` joins the rotation on (once: the first look that allows it). */
  private async join(dir: string, st: { dev: number; ino: number }): Promise<void> {
    const parent = await fsp.stat(path.dirname(dir)).catch(() => undefined);
    const mountPoint = !parent || parent.dev !== st.dev || parent.ino === st.ino;
    if (!this.homes.has(dir)) this.homes.set(dir, { dev: st.dev, mountPoint });
  }

  private goneInfo(info: DirInfo, why: string): DirInfo {
    const since = new Date(this.gone.get(info.dir)?.since ?? Date.now()).toISOString().slice(11, 19);
    const unusable = `${GONE} ${why}; nothing is written there until it is back (since ${since} UTC)`;
    return { ...info, unusable, gone: true, out: 'not-mounted' };
  }

  private wentAway(dir: string, why: string, lockReadOn?: number): void {
    if (this.gone.has(dir)) return;
    this.gone.set(dir, { since: Date.now(), ...(lockReadOn !== undefined ? { lockReadOn } : {}) });
    this.report({ kind: 'gone', dir, why });
    this.options.log?.warn(
      { dir, code: 'PF_DISK_GONE', home: this.homes.get(dir) },
      `disk gone: ${dir} ${why}; out of rotation until that filesystem is back, plots go to the other disks`,
    );
  }

  /** A directory that could not be used at start can be now (its disk mounted, say). */
  private cameBackAtStart(dir: string): void {
    if (!this.missingAtStart.delete(dir)) return;
    this.options.log?.info({ dir }, `disk back: ${dir} can be used now; in rotation`);
    this.report({ kind: 'back', dir });
  }

  private cameBack(dir: string): void {
    if (!this.gone.delete(dir)) return;
    this.options.log?.info({ dir }, `disk back: ${dir} is on the filesystem it joined on again; back in rotation`);
    this.report({ kind: 'back', dir });
    // What a transfer cut off by the unmount left there is cleaned as at a claim, unless a write
    // into it is still under way (a lazy unmount lets one finish on the detached filesystem).
    const home = this.homes.get(dir);
    if (this.claimed.has(dir) && home && !this.busyDevs.has(home.dev))
      void this.options
        .onClaimed?.(dir)
        .catch((err: unknown) => this.options.log?.warn({ dir, err }, 'housekeeping failed'));
  }

  /**
   * Claims `dir` once (owner set); why it cannot be used when another holds it, else undefined.
   * `identity` (device and inode) tells a directory that was removed or remounted and came back:
   * our lock went with the old one, so the new one is claimed (and cleaned) afresh.
   */
  private async claim(dir: string, identity: string): Promise<string | undefined> {
    const role = this.options.owner;
    if (!role) return undefined;
    const held = this.claimed.get(dir);
    if (held && held.identity === identity) return undefined;
    if (held) {
      // Its lock went away with the old directory, or waits under the new mount to come back.
      this.claimed.delete(dir);
      this.retired.push(held);
    }
    let pending = this.claiming.get(dir);
    if (!pending) {
      pending = (async () => {
        let c = await claimDir(dir, role);
        const token = !c.ok && 'holder' in c ? c.token : undefined;
        const ours = token ? this.retired.find((l) => l.token === token) : undefined;
        if (ours) {
          // Our own lock from before the directory changed (an unmount revealed it): take it back.
          await ours.release();
          this.retired = this.retired.filter((l) => l !== ours);
          c = await claimDir(dir, role);
        }
        if (c.ok) {
          this.claimed.set(dir, { ...c.lock, identity });
          await this.options.onClaimed?.(dir);
          return undefined;
        }
        if ('error' in c) return `cannot be written (${c.error.code ?? c.error.message})`;
        const twin = [...this.claimed].find(([, l]) => l.token === c.token)?.[0];
        if (twin) return `the same directory as ${twin}, reached by another path; it is used once`;
        return `${SERVED_BY} ${c.holder}`;
      })().finally(() => this.claiming.delete(dir));
      this.claiming.set(dir, pending);
    }
    return pending;
  }

  /** Where `size` bytes would go now, without reserving (for a bid). Throws like reserve(). */
  async choose(size: number, onlyDir?: string, group?: PlotGroup): Promise<DirInfo> {
    return chooseDir(await this.snapshotOf(onlyDir, group), size + this.reserveBytes, this.busyDevs, group);
  }

  /** snapshot(), or only `onlyDir`'s entry; with what each holds of `group`. */
  private async snapshotOf(onlyDir?: string, group?: PlotGroup): Promise<DirInfo[]> {
    const all = await this.snapshot();
    const some = onlyDir === undefined ? all : all.filter((i) => i.dir === path.resolve(onlyDir));
    const of = this.options.groups;
    if (!group || !of) return some;
    return some.map((i) => {
      const g = of(i.dir, group);
      return { ...i, groupPlots: g.plots, sameMeta: g.sameMeta };
    });
  }

  /**
   * Like reserve(), for a file part of which (`partial.bytes`) sits in `partial.dir` already:
   * that filesystem, which needs room for the rest only; if it cannot take it at all (gone,
   * disabled, full), wherever the whole file fits. PF_BUSY when the partial's disk is writing.
   */
  reserveFor(size: number, partial?: PartialPlacement, group?: PlotGroup): Promise<Reservation> {
    return preferPartial(size, partial, (n, dir) => this.reserve(n, dir, group));
  }

  /** Where reserveFor() would put the file now, without reserving (for a bid). */
  chooseFor(size: number, partial?: PartialPlacement, group?: PlotGroup): Promise<DirInfo> {
    return preferPartial(size, partial, (n, dir) => this.choose(n, dir, group));
  }

  /** The most bytes one usable filesystem could take now, after the reserve (0 if none). */
  async mostRoom(): Promise<number> {
    const usable = (await this.snapshot()).filter((i) => !i.unusable);
    return Math.max(0, ...usable.map((i) => roomByDeleting(i) - this.reserveBytes));
  }

  /**
   * --replot-dry-run, for a plot no disk has room for: the next step of the plan of what a real
   * --replot would have deleted (storage/replot-plan.ts), logged once per plot. Nothing is
   * deleted; the plot is declined all the same.
   */
  async explainReplot(size: number, name: string): Promise<void> {
    const replot = this.options.replot;
    if (!replot?.dryRun) return;
    const usable = (await this.snapshot()).filter((i) => !i.unusable);
    if (usable.length === 0) return;
    await replot.planDryRun(name, size, this.reserveBytes, usable).catch(() => undefined);
  }

  /**
   * What one snapshot says of room for `size` plus the reserve, busy or not (a busy bid): whether
   * some usable filesystem has it counting the PoS1 plots --replot may delete (`room`), in free
   * space alone (`freeRoom`), and on a directory holding plots of `group` (`groupHome`).
   */
  async room(size: number, group?: PlotGroup): Promise<{ room: boolean; freeRoom: boolean; groupHome: boolean }> {
    const need = size + this.reserveBytes;
    const infos = await this.snapshotOf(undefined, group);
    const byDeleting = withRoomByDeleting(infos, need);
    return {
      room: byDeleting.length > 0,
      freeRoom: withRoom(infos, need).length > 0,
      groupHome: byDeleting.some((i) => (i.groupPlots ?? 0) > 0),
    };
  }

  /** --replot's deleter, when --replot or --replot-dry-run is on. */
  get replotter(): Replotter | undefined {
    return this.options.replot;
  }

  /** Whether PoS1 plots here give way to incoming ones (--replot, not a dry run). */
  get replots(): boolean {
    return this.options.replot !== undefined && !this.options.replot.dryRun;
  }

  /**
   * Reserves the write slot of the filesystem with the most free space that holds `size` plus
   * the reserve. Throws PF_NO_SPACE when none could ever take it, PF_BUSY when the ones that
   * could are all writing now.
   */
  /** `onlyDir`: reserve that directory's filesystem or fail (a partial copy lives there). */
  async reserve(size: number, onlyDir?: string, group?: PlotGroup): Promise<Reservation> {
    const infos = await this.snapshotOf(onlyDir, group);
    // From here to the end is synchronous, so two reservations cannot pick the same slot.
    const pick = chooseDir(infos, size + this.reserveBytes, this.busyDevs, group);
    this.busyDevs.add(pick.dev);
    let released = false;
    let failed = false;
    const release = () => {
      if (released) return;
      released = true;
      this.busyDevs.delete(pick.dev);
    };
    const replot = this.options.replot;
    const need = size + this.reserveBytes;
    return {
      dir: pick.dir,
      dev: pick.dev,
      why: pick.why ?? 'the most free space',
      release,
      fail: (err) => {
        // Once per reservation: a session that fails over reports the disk's failure again as
        // its own, and a second mark doubled the pause (and counted two failures) for one write.
        if (failed) return;
        failed = true;
        if (!vanished(err)) this.markFailed(pick.dev, pick.dir, err);
        release();
      },
      ...(replot
        ? {
            makeRoom: async (name: string) => {
              await replot.makeRoom(pick.dir, name, async () => {
                const f = await fsp.statfs(pick.dir);
                return need - f.bavail * f.bsize;
              });
            },
          }
        : {}),
    };
  }
}

/** A directory as the disk gauges of --metrics show it (core/metrics.ts), plot counts aside. */
export const diskFigures = (i: DirInfo): DiskFigures => ({
  dir: i.dir,
  freeBytes: i.freeBytes,
  totalBytes: i.totalBytes,
  gone: i.gone === true,
  state: i.out ?? 'in-rotation',
});

/**
 * How long a look for DISABLE_LOOKALIKES in a directory holds. DISABLE_FILE itself is looked for
 * at every look at the directory (every bid); its look-alikes, four more lookups on the thread
 * pool that disk writes share, at most this often.
 */
const LOOKALIKE_CHECK_MS = 60_000;
const lookalikes = new Map<string, { at: number; name: string | undefined }>();

const exists = (p: string) =>
  fsp.access(p).then(
    () => true,
    () => false,
  );

/** The file in `dir` that takes it out of rotation: DISABLE_FILE, else a name typed for it. */
async function disableFileIn(dir: string): Promise<string | undefined> {
  if (await exists(path.join(dir, DISABLE_FILE))) return DISABLE_FILE;
  const seen = lookalikes.get(dir);
  if (seen && Date.now() - seen.at < LOOKALIKE_CHECK_MS) return seen.name;
  const found = await Promise.all(DISABLE_LOOKALIKES.map((n) => exists(path.join(dir, n))));
  const name = DISABLE_LOOKALIKES[found.indexOf(true)];
  lookalikes.set(dir, { at: Date.now(), name });
  return name;
}

/**
 * A failure because the directory itself went away (unmounted, removed, renamed) is not the
 * disk failing: the directory check sees it, and sees it come back, without a pause.
 */
function vanished(err: PlotferryError): boolean {
  if (err.code === 'PF_DISK_GONE') return true;
  const errno = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return errno === 'ENOENT' || errno === 'ENOTDIR';
}

/** The st_dev of `/` (read once: the root filesystem does not change under a running process). */
let rootDev: Promise<number> | undefined;
function rootDevice(): Promise<number> {
  rootDev ??= fsp.stat('/').then((st) => st.dev);
  return rootDev;
}

/** How `unusable` begins for a directory another live receiver holds. */
const SERVED_BY = 'served by another plotferry:';

/** Where part of a file is already (a partial copy's directory and length). */
export interface PartialPlacement {
  dir: string;
  bytes: number;
}

/** The rule of reserveFor() and chooseFor(): the partial's disk for the rest, else anywhere. */
async function preferPartial<T>(
  size: number,
  partial: PartialPlacement | undefined,
  pick: (bytes: number, onlyDir?: string) => Promise<T>,
): Promise<T> {
  if (partial) {
    try {
      return await pick(size - partial.bytes, partial.dir);
    } catch (err) {
      const code = (err as PlotferryError).code;
      if (code !== 'PF_NO_SPACE' && code !== 'PF_NO_DISK') throw err;
    }
  }
  return pick(size);
}

/** Usable directories with `need` bytes free, busy or not. */
function withRoom(infos: readonly DirInfo[], need: number): DirInfo[] {
  return infos.filter((i) => !i.unusable && i.freeBytes >= need);
}

/** What a directory could take: its free space plus the PoS1 plots --replot may delete there. */
const roomByDeleting = (i: DirInfo): number => i.freeBytes + (i.freeableBytes ?? 0);

/** withRoom(), counting the PoS1 plots --replot may delete as room. */
function withRoomByDeleting(infos: readonly DirInfo[], need: number): DirInfo[] {
  return infos.filter((i) => !i.unusable && roomByDeleting(i) >= need);
}

/**
 * The choice itself, pure: among usable directories whose filesystem has `need` bytes free and
 * is not busy, the one with the most free space. PF_NO_SPACE when none could take the file even
 * idle, PF_BUSY when the ones that could are all writing.
 *
 * A PoS2 plot with a `group` (infos carry groupPlots and sameMeta, storage/disks snapshotOf):
 * - a directory with room that holds plots of its group comes first (the most of them first), so
 *   a group stays on one disk (CHIP-48). When that disk is writing, GroupBusyError: the plot
 *   waits for it, unless `group.anyDisk`;
 * - otherwise a directory holding no other group of the same meta-group (CHIP-49), the most free
 *   space among those; and when every one holds that meta-group, the most free space.
 * - a group of one in meta-group 0 (every chia 3.0 plot; wire/plot-header.ts metaGroupRuleApplies
 *   says why) skips the meta-group rule: the most free space, and when PoS1 plots must give
 *   way, a disk whose replot has begun (it holds plots of meta-group 0) before one not begun, so
 *   that one disk is replotted after the other.
 * The chosen entry's `why` says which rule picked it.
 */
export function chooseDir(
  infos: readonly DirInfo[],
  need: number,
  busyDevs: ReadonlySet<number>,
  group?: PlotGroup,
): DirInfo {
  const fits = withRoom(infos, need);
  if (infos.length > 0 && infos.every((i) => i.unusable)) {
    // Not a space problem: "add a disk or free space" would send the farmer the wrong way.
    const why = infos.map((i) => `${i.dir}: ${i.unusable}`).join('; ');
    throw new PlotferryError('PF_NO_DISK', `no receiving directory can be used (${why})`);
  }
  if (fits.length === 0) {
    // --replot: a disk whose PoS1 plots would free enough, the one that needs the least freed.
    const byFreeing = withRoomByDeleting(infos, need);
    const best = place(byFreeing, infos, busyDevs, group, true);
    if (best) return { ...best, needsRoom: need - best.freeBytes, why: `${best.why}; PoS1 plots give way` };
    if (byFreeing.length > 0)
      throw new PlotferryError(
        'PF_BUSY',
        `every directory that could make room is receiving another file (${byFreeing.map((i) => i.dir).join(', ')})`,
      );
    // Free space beside the size needed: figures that read alike are given in bytes.
    const [needText, ...freeText] = formatBytesAll([need, ...infos.map((i) => i.freeBytes)]);
    const seen = infos
      .map(
        (i, n) =>
          `${i.dir}: ${i.unusable ?? `${freeText[n]} free${i.freeableBytes ? ` (+${formatBytes(i.freeableBytes)} of PoS1 plots)` : ''}${i.replotBlocked ? ` (${i.replotBlocked})` : ''}`}`,
      )
      .join('; ');
    const blocked = [...new Set(infos.filter((i) => !i.unusable && i.replotBlocked).map((i) => i.replotBlocked!))];
    throw new NoRoomError(
      `no directory has ${needText} free (${seen})`,
      blocked.length ? blocked.join('; ') : undefined,
    );
  }
  const best = place(fits, infos, busyDevs, group);
  if (!best)
    throw new PlotferryError(
      'PF_BUSY',
      `every directory with room is receiving another file (${fits.map((i) => i.dir).join(', ')})`,
    );
  return best;
}

/** The rule of chooseDir among `fits` (directories that can take the file); undefined if all are busy. */
function place(
  fits: readonly DirInfo[],
  infos: readonly DirInfo[],
  busyDevs: ReadonlySet<number>,
  group?: PlotGroup,
  byDeleting = false,
): DirInfo | undefined {
  const idle = fits.filter((i) => !busyDevs.has(i.dev));
  if (!group) return idle.length > 0 ? { ...mostFree(idle), why: 'the most free space' } : undefined;
  const home = fits.filter((i) => (i.groupPlots ?? 0) > 0);
  const idleHome = home.filter((i) => !busyDevs.has(i.dev));
  if (idleHome.length > 0) {
    const h = idleHome.reduce((best, i) => (i.groupPlots! > best.groupPlots! ? i : best));
    return { ...h, why: `holds ${h.groupPlots} plot(s) of its group` };
  }
  if (home.length > 0 && !group.anyDisk) throw new GroupBusyError(home.map((i) => i.dir));
  if (idle.length === 0) return undefined;
  // Why its group's disk was not taken, when one holds it.
  const full = infos.filter((i) => (i.groupPlots ?? 0) > 0 && !fits.includes(i)).map((i) => i.dir);
  const notes = [
    ...(full.length ? [`its group's disk ${full.join(', ')} is full`] : []),
    ...(home.length ? [`its group's disk ${home.map((i) => i.dir).join(', ')} is busy`] : []),
  ];
  const pick = metaGroupRuleApplies(group) ? byMetaGroup(idle, group.meta) : singleInMetaZero(idle, byDeleting);
  return notes.length ? { ...pick, why: `${notes.join('; ')}: ${pick.why}` } : pick;
}

/** Stable: on a tie the directory named first wins. */
const mostFree = (ds: readonly DirInfo[]) => ds.reduce((best, i) => (i.freeBytes > best.freeBytes ? i : best));

/** CHIP-49: a disk with no other group of meta-group `meta` first, the most free space among them. */
function byMetaGroup(idle: readonly DirInfo[], meta: number): DirInfo {
  const clean = idle.filter((i) => !(i.sameMeta ?? 0));
  return clean.length > 0
    ? { ...mostFree(clean), why: `the most free space with no other group of meta-group ${meta}` }
    : { ...mostFree(idle), why: `the most free space (every disk with room holds meta-group ${meta} already)` };
}

/**
 * A group of one in meta-group 0: the most free space. When PoS1 plots must give way
 * (`byDeleting`), a disk already holding such plots (its replot begun) first.
 */
function singleInMetaZero(idle: readonly DirInfo[], byDeleting: boolean): DirInfo {
  const begun = byDeleting ? idle.filter((i) => (i.sameMeta ?? 0) > 0) : [];
  if (begun.length > 0) return { ...mostFree(begun), why: 'the most free space among disks whose replot has begun' };
  return { ...mostFree(idle), why: 'the most free space' };
}
