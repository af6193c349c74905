/**
 * Whether this process reaches NATS, for a farmer watching from afar. A `sweep --watch` or a
 * harvester that cannot reach NATS moves no plot, and said so only in its log: the gauge
 * `plotferry_nats_connected` (1/0) shows it at each scrape, and a daemon that turns the alert
 * on (watchNatsReach) sends one webhook once NATS has been out of reach for a while, at start
 * or after a disconnect, and one when it is reached again. connectNats() reports what it sees.
 */
import { metrics } from '../core/metrics.js';
import { notify } from '../core/notify.js';

/**
 * How long NATS may be out of reach before a webhook says so: a nats-server restart, or a
 * failover to another server of the list, takes seconds and needs no one's eyes.
 */
export const NATS_ALERT_AFTER_MS = 120_000;

export interface ReachState {
  /** ms since the epoch when NATS was last found out of reach; undefined while it is reached. */
  downSince?: number;
  /** The server last tried or lost. */
  server?: string;
  /** The unreachable notice went out for this outage. */
  alerted: boolean;
}

export interface ReachNotice {
  kind: 'unreachable';
  minutes: number;
}

/** What to say now, if anything: the outage has lasted `afterMs`, or it ended after a notice. */
export function reachNotice(s: ReachState, now: number, afterMs: number): ReachNotice | undefined {
  if (s.downSince === undefined || s.alerted) return undefined;
  const ms = now - s.downSince;
  return ms >= afterMs ? { kind: 'unreachable', minutes: Math.round(ms / 60_000) } : undefined;
}

const state: ReachState = { alerted: false };
let watching: { who: string; afterMs: number; timer?: NodeJS.Timeout } | undefined;

/**
 * Turns the webhooks on for this process (`who`: harvester, sweep --watch) until the returned
 * function is called; `alertAfterMs` is how long an outage lasts before it is said.
 */
export function watchNatsReach(who: string, alertAfterMs = NATS_ALERT_AFTER_MS): () => void {
  watching = { who, afterMs: alertAfterMs };
  if (state.downSince !== undefined) arm();
  return () => {
    clearTimeout(watching?.timer);
    watching = undefined;
  };
}

/** NATS could not be reached, or the connection to `server` dropped. */
export function natsDown(server: string): void {
  metrics.natsConnected.set(0);
  if (state.downSince !== undefined) return;
  state.downSince = Date.now();
  state.server = server;
  state.alerted = false;
  arm();
}

/** NATS is reached (connected, or reconnected). */
export function natsUp(): void {
  metrics.natsConnected.set(1);
  const since = state.downSince;
  const alerted = state.alerted;
  state.downSince = undefined;
  state.alerted = false;
  clearTimeout(watching?.timer);
  if (!watching || !alerted || since === undefined) return;
  const minutes = Math.round((Date.now() - since) / 60_000);
  notify(
    'nats-reachable',
    'info',
    'NATS is reached again',
    `this ${watching.who} reaches NATS again, after ${minutes} min out of reach.`,
  );
}

function arm(): void {
  const w = watching;
  if (!w || state.downSince === undefined || state.alerted) return;
  clearTimeout(w.timer);
  w.timer = setTimeout(
    () => {
      const n = reachNotice(state, Date.now(), w.afterMs);
      // A timer may fire a ms before Date.now() says the outage lasted afterMs: armed again for
      // the rest, or the outage would never be said (a test saw it fire at 299 of 300 ms).
      if (!n) return arm();
      state.alerted = true;
      notify(
        'nats-unreachable',
        'warning',
        'NATS cannot be reached',
        `this ${w.who} has not reached NATS (${state.server ?? '?'}) for ${n.minutes} min: it moves no plot until it does. Check that nats-server runs there and the network to it; plotferry keeps trying.`,
      );
    },
    Math.max(0, state.downSince + w.afterMs - Date.now()),
  );
  // Never what keeps a process alive.
  w.timer.unref();
}
