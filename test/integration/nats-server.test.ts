/** The test launcher itself: a real nats-server that can be stopped and restarted. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, StringCodec } from 'nats';
import { startNatsServer } from '../helpers/nats-server.js';

describe('nats-server launcher', () => {
  it('starts on a free port; a client reconnects after a restart on the same port', async () => {
    const server = await startNatsServer();
    const sc = StringCodec();
    const nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    try {
      nc.subscribe('echo', { callback: (_e, m) => m.respond(m.data) });
      assert.equal(sc.decode((await nc.request('echo', sc.encode('one'), { timeout: 2000 })).data), 'one');
      const port = server.port;
      await server.restart();
      assert.equal(server.port, port);
      // The subscription is re-established on reconnect.
      let answer = '';
      for (let i = 0; i < 50 && !answer; i++) {
        try {
          answer = sc.decode((await nc.request('echo', sc.encode('two'), { timeout: 200 })).data);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(answer, 'two');
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});
