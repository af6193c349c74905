/**
 * Whether a harvester can open a listener for a claim. A claim (a plotter that does not take
 * direct bids, or a harvester whose --port-range is one port and so has no listener for them)
 * needs a free port of --port-range. When every port is taken, what that means depends on who
 * holds them: this harvester's own transfers (it is busy, and they end), or another process (it
 * has no port at all until that process lets go, and waiting for it is no use to a plotter).
 */
import net from 'node:net';
import { PlotferryError } from '../core/errors.js';
import { listenInRange } from '../transfer/oneshot.js';

/** How many ports `--port-range` holds ([0, 0]: any port, which never runs out). */
export function rangeSize([lo, hi]: readonly [number, number]): number {
  return lo === 0 && hi === 0 ? Infinity : hi - lo + 1;
}

/**
 * Why no port of the range could be bound: `busy` when this harvester's own listeners hold as
 * many ports as the range has, `no-port` when something else holds some of them.
 */
export function portShortage(range: readonly [number, number], heldByUs: number): 'busy' | 'no-port' {
  return heldByUs >= rangeSize(range) ? 'busy' : 'no-port';
}

/** How long a probe's answer stands: announces come many a second, a port is let go rarely. */
const PROBE_TTL_MS = 1_000;

/** Probes the range by binding a throwaway listener (what a claim would do), cached briefly. */
export class PortProbe {
  private last?: { at: number; free: boolean };
  private pending?: Promise<boolean>;

  constructor(
    private readonly host: string,
    private readonly range: [number, number],
  ) {}

  /** Whether some port of the range can be bound now. */
  async free(): Promise<boolean> {
    if (rangeSize(this.range) === Infinity) return true;
    if (this.last && Date.now() - this.last.at < PROBE_TTL_MS) return this.last.free;
    this.pending ??= probeRange(this.host, this.range)
      .then(
        () => true,
        () => false,
      )
      .then((free) => {
        this.last = { at: Date.now(), free };
        this.pending = undefined;
        return free;
      });
    return this.pending;
  }
}

/**
 * Binds and closes a listener on the first free port of the range; throws what a claim would
 * meet (PF_PORT_IN_USE: every port taken; PF_CONFIG: a host not on this machine, a port this
 * user may not bind).
 */
export async function probeRange(host: string, range: [number, number]): Promise<void> {
  const server = net.createServer();
  await listenInRange(server, host, range);
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The refusal of a claim that found no free port, by who holds the ports. */
export function noPortError(range: [number, number], host: string, heldByUs: number, cause: unknown): PlotferryError {
  const [lo, hi] = range;
  return portShortage(range, heldByUs) === 'busy'
    ? new PlotferryError('PF_BUSY', `every port of --port-range ${lo}-${hi} serves a transfer now`, { cause })
    : new PlotferryError(
        'PF_PORT_IN_USE',
        `no port of --port-range ${lo}-${hi} on ${host} is free: another process holds ${heldByUs > 0 ? 'the rest of ' : ''}them`,
        { cause },
      );
}
