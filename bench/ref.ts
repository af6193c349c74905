/**
 * Builds the bench's C yardstick, bench/ref/pfref.c (what it is: that file), once per bench run,
 * next to the compiled bench in dist/.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.resolve(here, '../../bench/ref/pfref.c');
const HEADER = '/usr/include/xxhash.h';

let built: { bin?: string; why?: string } | undefined;

/** The path of the built binary, or why it cannot be built here. */
export function refBinary(): { bin?: string; why?: string } {
  if (built) return built;
  if (!hasCommand('cc')) return (built = { why: 'no C compiler (scripts/bench-setup.sh installs gcc)' });
  if (!fs.existsSync(HEADER))
    return (built = { why: `${HEADER} is missing (scripts/bench-setup.sh installs libxxhash-dev)` });
  const bin = path.join(here, 'pfref');
  const r = spawnSync('cc', ['-O2', '-o', bin, SOURCE], { encoding: 'utf8' });
  if (r.status !== 0) return (built = { why: `cc ${SOURCE} failed: ${(r.stderr || r.error?.message || '').trim()}` });
  return (built = { bin });
}
