/** One NATS request with its failures mapped to plotferry's errors. */
import type { NatsConnection } from 'nats';
import { PlotferryError } from '../errors.js';

export function natsFailed(subject: string, err: unknown): PlotferryError {
  return new PlotferryError('PF_CONNECTION', `NATS request on ${subject} failed: ${(err as Error).message}`, {
    cause: err,
  });
}

/** The first reply to a request on `subject`; `what` names it in the timeout message. */
export async function request(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  timeout: number,
  what: string,
): Promise<Uint8Array> {
  try {
    return (await nc.request(subject, data, { timeout })).data;
  } catch (err) {
    const code = (err as { code?: string }).code;
    // 503: no subscriber at all; TIMEOUT: subscribers that stayed silent. Both: no taker.
    if (code === '503' || code === 'TIMEOUT')
      throw new PlotferryError('PF_TIMEOUT', `no answer on ${subject} within ${timeout} ms (waiting for ${what})`, {
        cause: err,
      });
    throw natsFailed(subject, err);
  }
}
