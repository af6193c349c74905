// Every integration test starts its own nats-server through the same launcher the demo uses.
import { after, before } from 'node:test';
import { connect, ConnectionOptions, NatsConnection } from 'nats';
import { NatsServer, startNatsServer } from '../../src/demo/nats-server.js';

export { startNatsServer, natsServerPath, type NatsServer } from '../../src/demo/nats-server.js';

export interface NatsSuite {
  /** The suite's nats-server (set once its tests run). */
  server: NatsServer;
  /** A connection to it, closed after the suite. */
  nats: (opts?: Partial<ConnectionOptions>) => Promise<NatsConnection>;
  /** Run after the suite, the last pushed first, before the connections close. */
  cleanup: (() => unknown)[];
}

/**
 * A suite's own nats-server, its connections and its cleanups; call it inside describe(). The
 * server starts before the suite's tests; after them every cleanup runs (last first), then every
 * connection closes and the server stops.
 */
export function natsSuite(): NatsSuite {
  const conns: NatsConnection[] = [];
  const suite: NatsSuite = {
    server: undefined as unknown as NatsServer,
    nats: async (opts = {}) => {
      const nc = await connect({ servers: suite.server.url, ...opts });
      conns.push(nc);
      return nc;
    },
    cleanup: [],
  };
  before(async () => {
    suite.server = await startNatsServer();
  });
  after(async () => {
    for (const c of suite.cleanup.reverse()) await c();
    for (const nc of conns) await nc.close();
    await suite.server.stop();
  });
  return suite;
}
