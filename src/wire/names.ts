import { PlotferryError } from '../errors.js';

/**
 * Linux NAME_MAX is 255; the temporary name adds a prefix and a suffix (see finalize.ts), so
 * plot names are held to 200 bytes (Chia's are about 100).
 */
export const MAX_NAME_BYTES = 200;

/**
 * A plot name is a plain file name: it can only ever name a file directly inside a receiving
 * directory. Rejects separators, "..", NUL and control characters, and a leading dot (which
 * also keeps senders off plotferry's own temporary names, which start with a dot).
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
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new PlotferryError('PF_BAD_NAME', `"${printable(name)}" contains control characters`);
  }
  return name;
}

/** For messages: never echo control characters into a terminal or log. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 120);
}
