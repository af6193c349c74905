/**
 * Whether a copy that a receiver already holds (same name and size) is this plotter's plot,
 * so that the source may go: the receiver's recorded hash must equal the source's, and the
 * copy must provably be another file (wire/probe.ts). Used by `sweep` before it sends, and by
 * `send` when a receiver answers that it holds the name already (a RESULT lost on the way back).
 */
import { promises as fsp } from 'node:fs';
import type { NatsConnection } from 'nats';
import { decodeBus, encodeBus, Held, subjects } from '../bus/messages.js';
import type { Beside } from '../wire/probe.js';
import { hashFile } from '../transfer/hash.js';

export interface HeldCopy {
  /** Bytes of the copy; another size is another file. */
  size?: number;
  /** XXH64 recorded when plotferry stored it; absent when it came another way. */
  hash?: string;
  /** Absent from a receiver that does not probe: then nothing can be removed. */
  beside?: Beside;
}

export type HeldVerdict =
  /** Another file, verified identical: the source may be removed. */
  | { kind: 'identical'; hash: string }
  /** The copy is the source itself (or may be): never remove it. */
  | { kind: 'same-file' }
  /** Another file of that name with other bytes (`hash`: the source's; '' when the sizes differ). */
  | { kind: 'differs'; hash: string }
  /** No recorded hash to compare with, or no probe answer: keep the source. */
  | { kind: 'unverified' };

/** `sourceHash`, when the caller hashed the source already, saves reading it again. */
export async function judgeHeld(file: string, held: HeldCopy, sourceHash?: string): Promise<HeldVerdict> {
  if (held.beside === 'source' || held.beside === 'locked') return { kind: 'same-file' };
  if (held.size !== undefined && held.size !== (await fsp.stat(file)).size) return { kind: 'differs', hash: '' };
  // A receiver that did not probe cannot prove its copy is another file.
  if (held.beside !== 'absent' || !held.hash) return { kind: 'unverified' };
  const ours = sourceHash ?? (await hashFile(file));
  return ours === held.hash ? { kind: 'identical', hash: ours } : { kind: 'differs', hash: ours };
}

/**
 * Which harvester holds `name` with `size` bytes, if any answers within `timeoutMs` (only holders
 * answer). `probe` is our lock's token: the holder says whether that lock lies beside its copy.
 */
export async function askHeld(
  nc: NatsConnection,
  prefix: string | undefined,
  name: string,
  size: number,
  probe: string,
  timeoutMs = 500,
): Promise<Held | undefined> {
  try {
    const m = await nc.request(
      subjects(prefix ?? 'plotferry').has,
      encodeBus({ kind: 'has', v: 1, name, size, probe }),
      {
        timeout: timeoutMs,
      },
    );
    return decodeBus(m.data, ['held']);
  } catch {
    return undefined; // silence (or no harvester at all): nobody holds it
  }
}
