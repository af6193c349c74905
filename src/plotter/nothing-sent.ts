/**
 * Why a sweep sent nothing, in one line: a farmer whose plots are younger than --min-age, not
 * whole yet, named otherwise than --pattern, or locked by another sweep got silence. Pure.
 */

/** What one listing of the swept directories left, and why. */
export interface LeftBehind {
  /** Plots written to within --min-age, and when the first of them is old enough (epoch ms). */
  young: number;
  minAgeS: number;
  nextReadyAt?: number;
  /** Plots whose header says they are not whole yet (PF_INCOMPLETE). */
  incomplete: number;
  /** Files left for a human: not a plot of a known layout, a symbolic link. */
  leftOut: number;
  /** Visible names that --pattern does not take (hidden files are plotferry's own). */
  unmatched: number;
  pattern: string;
  /** Plots another sweep holds the lock of. */
  locked: number;
}

/** The `--json` line of a sweep that sent nothing. */
export interface NothingSentLine extends Omit<LeftBehind, 'nextReadyAt'> {
  status: 'nothing-sent';
  firstReadyInS?: number;
  message: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The line, when nothing was offered to a harvester; `now` for the first young plot's wait. */
export function nothingSent(l: LeftBehind, now: number): NothingSentLine {
  const firstReadyInS = l.nextReadyAt !== undefined ? Math.max(0, Math.ceil((l.nextReadyAt - now) / 1000)) : undefined;
  const why = [
    l.young
      ? `${plural(l.young, 'plot')} written to within --min-age (${l.minAgeS} s${firstReadyInS !== undefined ? `; the first is ready in ${firstReadyInS} s` : ''})`
      : '',
    l.incomplete ? `${plural(l.incomplete, 'plot')} not whole yet (PF_INCOMPLETE: still being written or copied)` : '',
    l.locked ? `${plural(l.locked, 'plot')} being moved by another sweep (its lock)` : '',
    l.leftOut ? `${plural(l.leftOut, 'file')} left for you to look at (not a plot, or a link; see above)` : '',
    l.unmatched ? `${plural(l.unmatched, 'other name')} that --pattern '${l.pattern}' does not take` : '',
  ].filter(Boolean);
  const { nextReadyAt, ...rest } = l;
  void nextReadyAt;
  return {
    status: 'nothing-sent',
    ...rest,
    ...(firstReadyInS !== undefined ? { firstReadyInS } : {}),
    message: why.length ? `nothing to send: ${why.join('; ')}` : 'nothing to send: the swept directories hold no files',
  };
}
