/**
 * Whether a NATS connection is up, as its own status events tell (nats.js has no public getter):
 * while it is down, requests time out like silence, so a plotter would take "NATS is down" for
 * "no harvester bid". connectNats() feeds this; a connection made elsewhere counts as up.
 */
import type { NatsConnection } from 'nats';

export interface LinkDown {
  /** ms since the epoch when the connection dropped. */
  since: number;
  server: string;
}

const down = new WeakMap<NatsConnection, LinkDown>();

export function markLinkDown(nc: NatsConnection, server: string): void {
  if (!down.has(nc)) down.set(nc, { since: Date.now(), server });
}

export function markLinkUp(nc: NatsConnection): void {
  down.delete(nc);
}

/** When and from which server the connection dropped; undefined while it is up. */
export function linkDown(nc: NatsConnection): LinkDown | undefined {
  return nc.isClosed() ? { since: Date.now(), server: 'closed' } : down.get(nc);
}

/** The error for a request that went unanswered because the link is down. */
export function linkDownMessage(d: LinkDown): string {
  const secs = Math.max(0, Math.round((Date.now() - d.since) / 1000));
  return d.server === 'closed'
    ? 'the NATS connection is closed'
    : `NATS (${d.server}) has been unreachable for ${secs} s; reconnecting`;
}
