/**
 * Repeated wrong tokens from one address are throttled: after `maxFailures` within `windowMs`,
 * that address is refused for `blockMs` without its token even being compared (so guessing
 * stops paying), and the block doubles each time it is earned again, up to `maxBlockMs`. One
 * per listener or harvester; memory is bounded (`maxHosts`, oldest forgotten first).
 */
export interface ThrottleOptions {
  maxFailures?: number;
  windowMs?: number;
  blockMs?: number;
  maxBlockMs?: number;
  maxHosts?: number;
}

interface HostState {
  failures: number[];
  blockedUntil: number;
  nextBlockMs: number;
}

export class AuthThrottle {
  private readonly hosts = new Map<string, HostState>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly blockMs: number;
  private readonly maxBlockMs: number;
  private readonly maxHosts: number;

  constructor(o: ThrottleOptions = {}) {
    this.maxFailures = o.maxFailures ?? 5;
    this.windowMs = o.windowMs ?? 60_000;
    this.blockMs = o.blockMs ?? 30_000;
    this.maxBlockMs = o.maxBlockMs ?? 15 * 60_000;
    this.maxHosts = o.maxHosts ?? 10_000;
  }

  /** Milliseconds `host` is still refused for (0: not blocked). */
  blockedFor(host: string, now = Date.now()): number {
    const h = this.hosts.get(host);
    return h ? Math.max(0, h.blockedUntil - now) : 0;
  }

  /** Records a wrong token; returns the block it started, in ms (0 if none). */
  failure(host: string, now = Date.now()): number {
    let h = this.hosts.get(host);
    if (h)
      this.hosts.delete(host); // re-inserted below: the Map's order is last use
    else h = { failures: [], blockedUntil: 0, nextBlockMs: this.blockMs };
    h.failures = h.failures.filter((t) => now - t < this.windowMs);
    h.failures.push(now);
    let started = 0;
    if (h.failures.length >= this.maxFailures) {
      started = h.nextBlockMs;
      h.blockedUntil = now + started;
      h.nextBlockMs = Math.min(h.nextBlockMs * 2, this.maxBlockMs);
      h.failures = [];
    }
    this.hosts.set(host, h);
    while (this.hosts.size > this.maxHosts) this.hosts.delete(this.hosts.keys().next().value!);
    return started;
  }

  /** A right token: the host's record is cleared (its block, if any, has passed already). */
  success(host: string): void {
    this.hosts.delete(host);
  }
}
