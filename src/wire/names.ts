import { PlotferryError } from '../core/errors.js';

/**
 * Linux NAME_MAX is 255; the temporary name adds a prefix and a suffix (see finalize.ts), so
 * plot names are held to 200 bytes (Chia's are about 100).
 */
export const MAX_NAME_BYTES = 200;

/** An id on the bus and on the wire (a harvester, a plotter, an announce): letters, digits, "_", "-". */
export const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Names plotferry gives a meaning to inside a directory. Hidden ones (`.plotferry-*`: temporary
 * files, partial copies, hash records, locks) are already refused by the leading-dot rule. The
 * visible ones live in the `plotferry.` namespace, which is refused as a whole and without
 * regard to case (exFAT and NTFS disks fold case, so `PLOTFERRY.DISABLE` would disable a disk).
 */
export const DISABLE_FILE = 'plotferry.disable';
/**
 * Names a farmer types for DISABLE_FILE by mistake. A disk holding one is taken out of rotation
 * too, and the notice says to rename it: a farmer who meant to pull the disk must not find plots
 * being written to it. Each is a name no sender can deliver (the reserved namespace, or hidden).
 */
export const DISABLE_LOOKALIKES: readonly string[] = [
  'plotferry.disabled',
  'plotferry.disable.txt',
  'plotferry.disabled.txt',
  '.plotferry.disable',
];

/** How a disabling file is named in messages: a look-alike says what to call it. */
export const disabledBy = (file: string): string =>
  file === DISABLE_FILE ? DISABLE_FILE : `${file} (read as ${DISABLE_FILE}; rename it to that)`;
const RESERVED_PREFIX = 'plotferry.';

/**
 * What Chia farms: PoS1 plots are `*.plot`; PoS2 plots `plot-k28-<id>.plot2` (chia-blockchain's
 * create_plots.py), and its harvester scans `*.plot` and `*.plot2` (plotting/util.py). The open
 * plot-group pull requests (chia-blockchain #21396, chia_rs #1517) move PoS2 farming to
 * `*.gplot` files, one per group, and drop raw PoS2 plots; a farm that upgrades its plotter
 * before plotferry would otherwise leave every new plot on the plotter. So all three move by
 * default, and the harvester counts all three.
 */
export const PLOT_EXTENSIONS = ['.plot', '.plot2', '.gplot'] as const;
export const DEFAULT_PLOT_PATTERN = '*.{plot,plot2,gplot}';

/** A visible file with a plot's extension. */
export const isPlotFileName = (name: string) =>
  !name.startsWith('.') && PLOT_EXTENSIONS.some((ext) => name.endsWith(ext));

/** A receiver's claim on its receiving directory (storage/dir-lock.ts). */
export const RECEIVER_LOCK = '.plotferry-receiver.lock';

/** `.plotferry-lock-NAME`: a plotter's lock on the plot NAME beside it (plotter/lock.ts). */
export const lockNameFor = (plotName: string) => `.plotferry-lock-${plotName}`;

/** Control characters, and the Unicode bidi controls that make a name read differently (U+202E). */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'g');

/**
 * A plot name is a plain file name: it can only ever name a file directly inside a receiving
 * directory. Rejects separators, "..", NUL, control and bidi characters, a leading dot (which
 * also keeps senders off plotferry's own temporary names, which start with a dot), and the
 * names plotferry gives a meaning to (the `plotferry.` namespace).
 */
export function validatePlotName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PlotferryError('PF_BAD_NAME', 'the file name is empty');
  }
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    throw new PlotferryError('PF_BAD_NAME', `the file name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  if (name.includes('/') || name.includes('\\')) {
    throw new PlotferryError('PF_BAD_NAME', `"${printable(name)}" contains a path separator`);
  }
  if (name.startsWith('.')) {
    throw new PlotferryError('PF_BAD_NAME', `"${printable(name)}" starts with a dot`);
  }
  if (UNPRINTABLE.test(name)) {
    throw new PlotferryError('PF_BAD_NAME', `"${printable(name)}" contains control or bidi characters`);
  }
  if (name.toLowerCase().startsWith(RESERVED_PREFIX)) {
    throw new PlotferryError(
      'PF_BAD_NAME',
      `"${printable(name)}" is reserved: names starting with "${RESERVED_PREFIX}" are plotferry's control files (${DISABLE_FILE} takes a disk out of rotation)`,
    );
  }
  return name;
}

/** For messages: never echo control characters into a terminal or log. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE_ALL, '?').slice(0, 120);
}
