/**
 * Why no harvester took a plot, from what they answered to its announce: the error a farmer
 * reads. Pure: bid-answers.ts gathers the answers, the shell says whether NATS is down.
 */
import type { Announce, Decline } from '../bus/bus-messages.js';
import { PlotferryError } from '../core/errors.js';
import { formatBytesAll } from '../core/format.js';

export interface NoBidFacts {
  announce: Announce;
  /** Harvesters that bid busy: room, but every disk of theirs is writing. */
  busy: ReadonlySet<string>;
  declines: ReadonlyMap<string, Decline>;
  aborted: boolean;
  /** Why NATS is down, when it is (bus/link.ts linkDownMessage). */
  natsDown?: string;
  timeoutMs: number;
}

/** The first rule that fits, in this order, names the cause. */
export function noBidError(f: NoBidFacts): PlotferryError {
  const a = f.announce;
  if (f.aborted) return new PlotferryError('PF_ABORTED', `sending ${a.name} was aborted`);
  if (f.busy.size > 0)
    return new PlotferryError('PF_BUSY', `every harvester with room for ${a.name} is busy (${[...f.busy].join(', ')})`);
  if (f.natsDown) return new PlotferryError('PF_NATS', `${a.name} could not be offered: ${f.natsDown}`);
  const all = [...f.declines.values()];
  const held = all.filter((d) => d.reason === 'held');
  if (held.length > 0)
    return new PlotferryError(
      'PF_EXISTS',
      `${names(held)} holds a file named ${a.name} already (of another size); not sent, the source is kept: rename or remove one of them`,
    );
  // Waiting cannot help: another process holds their ports (not "busy", which ends by itself).
  if (all.length > 0 && all.every((d) => d.reason === 'no-port'))
    return new PlotferryError(
      'PF_PORT_IN_USE',
      `no harvester can open a port for ${a.name}: another process holds every port of the --port-range of ${names(all)} (see their logs)`,
    );
  const noRoom = all.filter((d) => d.reason === 'no-room' || d.reason === 'no-disk');
  // Only when nobody was skipped: a skipped harvester might have had room.
  if (noRoom.length > 0 && noRoom.length === all.length && a.exclude.length === 0) return noRoomError(a, noRoom);
  const skipped = a.exclude.length ? ` (skipping ${a.exclude.join(', ')}, which failed it before)` : '';
  const heard = all.length ? `; ${all.map((d) => `${d.harvester}: ${d.reason}`).join(', ')}` : '';
  return new PlotferryError(
    'PF_NO_BID',
    `no harvester bid for ${a.name} (${a.size} bytes) within ${f.timeoutMs} ms${skipped}${heard}`,
  );
}

const names = (ds: readonly Decline[]) => ds.map((d) => d.harvester).join(', ');

/** Every harvester that answered has no room (PF_NO_SPACE) or, all of them, no usable disk (PF_NO_DISK). */
function noRoomError(a: Announce, noRoom: readonly Decline[]): PlotferryError {
  if (noRoom.every((d) => d.reason === 'no-disk'))
    return new PlotferryError(
      'PF_NO_DISK',
      `no harvester has a usable disk for ${a.name} (${names(noRoom)}: see their logs or \`plotferry status\`)`,
    );
  // The plot's size beside each harvester's room: figures that read alike are given in bytes.
  const [sizeText, ...roomText] = formatBytesAll([a.size, ...noRoom.map((d) => d.freeBytes)]);
  const each = noRoom.map((d, i) =>
    d.reason === 'no-disk'
      ? `${d.harvester} has no usable disk`
      : `${d.harvester} has room for at most ${roomText[i]}${d.why ? ` (${d.why})` : ''}${d.replotDryRun ? ` (${d.harvester} runs --replot-dry-run: a real --replot would delete PoS1 plots for it, if they free enough; its log has the plan)` : ''}`,
  );
  return new PlotferryError(
    'PF_NO_SPACE',
    `no harvester has room for ${a.name} (${sizeText} plus its reserve): ${each.join(', ')}`,
  );
}
