/**
 * A bare NATS responder, the hold scenario's yardstick: it answers `has` and announces at once
 * with a fixed reply, doing nothing else. Its round trips are what this machine's NATS, Node and
 * scheduler cost before a harvester does any work (bench/hold.ts).
 *   node dist/bench/nats-echo.js NATS_URL
 */
import { connect } from 'nats';

const nc = await connect({ servers: process.argv[2] });
const reply = new TextEncoder().encode('{"kind":"not-held","v":1,"harvester":"echo"}');
for (const subject of ['plotferry.has', 'plotferry.announce'])
  nc.subscribe(subject, { callback: (_e, m) => m.respond(reply) });
await nc.flush();
process.stdout.write('ready\n');
