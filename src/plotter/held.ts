/**
 * Whether a copy that a receiver already holds (same name and size) is this plotter's plot,
 * so that the source may go: the receiver's recorded hash must equal the source's, and the
 * copy must provably be another file (wire/probe.ts). Used by `sweep` before it sends, and by
 * `send` when a receiver answers that it holds the name already (a RESULT lost on the way back).
 */
import { promises as fsp } from 'node:fs';
import { NatsConnection, RequestStrategy } from 'nats';
import { decodeBus, encodeBus, Held, subjects } from '../bus/messages.js';
import type { HeldCopy } from '../wire/messages.js';
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
 * Asks the farm whether a harvester holds a plot (`has`), fast. Every harvester answers, held or
 * not (answerAll), and the roster remembers which harvesters answer; once a query has heard all
 * of them within `maxWaitMs`, later queries stop as soon as every known harvester has answered:
 * a NATS round trip instead of waiting out a timeout for the silence of non-holders (that wait
 * was 500 ms per plot, most of the per-file cost of a sweep of many small plots). A harvester that
 * stops answering is dropped from the roster after one full wait; one that appears is added.
 */
export class HolderRoster {
  private readonly known = new Set<string>();
  /** Whether a query ran its full wait, so `known` is every harvester that answers. */
  private complete = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix = 'plotferry',
    /** How long a query waits for every harvester (and an announce for a known one). */
    readonly maxWaitMs = 500,
  ) {}

  /**
   * What an announce heard (plotter/bidding.ts): harvesters that answered join; with `dropSilent`
   * (the announce waited the full maxWaitMs for them), known ones that stayed silent are dropped,
   * so a stopped harvester is not waited for plot after plot (one that answers again rejoins).
   */
  heard(answered: ReadonlySet<string>, dropSilent: boolean): void {
    if (!this.complete) return;
    for (const h of answered) this.known.add(h);
    if (dropSilent) for (const h of this.known) if (!answered.has(h)) this.known.delete(h);
  }

  /**
   * Starts from the harvesters an earlier sweep heard (roster-file.ts) instead of a full wait:
   * announces then wait for these, a gone one is dropped after one announce's wait, a new one
   * joins when it answers.
   */
  seed(harvesters: readonly string[]): void {
    if (this.complete || harvesters.length === 0) return;
    for (const h of harvesters) this.known.add(h);
    this.complete = true;
  }

  /** Every harvester that answers, once a full wait has shown who they are; else undefined. */
  harvesters(): ReadonlySet<string> | undefined {
    return this.complete && this.known.size > 0 ? this.known : undefined;
  }

  /** The holder of `name` with `size` bytes, if any; `probe` is our lock's token (wire/probe.ts). */
  async ask(name: string, size: number, probe: string): Promise<Held | undefined> {
    const answered = new Set<string>();
    let held: Held | undefined;
    let ranOut = true;
    try {
      const replies = await this.nc.requestMany(
        subjects(this.prefix).has,
        encodeBus({ kind: 'has', v: 1, name, size, probe, answerAll: true }),
        { strategy: RequestStrategy.Timer, maxWait: this.maxWaitMs },
      );
      for await (const m of replies) {
        let r;
        try {
          r = decodeBus(m.data, ['held', 'not-held']);
        } catch {
          continue; // junk on the subject is no answer
        }
        answered.add(r.harvester);
        if (r.kind === 'held') {
          held = r;
          ranOut = false;
          break;
        }
        if (this.complete && [...this.known].every((h) => answered.has(h))) {
          ranOut = false;
          break;
        }
      }
    } catch {
      // 503, no harvester subscribed at all: nobody holds it.
    }
    for (const h of answered) this.known.add(h);
    if (ranOut) {
      // A full wait heard everyone who answers: the others are gone.
      for (const h of this.known) if (!answered.has(h)) this.known.delete(h);
      this.complete = true;
    }
    return held;
  }
}
