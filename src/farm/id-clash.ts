/**
 * Two harvesters under one --id: their heartbeats share a subject, their claims a subject, and a
 * plotter cannot tell their bids apart (a claim for one lands on the other). Each harvester hears
 * its own heartbeat subject, and a heartbeat there from another instance is said: here, what
 * that is and how the farmer is told. Pure; the daemon carries heartbeats in and the verdict out.
 */
import type { Heartbeat } from '../bus/bus-messages.js';

export type IdClash =
  | { kind: 'none' }
  /** Another instance answers under our id; `key` names it (said once per key). */
  | { kind: 'clash'; key: string; log: string; title: string; message: string };

/**
 * What a heartbeat heard under our own id means. `instance`: our process's nonce. A heartbeat
 * with another nonce is another process (another host, or a second one here); one without a
 * nonce is from a harvester older than the nonce, so not this one either.
 */
export function idClash(id: string, instance: string, hb: Heartbeat): IdClash {
  if (hb.harvester !== id || hb.instance === instance) return { kind: 'none' };
  const dirs = hb.dirs.map((d) => d.dir).join(', ');
  const where = `on ${hb.host}${dirs ? ` (disks ${dirs})` : ''}`;
  const what = `another harvester runs with --id ${id} ${where}`;
  const fix = 'give each harvester its own --id (PLOTFERRY_HARVESTER_ID)';
  return {
    kind: 'clash',
    key: hb.instance ?? `${hb.host}:${dirs}`,
    log: `${what}: plotters cannot tell the two apart (a claim for one may reach the other, and status shows one at a time); ${fix}`,
    title: `two harvesters share the id ${id}`,
    message: `${what}. Plotters cannot tell them apart, and status shows one of them at a time: ${fix}.`,
  };
}
