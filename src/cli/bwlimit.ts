/** `--bwlimit` (send, sweep): checked, and turned into a pacer. */
import { PlotferryError } from '../core/errors.js';

/** The pacer for `--bwlimit`, or undefined when unset. */
export async function pacerFor(bwlimit: number | undefined) {
  if (bwlimit === undefined) return undefined;
  if (!(Number.isFinite(bwlimit) && bwlimit >= 0.1))
    throw new PlotferryError(
      'PF_CONFIG',
      `--bwlimit ${bwlimit}: give megabytes per second, at least 0.1 (e.g. --bwlimit 300)`,
    );
  const { Pacer } = await import('../transfer/pace.js');
  return new Pacer(bwlimit * 1e6);
}
