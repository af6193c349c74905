/** One NATS request with its failures mapped to plotferry's errors. */
import type { NatsConnection } from 'nats';
import { PlotferryError } from '../core/errors.js';
import { natsFailed, noTaker } from './nats-errors.js';

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
    if (noTaker(err))
      throw new PlotferryError('PF_TIMEOUT', `no answer on ${subject} within ${timeout} ms (waiting for ${what})`, {
        cause: err,
      });
    throw natsFailed(subject, err);
  }
}
