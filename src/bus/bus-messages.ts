/**
 * NATS control messages (discovery and bidding only; no file byte ever crosses NATS), as a
 * discriminated union with validation of what arrives. Pure code, no I/O.
 *
 *   plotter  -- request  {prefix}.announce          Announce --> every harvester
 *            <-- first reply wins                   Bid (sent after a load-dependent delay)
 *                With {answerAll}, every harvester answers at once: a Bid carrying that delay
 *                (the plotter ranks bids by arrival + delay, and stops waiting once all the
 *                harvesters it knows have answered), or a Decline saying why not; with the
 *                plotter's {probe}, a harvester holding the name describes its copy there
 *            -- request  {prefix}.claim.{harvester}  Claim --> the winner
 *            <-- reply                              Claimed {host, port, token} | Refused
 *                To a {direct} announce a bid may carry an offer {host, port, token}: the
 *                plotter then skips the claim and connects; its HELLO {offer: id} claims
 *                (farm/offers.ts), and a refusal comes back as the HELLO's ERROR
 *   plotter  -- request  {prefix}.has  Has {name, size} --> a holder answers Held; with
 *                                   {answerAll} every other harvester answers NotHeld, so the
 *                                   plotter stops waiting once all it knows have answered
 *   plotter  -- request  {prefix}.speedtest.{harvester}  SpeedtestRequest --> that harvester
 *            <-- reply                              Claimed (a speedtest-only listener) | Refused
 *   harvester -- publish {prefix}.heartbeat.{harvester}  Heartbeat, every 5 s and when
 *                                                   anything is published on {prefix}.status
 *   harvester -- publish {prefix}.free  Free, when a claim ends and its disk can take a plot:
 *                                   plotters waiting while every disk was busy announce again;
 *                                   {stored} names the plot the claim stored, so a
 *                                   --replot-dry-run harvester takes it out of its plan
 *
 * Every message is a JSON object with `v` (1) and `kind`. Anything malformed, oversized or of
 * another version is rejected with PF_PROTOCOL; the receiving process logs it and carries on.
 */
import { ErrorCode, remoteCode, PlotferryError } from '../core/errors.js';
import { ID_RE, validatePlotName } from '../wire/names.js';
import { BESIDE } from '../wire/same-file-probe.js';
import type { PlotGroup } from '../wire/plot-header.js';
import type { HeldCopy } from '../wire/wire-messages.js';

export const BUS_VERSION = 1;
/** NATS' default max_payload is 1 MiB; ours are tiny, and a heartbeat of many disks stays far below. */
export const MAX_BUS_MESSAGE = 64 * 1024;

export interface Announce {
  kind: 'announce';
  v: 1;
  /** Random id of this offer; echoed in bids and claims. */
  id: string;
  name: string;
  size: number;
  plotter: string;
  /** Harvester ids that should not bid (a retry after they failed). */
  exclude: string[];
  /** Answer at once, with the delay in the bid, and Decline instead of staying silent. */
  answerAll?: boolean;
  /**
   * The token of the plotter's lock beside its source (see Held.beside): a harvester that holds
   * the name describes its copy in its Decline, so no separate `has` is needed first.
   */
  probe?: string;
  /** The plotter can take an offer: a bid's own listener, claimed by the HELLO (farm/offers.ts). */
  direct?: boolean;
  /** A PoS2 plot's group (absent: PoS1, no readable header, or an older plotter). */
  group?: PlotGroup;
}
/** Where a bid's plot may be sent straight away: the HELLO carries the announce id and this token. */
export interface BidOffer {
  host: string;
  port: number;
  token: string;
}
export interface Bid {
  kind: 'bid';
  v: 1;
  id: string;
  harvester: string;
  freeBytes: number;
  activeTransfers: number;
  /**
   * "I have room, but every disk is writing (or I am at --max-transfers)": not an offer, a
   * reason for the plotter to wait and announce again rather than fail with PF_NO_BID.
   */
  busy: boolean;
  /** Bytes of this plot the harvester holds from a broken transfer (it bids at once then). */
  resumeFrom?: number;
  /** To an answerAll announce: the delay the bid would otherwise have waited (its rank). */
  delayMs?: number;
  /** To a `direct` announce: connect here instead of claiming first (one round trip less). */
  offer?: BidOffer;
  /**
   * The disk this bid is for holds plots of the announced plot's group: it goes before any bid
   * without (and, when busy, the plotter waits for it rather than split the group).
   */
  group?: true;
  /** Why this disk: for the plotter's log ("holds 12 plots of its group", "most free space"). */
  why?: string;
  /**
   * It can take the plot only by deleting PoS1 plots (--replot). The plotter takes such a bid
   * only when no harvester with free space is merely busy (free space anywhere goes first).
   */
  replot?: true;
}
/**
 * Why a harvester does not bid (answerAll announcements only). `no-port`: it cannot open a
 * listener for a claim, because another process holds every port of its --port-range.
 */
export const DECLINE_REASONS = ['no-room', 'no-disk', 'held', 'excluded', 'closing', 'no-port'] as const;
export type DeclineReason = (typeof DECLINE_REASONS)[number];
export interface Decline {
  kind: 'decline';
  v: 1;
  id: string;
  harvester: string;
  reason: DeclineReason;
  /** The most room any of its disks has for a plot (after the reserve), for the plotter's message. */
  freeBytes: number;
  /** With reason 'held', to an announce with a probe: the copy, as `has` would describe it. */
  held?: HeldCopy;
  /** With reason 'no-room': why --replot could free nothing there, when that is why. */
  why?: string;
  /**
   * With reason 'no-room': it runs --replot-dry-run, so it deleted no PoS1 plot to make room
   * (a real --replot might have); its log has the plan. Absent from older harvesters.
   */
  replotDryRun?: true;
}
export interface Claim {
  kind: 'claim';
  v: 1;
  id: string;
  name: string;
  size: number;
  plotter: string;
  /** As in the announce: the claim reserves the disk the bid was for by the same rule. */
  group?: PlotGroup;
}
export interface Claimed {
  kind: 'claimed';
  v: 1;
  id: string;
  host: string;
  port: number;
  token: string;
  /** The listener closes and the reservation is dropped if no transfer starts by then. */
  expiresInMs: number;
}
export interface Refused {
  kind: 'refused';
  v: 1;
  id: string;
  code: ErrorCode;
  message: string;
}
export interface DirStatus {
  dir: string;
  freeBytes: number;
  totalBytes: number;
  plots: number;
  plotBytes: number;
  /** Bytes of the directory's other files (not plots), at the last reconciliation scan. */
  otherBytes?: number;
  /** The replot's progress here: PoS1 and PoS2 plots and their bytes. */
  pos1Plots?: number;
  pos1Bytes?: number;
  pos2Plots?: number;
  pos2Bytes?: number;
  /** PoS2 plot groups here (by group key; each of today's chia plots is a group of its own). */
  groups?: number;
  /** The last plot this harvester stored here, and why this disk was chosen for it. */
  placed?: { name: string; why: string; at: number };
  /** The filesystem (st_dev): directories on one share its free space, counted once. */
  fs?: number;
  unusable?: string;
  /**
   * With --replot on: the PoS1 plots it may delete here, and the PoS1 candidates it keeps by
   * reason (storage/replot.ts ReplotSummary), so `status` can say why a replot frees nothing.
   */
  replot?: { mayGoPlots: number; mayGoBytes: number; unmatched: number; linked: number; inUse: number };
  /** Its disk is gone (PF_DISK_GONE): its plots are not counted. */
  gone?: true;
}
/** Whether a harvester replots: --replot (`on`), --replot-dry-run, or neither. */
export const REPLOT_MODES = ['on', 'dry-run', 'off'] as const;
export type ReplotMode = (typeof REPLOT_MODES)[number];
export interface Heartbeat {
  kind: 'heartbeat';
  v: 1;
  harvester: string;
  host: string;
  activeTransfers: number;
  maxTransfers: number;
  dirs: DirStatus[];
  /** The replot's pace here: PoS2 bytes stored and PoS1 bytes deleted, last hour and day. */
  replot?: {
    pos2StoredLastHour: number;
    pos2StoredLastDay: number;
    pos1DeletedLastHour: number;
    pos1DeletedLastDay: number;
    /** --replot, --replot-dry-run or neither (absent from older harvesters). */
    mode?: ReplotMode;
    /** --replot-match, when given. */
    match?: string;
  };
  /** Sender's clock, ms since the epoch. */
  at: number;
  /**
   * A nonce per harvester process: a heartbeat under one's own id with another is a second
   * harvester given the same --id (farm/id-clash.ts). Absent from older harvesters.
   */
  instance?: string;
}
/** Does any harvester hold this plot already (same name and size)? Only holders answer. */
export interface Has {
  kind: 'has';
  v: 1;
  name: string;
  size: number;
  /** The token of the plotter's lock beside its source (see Held.beside). */
  probe?: string;
  /** Every harvester answers (NotHeld where it does not hold it), not only a holder. */
  answerAll?: boolean;
}
export interface NotHeld {
  kind: 'not-held';
  v: 1;
  harvester: string;
}
/** A harvester's disk was freed (a claim ended): plotters that waited on busy disks go now. */
export interface Free {
  kind: 'free';
  v: 1;
  harvester: string;
  /**
   * The plot the claim stored (verified, under its final name); absent when it failed, expired,
   * or from an older harvester. A --replot-dry-run harvester takes it out of its plan.
   */
  stored?: string;
}
export interface Held extends HeldCopy {
  kind: 'held';
  v: 1;
  harvester: string;
}
/** Asks one harvester for a speedtest-only listener (`plotferry speedtest --nats`). */
export interface SpeedtestRequest {
  kind: 'speedtest';
  v: 1;
  id: string;
  plotter: string;
  seconds: number;
  streams: number;
}
export type BusMessage =
  Announce | Bid | Decline | Claim | Claimed | Refused | Heartbeat | Has | Held | NotHeld | Free | SpeedtestRequest;
export type BusKind = BusMessage['kind'];

export function encodeBus(m: BusMessage): Uint8Array {
  return Buffer.from(JSON.stringify(m), 'utf8');
}

/** A NATS subject token: ids and prefixes must not contain dots, spaces or wildcards. */
export function validateId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new PlotferryError(
      'PF_CONFIG',
      `${what} "${String(id).slice(0, 80)}" must be 1-64 letters, digits, "_" or "-"`,
    );
  }
  return id;
}

/** A plotter's or harvester's default id on the bus: its host name, as a subject token. */
export const defaultBusId = (hostname: string) => hostname.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'harvester';

export const subjects = (prefix: string) => ({
  announce: `${prefix}.announce`,
  claim: (harvester: string) => `${prefix}.claim.${harvester}`,
  heartbeat: (harvester: string) => `${prefix}.heartbeat.${harvester}`,
  heartbeats: `${prefix}.heartbeat.*`,
  has: `${prefix}.has`,
  free: `${prefix}.free`,
  speedtest: (harvester: string) => `${prefix}.speedtest.${harvester}`,
  /** Any message here asks every harvester for a heartbeat now (payload ignored). */
  statusPing: `${prefix}.status`,
});

function bad(what: string): never {
  throw new PlotferryError('PF_PROTOCOL', `malformed NATS message: ${what}`);
}
type Obj = Record<string, unknown>;
const str = (o: Obj, k: string, max = 256): string => {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) bad(`"${k}" must be a non-empty string`);
  return v;
};
const count = (o: Obj, k: string): number => {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`"${k}" must be a whole number >= 0`);
  return v;
};
const id = (o: Obj, k: string): string => {
  const v = str(o, k, 64);
  if (!ID_RE.test(v)) bad(`"${k}" must be letters, digits, "_" or "-"`);
  return v;
};
const hex16 = (o: Obj, k: string): string => {
  const v = str(o, k, 16);
  if (!/^[0-9a-f]{16}$/.test(v)) bad(`"${k}" must be 16 hex digits`);
  return v;
};
const token = (o: Obj, k: string): string => {
  const v = str(o, k, 64);
  if (!/^[0-9a-f]{8,64}$/.test(v)) bad(`"${k}" must be 8 to 64 hex digits`);
  return v;
};
const oneOf = <T extends string>(o: Obj, k: string, allowed: readonly T[]): T => {
  const v = o[k];
  if (!(allowed as readonly unknown[]).includes(v)) bad(`"${k}" must be one of ${allowed.join(', ')}`);
  return v as T;
};
const name = (o: Obj): string => plotName(o.name);

const plotName = (v: unknown): string => {
  try {
    return validatePlotName(v);
  } catch (e) {
    bad((e as Error).message);
  }
};

const port = (o: Obj): number => {
  const p = count(o, 'port');
  if (p < 1 || p > 65535) bad('"port" out of range');
  return p;
};
const plotGroup = (o: Obj): PlotGroup => {
  const key = str(o, 'key', 32);
  if (!/^[0-9a-f]{32}$/.test(key)) bad('"group.key" must be 32 hex digits');
  const meta = count(o, 'meta');
  if (meta > 255) bad('"group.meta" must be 0-255');
  return {
    key,
    meta,
    ...(o.anyDisk === true ? { anyDisk: true } : {}),
    ...(o.single === true ? { single: true } : {}),
  };
};
const groupField = (m: Obj): { group?: PlotGroup } =>
  typeof m.group === 'object' && m.group !== null && !Array.isArray(m.group)
    ? { group: plotGroup(m.group as Obj) }
    : {};
const bidOffer = (o: Obj): BidOffer => ({ host: str(o, 'host'), port: port(o), token: token(o, 'token') });
const heldCopy = (o: Obj): HeldCopy => ({
  path: str(o, 'path', 4096),
  size: count(o, 'size'),
  ...(o.hash !== undefined ? { hash: hex16(o, 'hash') } : {}),
  ...(o.beside !== undefined ? { beside: oneOf(o, 'beside', BESIDE) } : {}),
});

const excludeList = (m: Obj): unknown[] => {
  const ex = m.exclude ?? [];
  if (!Array.isArray(ex) || ex.length > 64) bad('"exclude" must be a list of at most 64 ids');
  return ex;
};
const harvesterId = (x: unknown): string => {
  if (typeof x !== 'string' || !ID_RE.test(x)) bad('"exclude" entries must be harvester ids');
  return x;
};
const seconds = (m: Obj): number => {
  const v = m.seconds;
  if (typeof v !== 'number' || !(v > 0 && v <= 3600)) bad('"seconds" must be in (0, 3600]');
  return v;
};
const replotPace = (m: Obj): { replot?: Heartbeat['replot'] } => {
  if (typeof m.replot !== 'object' || m.replot === null) return {};
  const r = m.replot as Obj;
  return {
    replot: {
      pos2StoredLastHour: count(r, 'pos2StoredLastHour'),
      pos2StoredLastDay: count(r, 'pos2StoredLastDay'),
      pos1DeletedLastHour: count(r, 'pos1DeletedLastHour'),
      pos1DeletedLastDay: count(r, 'pos1DeletedLastDay'),
      // A mode this version does not know is left out, not the whole heartbeat.
      ...(REPLOT_MODES.includes(r.mode as ReplotMode) ? { mode: r.mode as ReplotMode } : {}),
      ...(r.match !== undefined ? { match: str(r, 'match', 300) } : {}),
    },
  };
};
const placed = (o: Obj): Pick<DirStatus, 'placed'> =>
  typeof o.placed === 'object' && o.placed !== null
    ? {
        placed: {
          name: str(o.placed as Obj, 'name'),
          why: str(o.placed as Obj, 'why', 300),
          at: count(o.placed as Obj, 'at'),
        },
      }
    : {};
const dirReplot = (o: Obj): Pick<DirStatus, 'replot'> => {
  if (typeof o.replot !== 'object' || o.replot === null) return {};
  const r = o.replot as Obj;
  return {
    replot: {
      mayGoPlots: count(r, 'mayGoPlots'),
      mayGoBytes: count(r, 'mayGoBytes'),
      unmatched: count(r, 'unmatched'),
      linked: count(r, 'linked'),
      inUse: count(r, 'inUse'),
    },
  };
};
const dirStatus = (d: unknown): DirStatus => {
  if (typeof d !== 'object' || d === null) bad('"dirs" entries must be objects');
  const o = d as Obj;
  const u = o.unusable;
  return {
    dir: str(o, 'dir', 4096),
    freeBytes: count(o, 'freeBytes'),
    totalBytes: count(o, 'totalBytes'),
    plots: count(o, 'plots'),
    plotBytes: count(o, 'plotBytes'),
    ...(o.otherBytes !== undefined ? { otherBytes: count(o, 'otherBytes') } : {}),
    ...Object.fromEntries(
      (['pos1Plots', 'pos1Bytes', 'pos2Plots', 'pos2Bytes'] as const)
        .filter((k) => o[k] !== undefined)
        .map((k) => [k, count(o, k)]),
    ),
    ...(o.groups !== undefined ? { groups: count(o, 'groups') } : {}),
    ...placed(o),
    ...(o.fs !== undefined ? { fs: count(o, 'fs') } : {}),
    ...(typeof u === 'string' ? { unusable: u.slice(0, 256) } : {}),
    ...dirReplot(o),
    ...(o.gone === true ? { gone: true as const } : {}),
  };
};
const dirList = (m: Obj): unknown[] => {
  const ds = m.dirs;
  if (!Array.isArray(ds) || ds.length > 256) bad('"dirs" must be a list of at most 256');
  return ds;
};

/**
 * One decoder per kind: each validates a parsed object whose `v` and `kind` were checked and
 * builds the message from the fields it knows (unknown fields are dropped). Keyed by kind, so
 * the compiler insists every kind has one.
 */
const DECODERS: { [K in BusKind]: (m: Obj) => Extract<BusMessage, { kind: K }> } = {
  announce: (m) => {
    // The list's shape is checked first, its entries in turn: the first defect is the one named.
    const ex = excludeList(m);
    return {
      kind: 'announce',
      v: 1,
      id: id(m, 'id'),
      name: name(m),
      size: count(m, 'size'),
      plotter: id(m, 'plotter'),
      exclude: ex.map(harvesterId),
      ...(m.answerAll === true ? { answerAll: true } : {}),
      ...(m.probe !== undefined ? { probe: token(m, 'probe') } : {}),
      ...(m.direct === true ? { direct: true } : {}),
      ...groupField(m),
    };
  },
  bid: (m) => ({
    kind: 'bid',
    v: 1,
    id: id(m, 'id'),
    harvester: id(m, 'harvester'),
    freeBytes: count(m, 'freeBytes'),
    activeTransfers: count(m, 'activeTransfers'),
    busy: m.busy === true,
    ...(m.resumeFrom !== undefined ? { resumeFrom: count(m, 'resumeFrom') } : {}),
    ...(m.delayMs !== undefined ? { delayMs: count(m, 'delayMs') } : {}),
    ...(typeof m.offer === 'object' && m.offer !== null ? { offer: bidOffer(m.offer as Obj) } : {}),
    ...(m.group === true ? { group: true } : {}),
    ...(m.replot === true ? { replot: true } : {}),
    ...(m.why !== undefined ? { why: str(m, 'why', 300) } : {}),
  }),
  decline: (m) => ({
    kind: 'decline',
    v: 1,
    id: id(m, 'id'),
    harvester: id(m, 'harvester'),
    reason: oneOf(m, 'reason', DECLINE_REASONS),
    freeBytes: count(m, 'freeBytes'),
    ...(typeof m.held === 'object' && m.held !== null ? { held: heldCopy(m.held as Obj) } : {}),
    ...(m.why !== undefined ? { why: str(m, 'why', 300) } : {}),
    ...(m.replotDryRun === true ? { replotDryRun: true } : {}),
  }),
  claim: (m) => ({
    kind: 'claim',
    v: 1,
    id: id(m, 'id'),
    name: name(m),
    size: count(m, 'size'),
    plotter: id(m, 'plotter'),
    ...groupField(m),
  }),
  claimed: (m) => ({
    kind: 'claimed',
    v: 1,
    id: id(m, 'id'),
    host: str(m, 'host'),
    port: port(m),
    token: str(m, 'token', 128),
    expiresInMs: count(m, 'expiresInMs'),
  }),
  refused: (m) => ({
    kind: 'refused',
    v: 1,
    id: id(m, 'id'),
    ...remoteCode(str(m, 'code', 64), str(m, 'message', 4096)),
  }),
  has: (m) => ({
    kind: 'has',
    v: 1,
    name: name(m),
    size: count(m, 'size'),
    ...(m.probe !== undefined ? { probe: token(m, 'probe') } : {}),
    ...(m.answerAll === true ? { answerAll: true } : {}),
  }),
  'not-held': (m) => ({ kind: 'not-held', v: 1, harvester: id(m, 'harvester') }),
  free: (m) => ({
    kind: 'free',
    v: 1,
    harvester: id(m, 'harvester'),
    ...(m.stored !== undefined ? { stored: plotName(m.stored) } : {}),
  }),
  speedtest: (m) => {
    const s = seconds(m);
    return {
      kind: 'speedtest',
      v: 1,
      id: id(m, 'id'),
      plotter: id(m, 'plotter'),
      seconds: s,
      streams: count(m, 'streams'),
    };
  },
  held: (m) => ({ kind: 'held', v: 1, harvester: id(m, 'harvester'), ...heldCopy(m) }),
  heartbeat: (m) => {
    const ds = dirList(m);
    return {
      kind: 'heartbeat',
      v: 1,
      harvester: id(m, 'harvester'),
      host: str(m, 'host'),
      activeTransfers: count(m, 'activeTransfers'),
      maxTransfers: count(m, 'maxTransfers'),
      at: count(m, 'at'),
      ...(m.instance !== undefined ? { instance: token(m, 'instance') } : {}),
      ...replotPace(m),
      dirs: ds.map(dirStatus),
    };
  },
};

/** Parses and validates; `expect` lists the kinds this subscriber handles. */
export function decodeBus<K extends BusKind>(data: Uint8Array, expect: readonly K[]): Extract<BusMessage, { kind: K }> {
  if (data.length > MAX_BUS_MESSAGE) bad(`${data.length} bytes is over the ${MAX_BUS_MESSAGE}-byte limit`);
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'));
  } catch {
    bad('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad('not a JSON object');
  const m = o as Obj;
  if (m.v !== BUS_VERSION) bad(`version ${String(m.v)} (this end speaks ${BUS_VERSION})`);
  const kind = m.kind as K;
  if (!expect.includes(kind)) bad(`unexpected kind "${String(m.kind).slice(0, 32)}" (expected ${expect.join(' or ')})`);
  return (DECODERS[kind] as (m: Obj) => Extract<BusMessage, { kind: K }>)(m);
}
