/** The receiver's half of the same-file probe (wire/same-file-probe.ts explains it). */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Beside } from '../wire/same-file-probe.js';
import { lockNameFor } from '../wire/names.js';
import { decodeOwner } from './owner.js';

/** What lies beside `heldPath` where a plotter's lock on it would be. */
export async function besideHeld(heldPath: string, probe: string | undefined): Promise<Beside> {
  const lock = path.join(path.dirname(heldPath), lockNameFor(path.basename(heldPath)));
  let content: string;
  try {
    content = await fsp.readFile(lock, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'locked';
  }
  return probe !== undefined && decodeOwner(content)?.token === probe ? 'source' : 'locked';
}
