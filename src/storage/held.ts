/** What a receiving directory holds under a plot's name, as PF_EXISTS and `has` describe it. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PlotferryError } from '../core/errors.js';
import { ExistsError, type HeldCopy } from '../wire/wire-messages.js';
import { readHashRecord } from './hash-records.js';
import { besideHeld } from './beside-held.js';

/** Which of `dirs` already holds `name`, if any. */
export async function findExisting(dirs: readonly string[], name: string): Promise<string | undefined> {
  // Every directory at once (one round of stats, not one per disk), the first in order wins.
  const found = await Promise.all(
    dirs.map((dir) => {
      const p = path.join(dir, name);
      // absent (or unreadable dir: the disk set reports that one)
      return fsp.lstat(p).then(
        () => p,
        () => undefined,
      );
    }),
  );
  return found.find((p) => p !== undefined);
}

/**
 * Throws PF_EXISTS when any of `dirs` holds `name`: a file is never received over another. The
 * error describes the copy (size, recorded hash, what lies beside it for `probe`), so a sender
 * whose RESULT was lost can tell that the copy is its plot (plotter/held-verdict.ts).
 */
export async function assertNameFree(dirs: readonly string[], name: string, probe?: string): Promise<void> {
  const existing = await findExisting(dirs, name);
  if (!existing) return;
  const message = `${existing} exists already; it was not overwritten`;
  const held = await describeHeld(existing, probe);
  throw held ? new ExistsError(message, held) : new PlotferryError('PF_EXISTS', message);
}

/** A stored plot as `has` and PF_EXISTS describe it; undefined when it is not a regular file. */
export async function describeHeld(p: string, probe: string | undefined): Promise<HeldCopy | undefined> {
  const st = await fsp.stat(p).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const [hash, beside] = await Promise.all([readHashRecord(p, st), besideHeld(p, probe)]);
  return { path: p, size: st.size, beside, ...(hash ? { hash } : {}) };
}
