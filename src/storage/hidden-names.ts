/**
 * The names plotferry gives files inside a receiving directory. All are hidden (a leading dot),
 * so no harvester loads them and no `*.plot` glob matches them.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * `.plotferry-<name>.<8 hex>.partial`: the leading dot hides it from harvesters and from
 * `*.plot` globs, the suffix from anything that looks at extensions, and the random part keeps
 * two attempts apart.
 */
export const TEMP_PREFIX = '.plotferry-';
export const TEMP_SUFFIX = '.partial';

export function tempPathFor(dir: string, name: string): string {
  return path.join(dir, `${TEMP_PREFIX}${name}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
}

export function isTempName(file: string): boolean {
  return file.startsWith(TEMP_PREFIX) && file.endsWith(TEMP_SUFFIX);
}

/**
 * `.plotferry-<name>.<size>.resume`: what a broken transfer left, kept for a later one to
 * continue (resume). Its length is the count of good bytes: only bytes whose writes completed,
 * in file order, are kept. Hidden like a temporary file, but not removed at start: a restart
 * does not cost the partial. Expired ones (older than the partial TTL) are removed.
 */
export const PARTIAL_SUFFIX = '.resume';

export function partialPathFor(dir: string, name: string, size: number): string {
  return path.join(dir, `${TEMP_PREFIX}${name}.${size}${PARTIAL_SUFFIX}`);
}

/**
 * `.plotferry-<name>.xxh64`: the per-plot hash records of earlier versions. A directory's hash
 * ledger (ledger.ts) takes them in when it is opened, and removes them.
 */
export const HASH_RECORD_SUFFIX = '.xxh64';
