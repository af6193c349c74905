/**
 * A harvester's won bids: each claim reserves a disk now and opens a one-shot TCP listener for
 * exactly that file, with a one-time token (transfer/oneshot.ts). It ends when its transfer
 * ends or when it expires unused (--claim-ttl); either way its disk is freed.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Claim } from '../bus/bus-messages.js';
import type { PlotGroup } from '../wire/plot-header.js';
import type { PlotHeaderInfo } from '../wire/plot-header.js';
import { PlotferryError } from '../core/errors.js';
import type { DiskSet, Reservation } from '../storage/disks.js';
import { assertNameFree } from '../storage/held.js';
import { findPartial } from '../storage/partials.js';
import { OneShotReceiver } from '../transfer/oneshot.js';
import { noPortError } from './ports.js';
import type { AuthThrottle } from '../transfer/throttle.js';

export interface ClaimsOptions {
  disks: DiskSet;
  maxTransfers: number;
  listenHost: string;
  portRange: [number, number];
  claimTtlMs: number;
  idleTimeoutMs?: number;
  verifyPlotHeader?: boolean;
  /** Write-behind step in bytes (0: none; absent: DEFAULT_FLUSH_EVERY; receive/disk-writer.ts). */
  flushEvery?: number;
  partialTtlMs: number;
  throttle: AuthThrottle;
  log: Logger;
  /**
   * A claim ended (done or expired): its disk can take the next plot. `stored`: the file name
   * of the plot it stored (verified, under its final name); absent when it did not.
   */
  onFreed?: (stored?: string) => void;
  /** Ports of --port-range held by the harvester's other listeners (the one for direct bids). */
  portsHeldElsewhere?: () => number;
  /** A plot was stored at `path`; `why`: why its disk was chosen. */
  onStored?: (path: string, bytes: number, why: string, group?: PlotGroup, header?: PlotHeaderInfo | null) => void;
}

export interface OpenedClaim {
  port: number;
  token: string;
  expiresInMs: number;
}

/** A claimed transfer under way: it ends with `done`; abort() ends it now (shutdown). */
export interface OpenClaim {
  done: Promise<
    | { ok: true; path: string; bytes: number; header?: PlotHeaderInfo | null; why?: string }
    | { ok: false; error: PlotferryError; expired?: true }
  >;
  abort(): void;
}

export class Claims {
  /** Each open claim, with its directory and its plot's group key (for `incoming`). */
  private readonly open = new Map<string, { t: OpenClaim; dir: string; key?: string }>();
  /** Claims with a listener of their own (each holds a port of --port-range). */
  private listening = 0;

  constructor(private readonly o: ClaimsOptions) {}

  get size(): number {
    return this.open.size;
  }

  /** Ports of --port-range this harvester's listeners hold now. */
  get portsHeld(): number {
    return this.listening + (this.o.portsHeldElsewhere?.() ?? 0);
  }

  receivers(): OpenClaim[] {
    return [...this.open.values()].map((o) => o.t);
  }

  /**
   * Plots of group `key` being received into `dir` now: they count as the group's (the
   * inventory has them only once stored), so the group's next plot waits for that disk.
   */
  incoming(dir: string, key: string): number {
    let n = 0;
    for (const o of this.open.values()) if (o.dir === dir && o.key === key) n++;
    return n;
  }

  /**
   * What a claim checks and reserves: a transfer slot (PF_BUSY at --max-transfers), the name free
   * everywhere (PF_EXISTS, describing the copy for `probe`), and a disk (PF_NO_SPACE, PF_BUSY, ...).
   */
  async reserve(c: Claim, probe?: string): Promise<Reservation> {
    const { o } = this;
    if (this.open.size >= o.maxTransfers) throw new PlotferryError('PF_BUSY', `at --max-transfers (${o.maxTransfers})`);
    await assertNameFree(o.disks.dirs, c.name, probe);
    const partial = await findPartial(o.disks.dirs, c.name, c.size, o.partialTtlMs);
    return o.disks.reserveFor(c.size, partial, c.group);
  }

  /** Counts a claimed transfer until it ends; then its disk can take the next plot. */
  track(c: Claim, t: OpenClaim, r: Pick<Reservation, 'dir' | 'why'>, port: number): void {
    const { o } = this;
    this.open.set(c.id, { t, dir: r.dir, ...(c.group ? { key: c.group.key } : {}) });
    o.log.info(
      {
        file: c.name,
        size: c.size,
        plotter: c.plotter,
        dir: r.dir,
        why: r.why,
        port,
        ...(c.group ? { group: c.group.key } : {}),
      },
      `claimed: ${c.name} goes to ${r.dir} (${r.why})`,
    );
    void t.done.then((outcome) => {
      // Stored (and so counted by the inventory) before it stops counting as incoming. The why
      // is the disk written's: another disk may have taken the file after this one failed.
      if (outcome.ok) o.onStored?.(outcome.path, outcome.bytes, outcome.why ?? r.why, c.group, outcome.header);
      this.open.delete(c.id);
      if (!outcome.ok && outcome.expired) o.log.warn({ file: c.name }, outcome.error.message);
      o.onFreed?.(outcome.ok ? path.basename(outcome.path) : undefined);
    });
  }

  /**
   * Reserves a disk and opens the claim's listener; throws PF_BUSY, PF_EXISTS, PF_NO_SPACE,
   * PF_PORT_IN_USE (another process holds the ports of --port-range), ...
   */
  async take(c: Claim): Promise<OpenedClaim> {
    const { o } = this;
    const reservation = await this.reserve(c);
    const token = randomBytes(16).toString('hex');
    let rx: OneShotReceiver;
    try {
      rx = await OneShotReceiver.open({
        name: c.name,
        size: c.size,
        token,
        reservation,
        ...(c.group ? { group: c.group } : {}),
        disks: o.disks,
        host: o.listenHost,
        portRange: o.portRange,
        ttlMs: o.claimTtlMs,
        idleTimeoutMs: o.idleTimeoutMs,
        verifyPlotHeader: o.verifyPlotHeader,
        flushEvery: o.flushEvery,
        throttle: o.throttle,
        partialTtlMs: o.partialTtlMs,
        log: o.log.child({ plotter: c.plotter }),
      });
    } catch (err) {
      reservation.release();
      // Every port taken: busy while our own listeners hold them, else none is ours to use.
      if ((err as PlotferryError).code === 'PF_PORT_IN_USE')
        throw noPortError(o.portRange, o.listenHost, this.listening + (o.portsHeldElsewhere?.() ?? 0), err);
      throw err;
    }
    this.listening++;
    void rx.done.then(() => this.listening--);
    this.track(c, rx, reservation, rx.port);
    return { port: rx.port, token, expiresInMs: o.claimTtlMs };
  }
}
