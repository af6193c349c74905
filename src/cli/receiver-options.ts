/** What `listen` and `harvester` share as receivers: their flags, and the --replot settings from them. */
import { PlotferryError } from '../core/errors.js';
import type { REPLOT_ORDERS } from './options.js';

/** What `listen` and `harvester` share as receivers. */
export interface ReceiverArgs {
  verifyPlotHeader: boolean;
  partialTtl: number;
  replot: boolean;
  replotMatch?: string;
  replotOrder: string;
  replotDryRun: boolean;
  replotMaxPerHour: number;
  flushEvery: number;
  metrics?: string;
  allowRootFs: boolean;
}

/** The --replot flags as the receiver takes them; undefined when replotting is off. */
export function replotSettings(a: ReceiverArgs) {
  if (!a.replot && !a.replotDryRun) {
    for (const [flag, set] of [
      ['--replot-match', a.replotMatch !== undefined],
      ['--replot-order', a.replotOrder !== 'oldest'],
    ] as const)
      if (set) throw new PlotferryError('PF_CONFIG', `${flag} needs --replot (or --replot-dry-run)`);
    return undefined;
  }
  return {
    ...(a.replotMatch ? { match: a.replotMatch } : {}),
    order: a.replotOrder as (typeof REPLOT_ORDERS)[number],
    dryRun: a.replotDryRun,
    maxPerHour: a.replotMaxPerHour,
  };
}
