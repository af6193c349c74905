/**
 * The verified hash of each stored plot, so that a plotter that died between the transfer and
 * the delete can check later that the copy is its plot. Kept in one ledger per directory
 * (ledger.ts), not in a file beside each plot.
 *
 * This module keeps one open ledger per directory for the process, opened when the directory is
 * claimed (housekeeping) or at first use, and opened afresh when the directory is another one
 * now (removed and made again, or remounted: another device and inode).
 */
import type { Stats } from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { Ledger } from './ledger.js';

const open = new Map<string, { identity: string; ledger: Promise<Ledger> }>();

/** The ledger of `dir` (opened, migrated and repaired on first use). */
export async function ledgerFor(dir: string, log?: Logger): Promise<Ledger> {
  const d = path.resolve(dir);
  const st = await fsp.stat(d);
  const identity = `${st.dev}:${st.ino}`;
  const have = open.get(d);
  if (have && have.identity === identity) return have.ledger;
  const ledger = Ledger.open(d, log);
  open.set(d, { identity, ledger });
  ledger.catch(() => open.get(d)?.ledger === ledger && open.delete(d));
  return ledger;
}

/**
 * Best effort: a failure only means a later duplicate cannot be verified. `st`: the file as it is
 * under its temporary name, for a record written before it is published (storage/publish.ts).
 */
export async function writeHashRecord(finalPath: string, hash: string, st?: Stats): Promise<boolean> {
  try {
    await (await ledgerFor(path.dirname(finalPath))).record(path.basename(finalPath), hash, st);
    return true;
  } catch {
    return false;
  }
}

/** The recorded hash of `finalPath`, if it was recorded for the file that is there now (`st`). */
export async function readHashRecord(finalPath: string, st: Stats): Promise<string | undefined> {
  try {
    return (await ledgerFor(path.dirname(finalPath))).hashOf(path.basename(finalPath), st);
  } catch {
    return undefined; // no ledger to be read: the hash is unknown
  }
}

/** A plot plotferry deleted (--replot): its entry goes too. Best effort. */
export async function forgetHashRecord(finalPath: string): Promise<void> {
  try {
    await (await ledgerFor(path.dirname(finalPath))).forget(path.basename(finalPath));
  } catch {
    // no ledger: nothing to forget
  }
}
