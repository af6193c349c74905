/**
 * `plotferry harvester`: bids for announced plots over NATS and receives the ones it wins.
 *
 * - announce: stays silent when it cannot take the plot (at --max-transfers, no disk with size
 *   + reserve free and idle, or the name already stored); otherwise bids after bidDelayMs(), so
 *   the idlest, emptiest harvester answers first and wins.
 * - claim (to this harvester only): reserves the disk now, opens a one-shot TCP listener with a
 *   one-time token, and answers where to send; or refuses with a code (the plotter bids again).
 *   A plotter that can (`direct`) skips it: the bid carries an offer, and the HELLO on this
 *   harvester's standing listener is the claim (offers.ts).
 * - heartbeat: publishes its disks, plots and active transfers for `plotferry status`.
 * NATS carries these small messages only. A malformed message is logged and ignored. Transfers
 * run over TCP, so they carry on while NATS is down; the connection reconnects by itself.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import type { ReplotSettings } from '../storage/replot.js';
import {
  BusKind,
  BusMessage,
  DeclineReason,
  decodeBus,
  encodeBus,
  Heartbeat,
  MAX_BUS_MESSAGE,
  subjects,
  validateId,
} from '../bus/bus-messages.js';
import { asPlotferryError, PlotferryError } from '../core/errors.js';
import type { HeldCopy } from '../wire/wire-messages.js';
import { ID_RE } from '../wire/names.js';
import { describeHeld, findExisting } from '../storage/held.js';
import { DEFAULT_PARTIAL_TTL_MS, startPartialExpiry } from '../storage/partials.js';
import { prepareDirs, receiverDisks } from '../storage/housekeeping.js';
import { watchUsable } from '../storage/usable-alarm.js';
import { notifyDiskEvent } from '../transfer/disk-notices.js';
import { drainWithin } from '../transfer/drain.js';
import { SpeedtestListener } from '../transfer/speedtest-listener.js';
import { AuthThrottle } from '../transfer/throttle.js';
import { decideBid } from './bid.js';
import { metrics, setDiskSource } from '../core/metrics.js';
import { notify } from '../core/notify.js';
import { Claims } from './claims.js';
import { OfferDesk } from './offers.js';
import { portShortage, PortProbe, probeRange } from './ports.js';
import { buildHeartbeat, replotMode } from './heartbeat.js';
import { diskAlerts } from './disk-alerts.js';
import { Inventory } from './inventory.js';
import { idClash } from './id-clash.js';
import { diskFigures, type DiskSet } from '../storage/disks.js';

/** The longest and widest speedtest a harvester takes (`plotferry speedtest --nats`). */
export const MAX_SPEEDTEST_SECONDS = 60;
export const MAX_SPEEDTEST_STREAMS = 16;

export interface HarvesterOptions {
  nc: NatsConnection;
  id: string;
  /** Address plotters connect to (this host's name or IP on the farm network). */
  advertiseHost: string;
  dirs: readonly string[];
  /** --replot: PoS1 plots give way to incoming plots (storage/replot.ts). */
  replot?: ReplotSettings;
  /** --notify-full: a disk this full (percent) is notified (core/notify.ts). Default 95. */
  notifyFullPercent?: number;
  prefix?: string;
  listenHost?: string;
  maxTransfers?: number;
  reserveBytes?: number;
  requireMount?: boolean;
  /** Use --dir directories on the root filesystem (storage/disks.ts; off: skipped until mounted). */
  allowRootFs?: boolean;
  portRange?: [number, number];
  claimTtlMs?: number;
  heartbeatMs?: number;
  /** How often the plot counts are reconciled with the disks (farm/inventory.ts; default 10 min). */
  rescanMs?: number;
  idleTimeoutMs?: number;
  /** Refuse files that do not start like a Chia plot (PF_NOT_A_PLOT). */
  verifyPlotHeader?: boolean;
  /** Write-behind step in bytes (0: none; absent: DEFAULT_FLUSH_EVERY; receive/disk-writer.ts). */
  flushEvery?: number;
  /** Keep a broken transfer's good bytes this long for a resume (default 1 h; 0: never). */
  partialTtlMs?: number;
  log: Logger;
}

export class Harvester {
  readonly disks: DiskSet;
  private readonly claims: Claims;
  private readonly offers: OfferDesk;
  private readonly inventory: Inventory;
  private speedtest?: SpeedtestListener;
  /** Wrong one-time tokens, counted per address across every claim and speedtest listener. */
  private readonly throttle = new AuthThrottle();
  private readonly subs: Subscription[] = [];
  private heartbeatTimer?: NodeJS.Timeout;
  private stopExpiry?: () => void;
  private stopAlarm?: () => Promise<void>;
  private closing = false;
  private readonly subj: ReturnType<typeof subjects>;
  /** Whether a claim could open a listener now (farm/ports.ts). */
  private readonly ports: PortProbe;
  /** Since when another process has held every port a claim could use (undefined: it has not). */
  private noPortSince?: number;
  /** This process among harvesters (Heartbeat.instance): another under our --id has another. */
  private readonly instance = randomBytes(8).toString('hex');
  /** The other instances under our --id said already (farm/id-clash.ts): each said once. */
  private readonly clashesSaid = new Set<string>();

  private constructor(private opts: HarvesterOptions) {
    validateId(opts.id, '--id');
    validateId(opts.prefix ?? 'plotferry', '--prefix');
    this.disks = receiverDisks('harvester', opts.dirs, {
      ...opts,
      onPlotDeleted: (f, bytes) => this.inventory.removed(f, bytes),
      onEvent: (e) => {
        notifyDiskEvent(e);
        // A gone disk's plots are not on this host now; back, they are counted afresh.
        if (e.kind === 'gone') this.inventory.forget(e.dir);
        else if (e.kind === 'back') this.inventory.refresh();
      },
      // A disk that joins after the start (mounted late, remounted writable) is counted now,
      // not at the next reconciliation scan (its plots were missing from status and placement).
      onClaimed: (dir) => this.inventory?.joined(dir),
      // What a disk holds of a group: stored plots, and plots of it being received there now.
      groups: (dir, group) => {
        const g = this.inventory.groupIn(dir, group);
        return { ...g, plots: g.plots + this.claims.incoming(dir, group.key) };
      },
    });
    this.subj = subjects(opts.prefix ?? 'plotferry');
    // A PoS1 plot removed or copied in by hand changes what --replot may delete there: the next
    // bid reads that list afresh rather than promise room from a stale one.
    this.inventory = new Inventory(
      () => this.disks.ownedDirs,
      opts.log,
      opts.rescanMs,
      (dir) => this.disks.replotter?.changed(dir),
    );
    // What a claim and a bid's offer receive with: the same disks, ports, limits and checks.
    const receiving = {
      disks: this.disks,
      listenHost: opts.listenHost ?? '0.0.0.0',
      portRange: opts.portRange ?? ([0, 0] as [number, number]),
      idleTimeoutMs: opts.idleTimeoutMs,
      verifyPlotHeader: opts.verifyPlotHeader,
      flushEvery: opts.flushEvery,
      partialTtlMs: this.partialTtlMs,
      throttle: this.throttle,
      log: opts.log,
    };
    const claimTtlMs = opts.claimTtlMs ?? 30_000;
    this.ports = new PortProbe(receiving.listenHost, receiving.portRange);
    this.claims = new Claims({
      ...receiving,
      portsHeldElsewhere: () => (this.offers.listening ? 1 : 0),
      maxTransfers: this.maxTransfers,
      claimTtlMs,
      onStored: (p, bytes, why, group, header) => {
        void this.inventory.added(p, bytes, why, group, header);
        // A dry run that planned this plot found room for it after all: a real --replot would
        // have deleted nothing for it.
        this.disks.replotter?.retractDryRun(path.basename(p), `${opts.id} (this harvester)`);
      },
      // Plotters waiting on busy disks go now instead of at their next poll; with the plot
      // stored, dry-run harvesters that planned it take it out of their plans.
      onFreed: (stored) => {
        if (this.opts.nc && !this.opts.nc.isClosed() && !this.closing)
          this.opts.nc.publish(
            this.subj.free,
            encodeBus({ kind: 'free', v: 1, harvester: this.opts.id, ...(stored ? { stored } : {}) }),
          );
      },
    });
    this.offers = new OfferDesk({
      ...receiving,
      claims: this.claims,
      advertiseHost: opts.advertiseHost,
      ttlMs: claimTtlMs,
      isClosing: () => this.closing,
    });
  }

  static async start(opts: HarvesterOptions): Promise<Harvester> {
    const h = await Harvester.prepare(opts);
    await h.attach(opts.nc);
    return h;
  }

  /**
   * The half of start() that needs no NATS: claims the directories (PF_DIR_IN_USE where another
   * receiver serves one) and cleans them, so a misconfiguration is reported at once even while
   * NATS cannot be reached yet. attach() then starts bidding.
   */
  static async prepare(opts: Omit<HarvesterOptions, 'nc'>): Promise<Harvester> {
    const h = new Harvester(opts as HarvesterOptions);
    try {
      await prepareDirs(h.disks, opts.log);
      await h.openPorts();
    } catch (err) {
      h.offers.close();
      await h.disks.close();
      throw err;
    }
    h.stopAlarm = watchUsable(h.disks, 'harvester', opts.log);
    h.stopExpiry = startPartialExpiry(() => h.disks.ownedDirs, h.partialTtlMs, opts.log);
    await h.inventory.start();
    // The disk gauges of --metrics, read at each scrape (statfs and the plot index, O(disks)).
    setDiskSource(async () =>
      (await h.disks.snapshot()).map((i) => ({ ...diskFigures(i), ...(i.gone ? {} : h.inventory.of(i.dir)) })),
    );
    return h;
  }

  /**
   * The listener for direct bids, or (a --port-range of one port, kept for claims) a probe that
   * a claim could listen. A harvester that can listen on no port of its range could take no
   * plot: it refuses to start (PF_PORT_IN_USE, PF_CONFIG) instead of bidding for plots it would
   * then refuse, one claim after another.
   */
  private async openPorts(): Promise<void> {
    const host = this.opts.listenHost ?? '0.0.0.0';
    const range = this.opts.portRange ?? ([0, 0] as [number, number]);
    try {
      await this.offers.open();
      if (!this.offers.listening) await probeRange(host, range);
    } catch (err) {
      const e = err as PlotferryError;
      const [lo, hi] = range;
      throw new PlotferryError(
        e.code ?? 'PF_CONFIG',
        e.code === 'PF_PORT_IN_USE'
          ? `the harvester cannot listen: another process holds every port of --port-range ${lo}-${hi} on ${host}; free one, or give a range with free ports (0: any free port)`
          : `the harvester cannot listen on --port-range ${lo}-${hi} of --listen-host ${host}: ${e.message}`,
        { cause: err },
      );
    }
  }

  /**
   * Whether a claim could open its listener now. No: another process holds every port of the
   * range our own listeners do not (said once, loudly, until a port is free again). Our own
   * transfers holding them all is only busy: a claim then says PF_BUSY, and they end.
   */
  private async claimCanListen(): Promise<boolean> {
    const free =
      (await this.ports.free()) || portShortage(this.opts.portRange ?? [0, 0], this.claims.portsHeld) === 'busy';
    if (free && this.noPortSince !== undefined) {
      this.noPortSince = undefined;
      this.opts.log.info('a port of --port-range is free again: bidding again');
    } else if (!free) this.portsLost();
    return free;
  }

  private portsLost(): void {
    if (this.noPortSince !== undefined) return;
    this.noPortSince = Date.now();
    const [lo, hi] = this.opts.portRange ?? [0, 0];
    const what = `another process holds every port of --port-range ${lo}-${hi} that this harvester's own transfers do not`;
    this.opts.log.error(
      { code: 'PF_PORT_IN_USE', portRange: `${lo}-${hi}` },
      `${what}: declining plots (no-port) until one is free`,
    );
    notify(
      'no-port',
      'critical',
      'a harvester has no free port',
      `${what}, so it takes no plot until one is free. Stop what holds them, or change --port-range.`,
    );
  }

  /** Subscribes on `nc` and starts heartbeats: from here on this harvester bids. */
  async attach(nc: NatsConnection): Promise<void> {
    const opts = (this.opts = { ...this.opts, nc });
    await this.offers.open();
    const beat = () => void this.heartbeat().catch((err) => opts.log.debug({ err }, 'heartbeat failed'));
    // A message that cannot be handled (a disk that errs mid-answer, a reply into a connection
    // closing under it) is logged; it never ends the harvester as an unhandled rejection.
    const handled = (what: string, handler: (msg: Msg) => Promise<void>) => (err: unknown, msg: Msg) => {
      if (err) return;
      handler(msg).catch((e: unknown) =>
        opts.log.error({ err: e, subject: msg.subject }, `a ${what} message could not be handled; going on`),
      );
    };
    this.subs.push(opts.nc.subscribe(this.subj.announce, { callback: handled('announce', (m) => this.onAnnounce(m)) }));
    this.subs.push(opts.nc.subscribe(this.subj.claim(opts.id), { callback: handled('claim', (m) => this.onClaim(m)) }));
    this.subs.push(opts.nc.subscribe(this.subj.has, { callback: handled('has', (m) => this.onHas(m)) }));
    if (this.disks.replotter?.dryRun)
      this.subs.push(opts.nc.subscribe(this.subj.free, { callback: handled('free', (m) => this.onFree(m)) }));
    this.subs.push(
      opts.nc.subscribe(this.subj.speedtest(opts.id), { callback: handled('speedtest', (m) => this.onSpeedtest(m)) }),
    );
    // Our own heartbeats come back here; another harvester's under our --id says it shares it.
    this.subs.push(
      opts.nc.subscribe(this.subj.heartbeat(opts.id), { callback: handled('heartbeat', (m) => this.onOwnIdBeat(m)) }),
    );
    // `status` asks for a heartbeat now; at most one a second.
    let lastAsked = 0;
    this.subs.push(
      opts.nc.subscribe(this.subj.statusPing, {
        callback: (err) => {
          if (err || Date.now() - lastAsked < 1_000) return;
          lastAsked = Date.now();
          beat();
        },
      }),
    );
    // Make sure the server has our subscriptions before anyone counts on our bids.
    await opts.nc.flush();
    this.heartbeatTimer = setInterval(beat, opts.heartbeatMs ?? 5_000);
    this.heartbeatTimer.unref();
    beat();
    // The replot mode said at the start: a --replot-dry-run left on by mistake deletes nothing.
    const replot = replotMode(this.disks);
    opts.log.info(
      { id: opts.id, host: opts.advertiseHost, dirs: this.disks.dirs, prefix: opts.prefix ?? 'plotferry', replot },
      `harvester ready (replot: ${replot})`,
    );
  }

  get activeTransfers(): number {
    return this.claims.size;
  }

  private get partialTtlMs(): number {
    return this.opts.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
  }

  private get maxTransfers(): number {
    return this.opts.maxTransfers ?? 5;
  }

  private async onAnnounce(msg: Msg): Promise<void> {
    const a = this.decodeOrIgnore(msg, 'announce');
    if (!a) return;
    const decline = (reason: DeclineReason, freeBytes = 0, held?: HeldCopy, why?: string) => {
      if (a.answerAll)
        msg.respond(
          encodeBus({
            kind: 'decline',
            v: 1,
            id: a.id,
            harvester: this.opts.id,
            reason,
            freeBytes,
            ...(held ? { held } : {}),
            ...(why ? { why: why.slice(0, 300) } : {}),
            // The plotter's PF_NO_SPACE then says no PoS1 plot went because this is a dry run.
            ...(reason === 'no-room' && this.disks.replotter?.dryRun ? { replotDryRun: true } : {}),
          }),
        );
    };
    if (this.closing) return decline('closing');
    const d = await decideBid(this.disks, a, {
      id: this.opts.id,
      activeTransfers: this.claims.size,
      maxTransfers: this.maxTransfers,
      partialTtlMs: this.partialTtlMs,
    });
    if (d.kind === 'silent') {
      // Held: described as `has` would (the plotter then needs no `has` of its own first).
      if (d.heldPath && a.answerAll && a.probe !== undefined)
        return decline('held', 0, await describeHeld(d.heldPath, a.probe));
      return decline(d.reason, d.reason === 'no-room' ? await this.disks.mostRoom() : 0, undefined, d.why);
    }
    // A plot that would need a claim's own listener, while another process holds every port
    // it could use: declined with a reason that is not "busy", so no plotter waits for it.
    if (!(a.direct && a.answerAll && this.offers.listening) && !(await this.claimCanListen()))
      return decline('no-port');
    // To a plotter that can take it, a bid with room carries its own claim (farm/offers.ts).
    const offer = a.direct && a.answerAll && !d.busy ? this.offers.offer(a) : undefined;
    const bid = () => {
      metrics.bids.inc();
      msg.respond(
        encodeBus({
          kind: 'bid',
          v: 1,
          id: a.id,
          harvester: this.opts.id,
          freeBytes: d.freeBytes,
          activeTransfers: this.claims.size,
          busy: d.busy,
          ...(d.resumeFrom !== undefined ? { resumeFrom: d.resumeFrom } : {}),
          ...(a.answerAll ? { delayMs: d.delayMs } : {}),
          ...(offer ? { offer } : {}),
          ...(d.group ? { group: true } : {}),
          ...(d.replot ? { replot: true } : {}),
          ...(d.why ? { why: d.why.slice(0, 300) } : {}),
        }),
      );
    };
    // A plotter that hears every harvester ranks the bids by their delay itself (no waiting
    // here); to one that takes the first bid, the delay is the rank.
    if (d.delayMs === 0 || a.answerAll) bid();
    else
      setTimeout(() => {
        // Outside the handler's promise: a reply into a connection closed meanwhile is dropped.
        try {
          bid();
        } catch (err) {
          this.opts.log.debug({ err }, 'a delayed bid could not be sent');
        }
      }, d.delayMs);
  }

  /**
   * A malformed or unexpected message is logged and ignored: it never stops the harvester. A
   * request (it has a reply subject) is refused with the reason, so whoever sent it (a script,
   * `nats req`, another version) reads what is wrong instead of waiting out a timeout.
   */
  private decodeOrIgnore<K extends BusKind>(msg: Msg, kind: K): Extract<BusMessage, { kind: K }> | undefined {
    try {
      return decodeBus(msg.data, [kind]);
    } catch (err) {
      const code = (err as PlotferryError).code ?? 'PF_PROTOCOL';
      const message = `${this.opts.id} ignored a ${kind} message: ${(err as Error).message}`.slice(0, 4000);
      this.opts.log.warn({ subject: msg.subject, code }, message);
      if (msg.reply) msg.respond(encodeBus({ kind: 'refused', v: 1, id: requestId(msg.data), code, message }));
      return undefined;
    }
  }

  /**
   * Held, when holding a file of that name and size. Otherwise silence, or NotHeld when the
   * plotter asks every harvester to answer (plotter/holder-roster.ts: it then stops waiting early).
   */
  private async onHas(msg: Msg): Promise<void> {
    const q = this.decodeOrIgnore(msg, 'has');
    if (!q) return;
    const p = await findExisting(this.disks.dirs, q.name);
    const held = p ? await describeHeld(p, q.probe) : undefined;
    if (held && held.size === q.size) msg.respond(encodeBus({ kind: 'held', v: 1, harvester: this.opts.id, ...held }));
    else if (q.answerAll) msg.respond(encodeBus({ kind: 'not-held', v: 1, harvester: this.opts.id }));
  }

  /** A heartbeat under our --id: from another harvester, said once per such harvester (log, notify). */
  private onOwnIdBeat(msg: Msg): Promise<void> {
    const hb = this.decodeOrIgnore(msg, 'heartbeat');
    const c = hb && idClash(this.opts.id, this.instance, hb);
    if (c?.kind === 'clash' && !this.clashesSaid.has(c.key)) {
      this.clashesSaid.add(c.key);
      this.opts.log.error({ code: 'PF_CONFIG', id: this.opts.id, otherHost: hb!.host }, c.log);
      notify(`id-clash:${this.opts.id}:${c.key}`, 'critical', c.title, c.message);
    }
    return Promise.resolve();
  }

  /**
   * --replot-dry-run: a plot another harvester stored leaves this one's plan, since a real
   * --replot here would not have won it and so deleted nothing for it.
   */
  private onFree(msg: Msg): Promise<void> {
    const f = this.decodeOrIgnore(msg, 'free');
    if (f?.stored && f.harvester !== this.opts.id) this.disks.replotter?.retractDryRun(f.stored, f.harvester);
    return Promise.resolve();
  }

  private async onClaim(msg: Msg): Promise<void> {
    const c = this.decodeOrIgnore(msg, 'claim');
    if (!c) return;
    try {
      if (this.closing) throw new PlotferryError('PF_SHUTTING_DOWN', 'the harvester is shutting down');
      const opened = await this.claims.take(c);
      metrics.bidsWon.inc();
      msg.respond(encodeBus({ kind: 'claimed', v: 1, id: c.id, host: this.opts.advertiseHost, ...opened }));
    } catch (err) {
      const e = asPlotferryError(err);
      if (e.code === 'PF_PORT_IN_USE') this.portsLost();
      this.opts.log.info({ file: c.name, plotter: c.plotter, code: e.code }, `claim refused: ${e.message}`);
      msg.respond(encodeBus({ kind: 'refused', v: 1, id: c.id, code: e.code, message: e.message }));
    }
  }

  /** Opens a speedtest-only listener (one at a time) and answers where to send. */
  private async onSpeedtest(msg: Msg): Promise<void> {
    const q = this.decodeOrIgnore(msg, 'speedtest');
    if (!q) return;
    const log = this.opts.log.child({ plotter: q.plotter, speedtest: true });
    try {
      if (this.closing) throw new PlotferryError('PF_SHUTTING_DOWN', 'the harvester is shutting down');
      if (q.seconds > MAX_SPEEDTEST_SECONDS || q.streams < 1 || q.streams > MAX_SPEEDTEST_STREAMS)
        throw new PlotferryError(
          'PF_CONFIG',
          `a harvester takes speedtests of at most ${MAX_SPEEDTEST_SECONDS} s and 1-${MAX_SPEEDTEST_STREAMS} streams (asked: ${q.seconds} s, ${q.streams})`,
        );
      if (this.speedtest) throw new PlotferryError('PF_BUSY', 'another speedtest is running on this harvester');
      const token = randomBytes(16).toString('hex');
      const ttl = 10_000;
      const l = await SpeedtestListener.open({
        token,
        seconds: q.seconds,
        streams: q.streams,
        host: this.opts.listenHost ?? '0.0.0.0',
        portRange: this.opts.portRange ?? [0, 0],
        ttlMs: ttl,
        throttle: this.throttle,
        log,
      });
      this.speedtest = l;
      log.info({ port: l.port, seconds: q.seconds, streams: q.streams }, 'speedtest opened');
      void l.done.then((o) => {
        this.speedtest = undefined;
        log.info(o, 'speedtest closed');
      });
      msg.respond(
        encodeBus({
          kind: 'claimed',
          v: 1,
          id: q.id,
          host: this.opts.advertiseHost,
          port: l.port,
          token,
          expiresInMs: ttl,
        }),
      );
    } catch (err) {
      const e = asPlotferryError(err);
      log.info({ code: e.code }, `speedtest refused: ${e.message}`);
      msg.respond(encodeBus({ kind: 'refused', v: 1, id: q.id, code: e.code, message: e.message }));
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.opts.nc.isClosed()) return;
    const hb = await buildHeartbeat(this.disks, this.inventory, {
      harvester: this.opts.id,
      host: this.opts.advertiseHost,
      instance: this.instance,
      activeTransfers: this.claims.size,
      maxTransfers: this.maxTransfers,
    });
    this.opts.nc.publish(this.subj.heartbeat(this.opts.id), encodeBus(hb));
    this.watchForNotices(hb);
  }

  /** PoS1 plots each directory held at the last heartbeat (to tell when its replot is done). */
  private readonly pos1Before = new Map<string, number>();

  /** What a farmer wants to hear about from a heartbeat: a disk nearly full, a disk all PoS2. */
  private watchForNotices(hb: Heartbeat): void {
    const settings = {
      fullPercent: this.opts.notifyFullPercent ?? 95,
      replot: this.opts.replot !== undefined,
      reserveBytes: this.opts.reserveBytes ?? 0,
    };
    for (const d of hb.dirs) {
      for (const a of diskAlerts(d, this.pos1Before.get(d.dir), settings))
        notify(a.key, a.severity, a.title, a.message);
      if (d.pos1Plots !== undefined) this.pos1Before.set(d.dir, d.pos1Plots);
    }
  }

  /** Stops bidding; lets running transfers finish within `graceMs`, then aborts them. */
  async close(graceMs = 0): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeatTimer);
    for (const s of this.subs) s.unsubscribe();
    this.speedtest?.abort();
    this.stopExpiry?.();
    const alarmStopped = this.stopAlarm?.();
    this.inventory.stop();
    this.offers.close();
    await drainWithin(() => this.claims.receivers(), graceMs, this.opts.log);
    this.offers.abortAll();
    await alarmStopped;
    await this.disks.close();
  }
}

/** The `id` of a request that did not decode, when it has a usable one, for its refusal. */
function requestId(data: Uint8Array): string {
  if (data.length <= MAX_BUS_MESSAGE) {
    try {
      const id = (JSON.parse(Buffer.from(data).toString('utf8')) as { id?: unknown }).id;
      if (typeof id === 'string' && ID_RE.test(id)) return id;
    } catch {
      // not JSON
    }
  }
  return 'malformed';
}

/** This host's first non-internal IPv4 address, else 127.0.0.1. */
export function defaultAdvertiseHost(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
