/**
 * `--replot-dry-run` as a plan: what a real `--replot` would have deleted for the plots that
 * came to this harvester and found no room, cumulative. Nothing is deleted in a dry run, so
 * without a plan every announce named the same oldest PoS1 plot again. The plan keeps what it
 * has "deleted" and "stored" so far per disk: the next plot takes the room an earlier deletion
 * freed, then the next PoS1 plot in order. Each plot is planned once (a plotter announces it
 * again after a decline). A plot another harvester stored after all is taken out (retract): a
 * real --replot would have deleted nothing for a plot it did not win. Pure: the caller gives the
 * disks' free space and their PoS1 plots in the order --replot takes them.
 */

/** A PoS1 plot --replot may delete, in the order it would. */
export interface PlanVictim {
  name: string;
  /** Bytes deleting it frees. */
  frees: number;
}

export interface PlanDisk {
  dir: string;
  freeBytes: number;
  /** Its PoS1 plots that may go, in --replot's order. */
  victims: readonly PlanVictim[];
}

export type PlanStep =
  /** The plot would land on `dir`, deleting `deletes` (none: room an earlier deletion freed). */
  | { kind: 'lands'; plot: string; dir: string; deletes: PlanVictim[] }
  /** No disk could make room for it, even by deleting every PoS1 plot that may go. */
  | { kind: 'no-room'; plot: string };

export class ReplotPlan {
  /** Each plot planned: where it landed and its size, or undefined when no disk had room. */
  private readonly planned = new Map<string, { dir: string; size: number } | undefined>();
  private readonly gone = new Set<string>();
  /** Per disk: bytes freed by the plan's deletions less the bytes of the plots it placed. */
  private readonly delta = new Map<string, number>();
  deletedPlots = 0;
  deletedBytes = 0;
  landedPlots = 0;

  /** The step for plot `name` of `size` (plus `reserve`), or undefined when it was planned already. */
  step(name: string, size: number, reserve: number, disks: readonly PlanDisk[]): PlanStep | undefined {
    if (this.planned.has(name)) return undefined;
    const need = size + reserve;
    let best: { disk: PlanDisk; free: number; deletes: PlanVictim[] } | undefined;
    for (const disk of disks) {
      let free = disk.freeBytes + (this.delta.get(disk.dir) ?? 0);
      const deletes: PlanVictim[] = [];
      for (const v of disk.victims) {
        if (free >= need) break;
        if (this.gone.has(`${disk.dir}\0${v.name}`)) continue;
        deletes.push(v);
        free += v.frees;
      }
      // The disk that needs the fewest deletions, then the most room after them.
      if (
        free >= need &&
        (!best || deletes.length < best.deletes.length || (deletes.length === best.deletes.length && free > best.free))
      )
        best = { disk, free, deletes };
    }
    if (!best) {
      this.planned.set(name, undefined);
      return { kind: 'no-room', plot: name };
    }
    const { dir } = best.disk;
    this.planned.set(name, { dir, size });
    for (const v of best.deletes) {
      this.gone.add(`${dir}\0${v.name}`);
      this.deletedPlots++;
      this.deletedBytes += v.frees;
    }
    this.delta.set(dir, (this.delta.get(dir) ?? 0) + best.deletes.reduce((n, v) => n + v.frees, 0) - size);
    this.landedPlots++;
    return { kind: 'lands', plot: name, dir, deletes: best.deletes };
  }

  /**
   * Takes plot `name` out of the plan (another harvester stored it): its bytes are room again on
   * the disk it would have landed on. The deletions planned for it stay planned, as room they
   * freed, which the next plot takes first: a plan that kept them is one a real --replot could
   * have made, and undoing them would reshuffle every step after. Announced again, the plot is
   * planned afresh. False when the plan did not hold it.
   */
  retract(name: string): boolean {
    if (!this.planned.has(name)) return false;
    const landed = this.planned.get(name);
    this.planned.delete(name);
    if (landed) {
      this.delta.set(landed.dir, (this.delta.get(landed.dir) ?? 0) + landed.size);
      this.landedPlots--;
    }
    return true;
  }
}
