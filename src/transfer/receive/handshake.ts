/**
 * What a receiver checks in a HELLO before it answers: the token (constant time, with the
 * wrong-token throttle), then what the sender asks for: a speedtest within the listener's
 * budget, or a file with a plain name that no other connection is receiving. Nothing here
 * touches a disk, so a refused HELLO costs no bandwidth and no I/O.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { PlotferryError } from '../../core/errors.js';
import type { HelloMessage } from '../../wire/wire-messages.js';
import { validatePlotName } from '../../wire/names.js';
import { assertPlotSize } from '../../wire/plot-header.js';
import type { AuthThrottle } from '../throttle.js';

export interface HandshakePolicy {
  token: string;
  /**
   * The token this HELLO must carry, when it depends on the HELLO (a bid's offer: farm/offers.ts);
   * undefined refuses it as PF_BUSY (an offer taken or expired: the sender announces again).
   */
  tokenFor?: (hello: HelloMessage) => string | undefined;
  throttle?: AuthThrottle;
  /** undefined: speedtests of any budget; false: none (a claim's listener); a number: the largest. */
  speedtest?: false | number;
  verifyPlotHeader?: boolean;
  /** Names being received now by any connection of this listener. */
  inflightNames: Set<string>;
}

/** Throws PF_AUTH for a wrong token, or while the address is throttled for earlier ones. */
export function authenticate(hello: HelloMessage, p: HandshakePolicy, host: string, log: Logger): void {
  const blocked = p.throttle?.blockedFor(host) ?? 0;
  if (blocked > 0)
    throw new PlotferryError(
      'PF_AUTH',
      `too many wrong tokens from ${host}: refused for another ${Math.ceil(blocked / 1000)} s`,
    );
  const expected = p.tokenFor ? p.tokenFor(hello) : p.token;
  if (expected === undefined)
    throw new PlotferryError('PF_BUSY', 'this offer was taken or has expired; announce the plot again');
  if (!tokensEqual(hello.token, expected)) {
    const block = p.throttle?.failure(host) ?? 0;
    if (block > 0)
      log.warn({ host, blockSeconds: block / 1000 }, 'repeated wrong tokens: refusing this address for a while');
    throw new PlotferryError('PF_AUTH', 'wrong token');
  }
  p.throttle?.success(host);
}

/** A speedtest this listener takes: PF_REFUSED where it takes none, or not that large a one. */
export function admitSpeedtest(hello: HelloMessage, p: HandshakePolicy): void {
  if (p.speedtest === false) throw new PlotferryError('PF_REFUSED', 'this listener takes a file, not a speedtest');
  if (p.speedtest !== undefined && hello.size > p.speedtest)
    throw new PlotferryError(
      'PF_REFUSED',
      `the speedtest announced ${hello.size} bytes; this listener was opened for at most ${p.speedtest}`,
    );
}

/**
 * A file this listener may take: its name (PF_BAD_NAME), its size for a plot (PF_NOT_A_PLOT),
 * and no other connection receiving it (PF_BUSY). Marks the name as being received; the caller
 * removes it from `inflightNames` when the transfer ends.
 */
export function admitFile(hello: HelloMessage, p: HandshakePolicy): string {
  const name = validatePlotName(hello.name);
  if (p.verifyPlotHeader) assertPlotSize(hello.size);
  if (p.inflightNames.has(name))
    throw new PlotferryError('PF_BUSY', `"${name}" is being received on another connection now`);
  p.inflightNames.add(name);
  return name;
}

/** Constant-time comparison of two tokens of any lengths (compares their SHA-256 digests). */
export function tokensEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}
