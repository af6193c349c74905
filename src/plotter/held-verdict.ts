/**
 * Whether a copy that a receiver already holds (same name and size) is this plotter's plot,
 * so that the source may go: the receiver's recorded hash must equal the source's, and the
 * copy must provably be another file (wire/same-file-probe.ts). Used by `sweep` before it sends, and by
 * `send` when a receiver answers that it holds the name already (a RESULT lost on the way back).
 */
import { promises as fsp } from 'node:fs';
import type { Held } from '../bus/bus-messages.js';
import type { HeldCopy } from '../wire/wire-messages.js';
import { PlotferryError } from '../core/errors.js';
import { hashSource } from '../transfer/hash.js';
import type { SourceId } from '../storage/source.js';
import type { SendResult } from '../transfer/sender.js';

export type HeldVerdict =
  /** Another file, verified identical: the source may be removed while it is still `source`. */
  | { kind: 'identical'; hash: string; source: SourceId }
  /** The copy is the source itself (or may be): never remove it. */
  | { kind: 'same-file' }
  /** Another file of that name with other bytes (`hash`: the source's; '' when the sizes differ). */
  | { kind: 'differs'; hash: string }
  /**
   * No recorded hash to compare with (stored another way, or the copy changed after it was
   * stored, so its record no longer holds), or no probe answer: keep the source. Not a success.
   */
  | { kind: 'unverified'; why: string };

export async function judgeHeld(file: string, held: HeldCopy): Promise<HeldVerdict> {
  if (held.beside === 'source' || held.beside === 'locked') return { kind: 'same-file' };
  if (held.size !== (await fsp.stat(file)).size) return { kind: 'differs', hash: '' };
  // A receiver that did not probe cannot prove its copy is another file.
  if (held.beside !== 'absent')
    return { kind: 'unverified', why: 'its receiver cannot tell whether that copy is this very file' };
  if (!held.hash)
    return {
      kind: 'unverified',
      why: 'it has no hash record (copied in by hand, or changed after plotferry stored it)',
    };
  const ours = await hashSource(file);
  return ours.hash === held.hash
    ? { kind: 'identical', hash: ours.hash, source: ours.id }
    : { kind: 'differs', hash: ours.hash };
}

/**
 * A copy `harvester` holds (found by `has`, or described by a receiver's PF_EXISTS after a lost
 * RESULT) as the delivery it stands for, when it is verified identical and provably another
 * file; otherwise the error that says why the source stays: PF_SAME_FILE, or PF_EXISTS for
 * another file or one that cannot be verified.
 */
export async function deliveredAs(
  file: string,
  name: string,
  held: HeldCopy,
  harvester: string,
): Promise<SendResult & { harvester: string; alreadyStored: true }> {
  const at = `${harvester}:${held.path}`;
  const v = await judgeHeld(file, held);
  switch (v.kind) {
    case 'identical':
      return {
        name,
        file,
        bytes: held.size,
        seconds: 0,
        hash: v.hash,
        remotePath: held.path,
        resumedFrom: 0,
        bytesSent: 0,
        source: v.source,
        harvester,
        alreadyStored: true,
      };
    case 'same-file':
      throw new PlotferryError('PF_SAME_FILE', `${at} is this very file; it was neither sent nor removed`);
    case 'differs':
      throw new PlotferryError(
        'PF_EXISTS',
        `${at} holds a different file of this name (${held.size} bytes${held.hash ? `, xxh64 ${held.hash}` : ''}; ours ${v.hash ? `xxh64 ${v.hash}` : 'another size'}); nothing was overwritten, the source is kept`,
      );
    case 'unverified':
      throw new PlotferryError(
        'PF_EXISTS',
        `${at} holds a file of this name and size that cannot be verified: ${v.why}; it was not sent again, the source is kept`,
      );
  }
}

/**
 * The first announce found that `harvester` holds a file of this name and size (its 'held'
 * decline, or `has`): nothing was sent. Whether that copy is this plot is the caller's to judge
 * (judgeHeld, below): a sweep reports a duplicate, `send` a delivery.
 */
export class HeldError extends PlotferryError {
  constructor(readonly holder: Held) {
    super('PF_EXISTS', `${holder.harvester} holds ${holder.path} (${holder.size} bytes) already`);
  }
}
