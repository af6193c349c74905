/**
 * Whether and when a harvester bids for an announced plot. The first bid wins, so a busier or
 * fuller harvester bids later and an idle, empty one wins (chia-garden's proven formula):
 *   10 ms per active transfer + 0..50 ms by how full the disk it would use is.
 */
import type { Announce, DeclineReason } from '../bus/bus-messages.js';
import type { PlotferryError } from '../core/errors.js';
import { GroupBusyError, NoRoomError, type DiskSet } from '../storage/disks.js';
import { findExisting } from '../storage/held.js';
import { findPartial } from '../storage/partials.js';
import { metaGroupRuleApplies } from '../wire/plot-header.js';

export const MS_PER_TRANSFER = 10;
export const MS_FULL_DISK = 50;
/** When a harvester with room but no idle disk answers an announcement (see decideBid). */
export const BUSY_BID_DELAY_MS = 250;
/**
 * Added to the bid of a harvester that can take the plot only by deleting PoS1 plots (--replot):
 * more than any bid with free space can wait (10 ms x --max-transfers + 50 ms), so free space
 * anywhere in the farm is used before an old plot goes.
 */
export const REPLOT_BID_DELAY_MS = 200;
/**
 * Added when the disk a PoS2 plot would go to holds another group of its meta-group already
 * (CHIP-49 asks for one group per meta-group on a disk): a harvester with a disk free of it
 * answers first, all else being equal. Less than a disk's fullness weighs, more than a
 * transfer.
 */
export const META_GROUP_BID_DELAY_MS = 25;

export function bidDelayMs(activeTransfers: number, freeBytes: number, totalBytes: number): number {
  const fullness = totalBytes > 0 ? Math.min(1, Math.max(0, 1 - freeBytes / totalBytes)) : 1;
  return MS_PER_TRANSFER * Math.max(0, activeTransfers) + Math.round(MS_FULL_DISK * fullness);
}

export type BidDecision =
  /**
   * No bid: no disk with room, the name is held already, or the plotter skips us. Silence, or a
   * Decline with this reason to a plotter that asks every harvester to answer.
   */
  | { kind: 'silent'; reason: DeclineReason; heldPath?: string; why?: string }
  /**
   * Bid after `delayMs`. A busy bid (room, but every disk with room is writing, or at
   * --max-transfers) is never taken as an offer; it tells the plotter to wait rather than fail.
   */
  | {
      kind: 'bid';
      busy: boolean;
      delayMs: number;
      freeBytes: number;
      resumeFrom?: number;
      /** The disk holds plots of the announced plot's group (it bids at once, and wins). */
      group?: true;
      /** Why this disk (storage/disks.ts chooseDir). */
      why?: string;
      /** It can take the plot only by deleting PoS1 plots (--replot), busy or not. */
      replot?: true;
    };

export interface BidState {
  id: string;
  activeTransfers: number;
  maxTransfers: number;
  partialTtlMs: number;
}

export async function decideBid(disks: DiskSet, a: Announce, s: BidState): Promise<BidDecision> {
  // Holding part of this plot from a broken transfer: bid at once (even when the plotter would
  // skip us after that failure), so the rest goes here instead of all of it elsewhere.
  // The lookups at once: a bid's cost is a round trip, not one per disk and per question.
  const [partial, held] = await Promise.all([
    findPartial(disks.dirs, a.name, a.size, s.partialTtlMs),
    findExisting(disks.dirs, a.name),
  ]);
  // Held here: said before anything else, so the plotter never sends it to a second harvester.
  if (held && !partial) return { kind: 'silent', reason: 'held', heldPath: held };
  if (!partial && a.exclude.includes(s.id)) return { kind: 'silent', reason: 'excluded' };
  let best;
  let busy = s.activeTransfers >= s.maxTransfers;
  let groupHome = false;
  /** For a busy bid: room anywhere, by free space alone, on the group's disk (one snapshot). */
  let room: Awaited<ReturnType<DiskSet['room']>> | undefined;
  try {
    if (!busy) best = await disks.chooseFor(a.size, partial, a.group);
    else {
      room = await disks.room(a.size, a.group);
      if (!partial && !room.room) return { kind: 'silent', reason: 'no-room' };
      groupHome = !!a.group && !a.group.anyDisk && room.groupHome;
    }
  } catch (err) {
    // No disk with room at all: stay silent, another harvester may have one.
    const code = (err as PlotferryError).code;
    if (code === 'PF_NO_SPACE') await disks.explainReplot(a.size, a.name);
    if (code !== 'PF_BUSY')
      return {
        kind: 'silent',
        reason: code === 'PF_NO_DISK' ? 'no-disk' : 'no-room',
        ...(err instanceof NoRoomError && err.replotBlocked ? { why: err.replotBlocked } : {}),
      };
    busy = true;
    // The disk holding its group is writing: said, so the plotter waits for it (see Bid.group).
    groupHome = err instanceof GroupBusyError;
  }
  if (held) return { kind: 'silent', reason: 'held', heldPath: held };
  const resume = partial ? { resumeFrom: partial.bytes } : {};
  // Sent late, a busy bid rarely even arrives first.
  if (busy || !best) {
    // Busy with free space, or busy and only able to make room: the plotter waits for the first
    // rather than take a bid that deletes PoS1 plots (free space anywhere goes first).
    const onlyByDeleting = !partial && disks.replots && !(room ?? (await disks.room(a.size))).freeRoom;
    return {
      kind: 'bid',
      busy: true,
      delayMs: BUSY_BID_DELAY_MS,
      freeBytes: 0,
      ...resume,
      ...(groupHome ? { group: true, why: 'the disk holding its group is receiving another file' } : {}),
      ...(onlyByDeleting ? { replot: true } : {}),
    };
  }
  const home = (best.groupPlots ?? 0) > 0 && !partial;
  const replot = (best.needsRoom ?? 0) > 0 ? REPLOT_BID_DELAY_MS : 0;
  const metaRule = a.group ? metaGroupRuleApplies(a.group) : false;
  const meta = metaRule && (best.sameMeta ?? 0) > 0 && !home ? META_GROUP_BID_DELAY_MS : 0;
  // A partial copy's or a group's disk bids at once: the plot belongs there.
  const delayMs = partial || home ? 0 : replot + meta + bidDelayMs(s.activeTransfers, best.freeBytes, best.totalBytes);
  return {
    kind: 'bid',
    busy: false,
    delayMs,
    freeBytes: best.freeBytes,
    ...resume,
    ...(home ? { group: true } : {}),
    ...(replot ? { replot: true } : {}),
    why: `${best.dir}: ${partial && best.dir === partial.dir ? `holds ${partial.bytes} bytes of it from a broken transfer` : best.why}`,
  };
}
