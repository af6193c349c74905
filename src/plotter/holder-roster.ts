import { NatsConnection, RequestStrategy } from 'nats';
import { decodeBus, encodeBus, Held, subjects } from '../bus/bus-messages.js';

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

  /** The holder of `name` with `size` bytes, if any; `probe` is our lock's token (wire/same-file-probe.ts). */
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
