/**
 * The farm-10gbe scenario's ear on NATS: one JSON line on stdout per announce, per bid (busy or
 * not) and per harvester `free`, stamped when it came, so the bench can say how long plots
 * waited on disks that were busy (bench/farm-10gbe-report.ts busyWaits). It only listens.
 *   node dist/bench/nats-spy.js NATS_URL
 */
import { connect } from 'nats';

const nc = await connect({ servers: process.argv[2] });
const dec = new TextDecoder();
const say = (o: object) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...o })}\n`);
const json = (data: Uint8Array): Record<string, unknown> => {
  try {
    return JSON.parse(dec.decode(data)) as Record<string, unknown>;
  } catch {
    return {};
  }
};
nc.subscribe('plotferry.announce', {
  callback: (_e, m) => {
    const j = json(m.data);
    say({ kind: 'announce', id: j.id, name: j.name });
  },
});
nc.subscribe('plotferry.free', { callback: () => say({ kind: 'free' }) });
// Bids go to the announcing plotter's inbox.
nc.subscribe('_INBOX.>', {
  callback: (_e, m) => {
    const j = json(m.data);
    if (j.kind === 'bid') say({ kind: 'bid', id: j.id, busy: j.busy === true });
  },
});
await nc.flush();
process.stdout.write('ready\n');
