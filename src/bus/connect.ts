/** One NATS connection per process: reconnects forever, logs its state changes, clear errors. */
import { connect, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { PlotferryError } from '../errors.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 1_000, timeout: 5_000 });
  } catch (err) {
    throw new PlotferryError(
      'PF_CONNECTION',
      `cannot reach NATS at ${url} (${(err as Error).message}): is nats-server running there? (Debian: apt-get install nats-server)`,
      { cause: err },
    );
  }
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect')
        log.warn({ server: String(s.data) }, 'NATS disconnected; running transfers go on, reconnecting');
      else if (s.type === 'reconnect') log.info({ server: String(s.data) }, 'NATS reconnected');
      else if (s.type === 'error') log.error({ err: s.data }, 'NATS error');
    }
  })();
  return nc;
}
