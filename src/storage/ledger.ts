/**
 * One hash ledger per receiving directory (`.plotferry-ledger`): the verified XXH64 of every plot
 * stored there, without a file per plot. With ~18,000 PoS2 plots on a disk, a record file beside
 * each one doubled the files that every readdir and every scan walks.
 *
 * - **Append-only lines**, each `<md5 prefix> <json>`. A line whose checksum does not match is
 *   never believed: a torn last line (a crash mid-append) is dropped quietly, any other bad line
 *   loudly, and the ledger is rewritten without it. Those plots' hashes are then unknown, never
 *   wrong.
 * - **An entry names one file, not one name.** It keeps the plot's size, inode and mtime, and a
 *   lookup believes it only while the file still has all three. A plot deleted by hand, and a
 *   file copied in by hand under its name, are not "verified".
 * - **Bounded.** Entries for files that are gone are dropped when the ledger is opened, and it is
 *   rewritten (temporary file, fsync, rename, directory fsync) once dead lines outnumber live ones.
 * - **Migration.** The per-plot `.plotferry-NAME.xxh64` records of earlier versions are taken in
 *   when a directory's ledger is opened, then removed.
 *
 * One process writes a directory's ledger: the one that holds the directory (storage/dir-lock.ts).
 * Appends are not fsynced: a crash may lose the newest entries, and then their hashes are unknown.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { HASH_RECORD_SUFFIX, TEMP_PREFIX, tempPathFor } from './hidden-names.js';
import { syncDir } from './publish.js';

export const LEDGER_NAME = `${TEMP_PREFIX}ledger`;
/** Rewrite once this many lines are dead (overwritten or forgotten) and they outnumber the live. */
const COMPACT_AFTER_DEAD = 1_000;

interface Entry {
  /** size, inode, mtime of the file the hash is of. */
  s: number;
  i: number;
  m: number;
  h: string;
}

interface FileId {
  size: number;
  ino: number;
  mtimeMs: number;
}

const sum = (json: string) => createHash('md5').update(json).digest('hex').slice(0, 12);
const line = (json: string) => `${sum(json)} ${json}\n`;

export class Ledger {
  private readonly entries = new Map<string, Entry>();
  private lines = 0;
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, LEDGER_NAME);
  }

  /** Reads (and repairs, migrates, compacts) the ledger of `dir`; a missing one is empty. */
  static async open(dir: string, log?: Logger): Promise<Ledger> {
    const l = new Ledger(dir);
    const { bad, torn } = await l.load();
    const migrated = await l.migrateRecords();
    const gone = await l.dropGone();
    if (bad > 0)
      log?.warn(
        { dir, unreadable: bad },
        `hash ledger: ${bad} unreadable entr${bad === 1 ? 'y' : 'ies'} dropped and the ledger rewritten; those plots' hashes are unknown (never guessed) until they are verified again`,
      );
    if (torn) log?.info({ dir }, 'hash ledger: its last entry was cut short (a crash while writing); dropped');
    if (migrated > 0)
      log?.info({ dir, migrated }, `hash ledger: took in ${migrated} hash record file(s) of an earlier version`);
    if (bad > 0 || torn || migrated > 0 || gone > 0 || l.lines > l.entries.size) await l.rewrite();
    return l;
  }

  /** The verified hash of `name`, while the file there is the very one it was verified for. */
  hashOf(name: string, st: FileId): string | undefined {
    const e = this.entries.get(name);
    return e && e.s === st.size && e.i === st.ino && e.m === st.mtimeMs ? e.h : undefined;
  }

  /**
   * Records the hash of the file now at `name`, or of the file `st` describes (its temporary
   * name's, before it is published under `name`: linking keeps its inode, size and mtime).
   */
  async record(name: string, hash: string, st?: FileId): Promise<void> {
    st ??= await fsp.stat(path.join(this.dir, name));
    const e: Entry = { s: st.size, i: st.ino, m: st.mtimeMs, h: hash };
    this.entries.set(name, e);
    await this.append(JSON.stringify({ n: name, ...e }));
  }

  /** The plot is gone (deleted by plotferry): its entry goes too. */
  async forget(name: string): Promise<void> {
    if (!this.entries.delete(name)) return;
    await this.append(JSON.stringify({ n: name, gone: true }));
  }

  get size(): number {
    return this.entries.size;
  }

  private append(json: string): Promise<void> {
    const run = this.writing.then(async () => {
      await fsp.appendFile(this.file, line(json));
      this.lines++;
      if (this.lines - this.entries.size > Math.max(COMPACT_AFTER_DEAD, this.entries.size)) await this.rewriteNow();
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<{ bad: number; torn: boolean }> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch {
      return { bad: 0, torn: false };
    }
    const rows = text.split('\n');
    // The text after the last newline is a line whose append did not finish.
    const tail = rows.pop()!;
    let bad = 0;
    for (const row of rows) {
      this.lines++;
      const sp = row.indexOf(' ');
      const json = row.slice(sp + 1);
      let o: { n?: unknown; s?: unknown; i?: unknown; m?: unknown; h?: unknown; gone?: unknown };
      try {
        if (sp !== 12 || row.slice(0, sp) !== sum(json)) throw new Error('checksum');
        o = JSON.parse(json) as typeof o;
      } catch {
        bad++;
        continue;
      }
      if (typeof o.n !== 'string') {
        bad++;
        continue;
      }
      if (o.gone === true) this.entries.delete(o.n);
      else if (
        typeof o.s === 'number' &&
        typeof o.i === 'number' &&
        typeof o.m === 'number' &&
        typeof o.h === 'string' &&
        /^[0-9a-f]{16}$/.test(o.h)
      )
        this.entries.set(o.n, { s: o.s, i: o.i, m: o.m, h: o.h });
      else bad++;
    }
    return { bad, torn: tail.length > 0 };
  }

  /** Takes in `.plotferry-NAME.xxh64` records (earlier versions) whose plot is there; removes them all. */
  private async migrateRecords(): Promise<number> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    let taken = 0;
    for (const n of names) {
      if (!n.startsWith(TEMP_PREFIX) || !n.endsWith(HASH_RECORD_SUFFIX)) continue;
      const plot = n.slice(TEMP_PREFIX.length, -HASH_RECORD_SUFFIX.length);
      const recPath = path.join(this.dir, n);
      try {
        const [rec, st] = await Promise.all([fsp.readFile(recPath, 'utf8'), fsp.stat(path.join(this.dir, plot))]);
        const r = JSON.parse(rec) as { hash?: unknown; size?: unknown };
        if (
          typeof r.hash === 'string' &&
          /^[0-9a-f]{16}$/.test(r.hash) &&
          r.size === st.size &&
          !this.entries.has(plot)
        ) {
          this.entries.set(plot, { s: st.size, i: st.ino, m: st.mtimeMs, h: r.hash });
          taken++;
        }
      } catch {
        // its plot is gone, or the record is unreadable: nothing to take in
      }
      await fsp.unlink(recPath).catch(() => undefined);
    }
    return taken;
  }

  /** Drops entries whose file is gone or is another file now. */
  private async dropGone(): Promise<number> {
    let gone = 0;
    const names = [...this.entries.keys()];
    for (let k = 0; k < names.length; k += 64) {
      await Promise.all(
        names.slice(k, k + 64).map(async (n) => {
          const st = await fsp.stat(path.join(this.dir, n)).catch(() => undefined);
          if (!st || this.hashOf(n, st) === undefined) {
            this.entries.delete(n);
            gone++;
          }
        }),
      );
    }
    return gone;
  }

  private rewrite(): Promise<void> {
    const run = this.writing.then(() => this.rewriteNow());
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** The live entries into a temporary file, synced, renamed over the ledger, directory synced. */
  private async rewriteNow(): Promise<void> {
    const tmp = tempPathFor(this.dir, 'ledger');
    const body = [...this.entries].map(([n, e]) => line(JSON.stringify({ n, ...e }))).join('');
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.file);
    await syncDir(this.dir);
    this.lines = this.entries.size;
  }
}
