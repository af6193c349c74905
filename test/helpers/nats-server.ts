// Every integration test starts its own nats-server through the same launcher the demo uses.
export { startNatsServer, natsServerPath, type NatsServer } from '../../src/demo/nats-server.js';
