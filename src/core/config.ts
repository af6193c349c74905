/** Parsing of option values shared by the commands; validation happens here, at the edge. */
import { PlotferryError } from './errors.js';

/** A value as text: an object from a config file as JSON, not "[object Object]"; the rest as String() gives it. */
function shown(value: unknown): string {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? JSON.stringify(value) : String(value);
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "0", "512M", "100G", "1.5T", "4096" (binary units; a trailing "iB"/"B" is allowed). */
export function parseBytes(value: unknown, option: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(value));
  if (!m)
    throw new PlotferryError(
      'PF_CONFIG',
      `--${option} "${shown(value)}" is not a size (examples: 0, 512M, 100G, 1.5T)`,
    );
  const n = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(n)) throw new PlotferryError('PF_CONFIG', `--${option} "${shown(value)}" is too large`);
  return n;
}

/** "host:port", "[::1]:port". */
export function parseHostPort(value: unknown, option: string): { host: string; port: number } {
  const s = shown(value ?? '');
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new PlotferryError(
      'PF_CONFIG',
      `--${option} "${s}" is not HOST:PORT (example: --${option} ${option === 'metrics' ? '0.0.0.0:9368' : '192.168.1.20:8740'})`,
    );
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function parsePort(value: unknown, option: string): number {
  const s = String(value).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new PlotferryError('PF_CONFIG', `--${option} "${shown(value)}" is not a port number (0-65535)`);
  }
  return n;
}

export function requireToken(token: unknown): string {
  if (typeof token !== 'string' || token.length === 0) {
    throw new PlotferryError(
      'PF_CONFIG',
      'no token: pass --token T (the same on both ends) or set PLOTFERRY_TOKEN; make one with `openssl rand -hex 16`',
    );
  }
  return token;
}

/** "0" (any free port), "40000-40100". */
export function parsePortRange(value: unknown, option: string): [number, number] {
  const s = shown(value ?? '0').trim();
  if (s === '0') return [0, 0];
  const m = /^(\d+)-(\d+)$/.exec(s);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!m || !(lo >= 1 && hi <= 65535 && lo <= hi)) {
    throw new PlotferryError(
      'PF_CONFIG',
      `--${option} "${s}" is not LOW-HIGH (example: --${option} 40000-40100), or 0 for any port`,
    );
  }
  return [lo, hi];
}

/** `--partial-ttl` seconds to ms: 0 turns keeping partial copies off. */
export function partialTtlMs(seconds: number): number {
  if (!(Number.isFinite(seconds) && seconds >= 0))
    throw new PlotferryError('PF_CONFIG', `--partial-ttl ${seconds}: give seconds, 0 or more (0: keep nothing)`);
  return seconds * 1000;
}

/** Units a duration may carry, in seconds. */
const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A duration in seconds: "90", "90s", "1.5m", "10m", "2h", "500ms" (a bare number is seconds).
 * At least `min`. PF_CONFIG, naming the option and what it takes, otherwise.
 */
export function parseSeconds(value: unknown, option: string, min = 0): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(String(value));
  const n = m ? Number(m[1]) * DURATION_UNITS[(m[2] ?? 's').toLowerCase()]! : NaN;
  if (!Number.isFinite(n) || n < min)
    throw new PlotferryError(
      'PF_CONFIG',
      `--${option} "${shown(value)}" is not a duration${min > 0 ? ` of at least ${min} s` : ''} (seconds, or with a unit: 90, 90s, 10m, 2h)`,
    );
  return n;
}

/** A whole number from `min` to `max`. PF_CONFIG, naming the option and the range, otherwise. */
export function parseCount(value: unknown, option: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = String(value).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new PlotferryError(
      'PF_CONFIG',
      `--${option} "${shown(value)}" is not a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` of at least ${min}`}`,
    );
  return n;
}

/** A decimal number of at least `min` (a rate). */
export function parseDecimal(value: unknown, option: string, min: number, what: string): number {
  const s = String(value).trim();
  const n = /^\d+(?:\.\d+)?$/.test(s) ? Number(s) : NaN;
  if (!(n >= min))
    throw new PlotferryError('PF_CONFIG', `--${option} "${shown(value)}": give ${what}, at least ${min}`);
  return n;
}

/**
 * Words a boolean takes, any case, the same from a flag, PLOTFERRY_* and --config. on/off as in
 * systemd's and many config files (`sweep --dry-run on DIR` read "on" as a directory).
 */
const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  yes: true,
  on: true,
  '1': true,
  false: false,
  no: false,
  off: false,
  '0': false,
};

/** true/false/yes/no/on/off/1/0 (any case), or a JSON boolean. PF_CONFIG, naming the option, otherwise. */
export function parseBoolean(value: unknown, option: string): boolean {
  if (typeof value === 'boolean') return value;
  const b = BOOLEAN_WORDS[String(value).trim().toLowerCase()];
  if (b === undefined || (typeof value !== 'string' && typeof value !== 'number'))
    throw new PlotferryError(
      'PF_CONFIG',
      `--${option} "${String(value)}" is not true or false (give true, false, yes, no, on, off, 1 or 0)`,
    );
  return b;
}
