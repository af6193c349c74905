/**
 * Bids that carry their own claim (one round trip less per plot). A plotter that says
 * it can (`direct` in its announce) gets, in a harvester's bid, an offer: this harvester's
 * standing listener and a one-time token for that announce. The plotter then connects at once
 * instead of claiming over NATS first, and its HELLO (naming the announce) is the claim: the same
 * checks and the same reservation as a NATS claim (Claims.reserve), made when the HELLO arrives.
 * A bid still reserves nothing, so a refusal (PF_BUSY: another plotter took the disk; an offer
 * used or expired) comes back as the HELLO's ERROR and the plotter announces again.
 *
 * One listener for every offer, opened once, instead of one listener per claim. Offers live for
 * the claim TTL, at most MAX_OFFERS of them (the oldest go first); each is used at most once.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Logger } from 'pino';
import type { Announce, BidOffer, Claim } from '../bus/bus-messages.js';
import type { PlotGroup } from '../wire/plot-header.js';
import { PlotferryError } from '../core/errors.js';
import { metrics } from '../core/metrics.js';
import type { DiskSet, Reservation } from '../storage/disks.js';
import { listenInRange } from '../transfer/oneshot.js';
import { createReceiverServer } from '../transfer/receive/intake.js';
import { serveConnection } from '../transfer/receive/serve-sessions.js';
import type { ReceiveSession } from '../transfer/receive/session.js';
import type { AuthThrottle } from '../transfer/throttle.js';
import type { Claims } from './claims.js';

/** Offers kept at once: far more than plotters announce within a claim TTL. */
export const MAX_OFFERS = 4096;

export interface OfferDeskOptions {
  claims: Claims;
  disks: DiskSet;
  advertiseHost: string;
  listenHost: string;
  portRange: [number, number];
  ttlMs: number;
  idleTimeoutMs?: number;
  verifyPlotHeader?: boolean;
  /** Write-behind step in bytes (0: none; absent: DEFAULT_FLUSH_EVERY; receive/disk-writer.ts). */
  flushEvery?: number;
  partialTtlMs: number;
  throttle: AuthThrottle;
  isClosing(): boolean;
  log: Logger;
}

interface Offer {
  id: string;
  token: string;
  name: string;
  size: number;
  plotter: string;
  group?: PlotGroup;
  expires: number;
}

export class OfferDesk {
  private readonly offers = new Map<string, Offer>();
  /** Names being received through offers now (a second connection for one is PF_BUSY). */
  private readonly inflight = new Set<string>();
  private readonly sessions = new Set<ReceiveSession>();
  private server?: net.Server;
  private port?: number;
  /** open() ran (a range of one port opens nothing, and says so once). */
  private opened = false;

  constructor(private readonly o: OfferDeskOptions) {}

  /**
   * Opens the listener. Throws what stops it (PF_PORT_IN_USE: every port of --port-range is
   * taken; PF_CONFIG: --listen-host is not this machine's, a port this user may not bind): a
   * claim could not listen either, so the harvester refuses to start rather than bid for
   * plots it cannot take.
   */
  async open(): Promise<void> {
    if (this.server || this.opened) return;
    this.opened = true;
    const [lo, hi] = this.o.portRange;
    // A --port-range of one port is all the claims'; of more, the first free one is this one's.
    if (lo !== 0 && lo === hi) {
      this.o.log.info(
        { portRange: `${lo}-${hi}` },
        'no listener for direct bids (--port-range has one port, kept for claims); plotters claim over NATS',
      );
      return;
    }
    const server = createReceiverServer((s) => this.onConnection(s));
    await listenInRange(server, this.o.listenHost, this.o.portRange);
    server.on('error', (err) => this.o.log.error({ err }, 'offer listener error'));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Whether the listener for direct bids is open (it holds a port of --port-range). */
  get listening(): boolean {
    return this.port !== undefined;
  }

  /** An offer for this announce, to put in its bid; undefined when there is no listener. */
  offer(a: Announce): BidOffer | undefined {
    if (this.port === undefined) return undefined;
    const now = Date.now();
    for (const [id, o] of this.offers) {
      if (o.expires > now && this.offers.size < MAX_OFFERS) break;
      this.offers.delete(id); // insertion order: the oldest first
    }
    const token = randomBytes(16).toString('hex');
    this.offers.delete(a.id);
    this.offers.set(a.id, {
      id: a.id,
      token,
      name: a.name,
      size: a.size,
      plotter: a.plotter,
      ...(a.group ? { group: a.group } : {}),
      expires: now + this.o.ttlMs,
    });
    return { host: this.o.advertiseHost, port: this.port, token };
  }

  /** The offer made for announce `id`, unless it expired (then it goes). */
  private live(id: string): Offer | undefined {
    const o = this.offers.get(id);
    if (!o || o.expires > Date.now()) return o;
    this.offers.delete(id);
    return undefined;
  }

  private onConnection(accepted: net.Socket): void {
    const { o } = this;
    if (o.isClosing()) return void accepted.destroy();
    let offer: Offer | undefined;
    /** Whether this connection took its offer (and holds the reservation). */
    let mine = false;
    const { session } = serveConnection(
      accepted,
      {
        token: '',
        tokenFor: (hello) => (offer = hello.offer !== undefined ? this.live(hello.offer) : undefined)?.token,
        log: o.log,
        inflightNames: this.inflight,
        headerTimeoutMs: 10_000,
        idleTimeoutMs: o.idleTimeoutMs ?? 60_000,
        isShuttingDown: () => o.isClosing(),
        speedtest: false,
        verifyPlotHeader: o.verifyPlotHeader,
        flushEvery: o.flushEvery,
        throttle: o.throttle,
        partialTtlMs: o.partialTtlMs,
        place: async (name, size, _resume, probe): Promise<Reservation> => {
          // The reserved disk failed before the first byte: any other disk with room takes it.
          if (mine) return o.disks.reserveFor(size, undefined, offer?.group);
          if (!offer || this.offers.get(offer.id) !== offer)
            throw new PlotferryError('PF_BUSY', 'this offer was taken or has expired; announce the plot again');
          if (name !== offer.name || size !== offer.size)
            throw new PlotferryError(
              'PF_REFUSED',
              `this offer was made for ${offer.name} (${offer.size} bytes), not ${name} (${size} bytes)`,
            );
          // Taken synchronously with the check above: two connections never both take it.
          this.offers.delete(offer.id);
          mine = true;
          const claim: Claim = {
            kind: 'claim',
            v: 1,
            id: offer.id,
            name,
            size,
            plotter: offer.plotter,
            ...(offer.group ? { group: offer.group } : {}),
          };
          const reservation = await o.claims.reserve(claim, probe);
          metrics.bidsWon.inc();
          o.claims.track(
            claim,
            {
              done: session.outcome.then((r) =>
                r.ok
                  ? { ok: true as const, path: r.path, bytes: r.bytes, header: r.header, why: r.why }
                  : { ok: false as const, error: r.error },
              ),
              abort: () => session.abort(),
            },
            reservation,
            this.port!,
          );
          return reservation;
        },
      },
      this.sessions,
    );
  }

  /** Stops taking connections; transfers under way are the Claims' (drained by the harvester). */
  close(): void {
    this.server?.close();
    this.server = undefined;
    this.port = undefined;
    this.offers.clear();
  }

  /** Ends what is still connected (after the drain): sessions that never claimed, mostly. */
  abortAll(): void {
    for (const s of this.sessions) s.abort();
  }
}
