/**
 * The three places an option comes from, read through the one table (options.ts):
 *
 *   the command line  >  PLOTFERRY_<COMMAND>_<OPTION>  >  PLOTFERRY_<OPTION>
 *     >  the --config file's section for the command  >  its top level  >  the default
 *
 * Each value goes through the same parser whatever its source, so `yes` is true and `a,b` is a
 * list in all three; one it refuses is PF_CONFIG naming the option, where it came from and what
 * it takes. A name no command takes (a misspelt variable or key) is PF_CONFIG with the nearest
 * valid name; one another command takes is left to that command, so one environment and one
 * file serve every unit of a host. Pure, except readConfigFile.
 */
import fs from 'node:fs';
import { parseBoolean, parseBytes, parseCount, parseDecimal, parsePort, parseSeconds } from '../core/config.js';
import { PlotferryError } from '../core/errors.js';
import { COMMANDS, Command, CommandOption, optionNamed, optionsOf, OPTIONS, repeats } from './options.js';

/**
 * PLOTFERRY_* names that are not options: read elsewhere (the hash fallback) or by the test
 * suites, whose CLI children inherit them. Not refused as misspellings.
 */
export const NON_OPTION_ENV = ['HASH_IMPL', 'FUZZ_SEED', 'FUZZ_ROUNDS', 'FAULT_ROUNDS', 'LOAD_PLOTS', 'REAL_PLOTS'];

export interface ConfigFile {
  file: string;
  data: Record<string, unknown>;
}

export interface Sources {
  command: Command;
  /** What yargs parsed from the command line: an option is there only when it was typed. */
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  config?: ConfigFile;
}

/** Where a value came from, as a message names it. */
type Origin = { kind: 'flag' } | { kind: 'env' | 'config'; label: string };

const camel = (k: string) => k.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (option: string) => `PLOTFERRY_${option.toUpperCase().replace(/-/g, '_')}`;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where each option of a resolved set came from (the `args` object resolveOptions returned). */
export type Source = 'flag' | 'env' | 'config' | 'default';
const SOURCES = new WeakMap<object, Map<string, Source>>();

/** Where `args` (from resolveOptions) got `option` (camelCase), or undefined when it is unset. */
export function sourceOf(args: object, option: string): Source | undefined {
  return SOURCES.get(args)?.get(option);
}

/**
 * The options of `command` from all three sources, checked, keyed in camelCase as the handlers
 * read them; the command line's positionals (`files`, `dirs`) are kept as yargs gave them.
 */
export function resolveOptions(s: Sources): Record<string, unknown> {
  const env = readEnv(s.env, s.command);
  const config = s.config ? readConfig(s.config, s.command) : new Map<string, { value: unknown; label: string }>();
  const out: Record<string, unknown> = {};
  const from = new Map<string, Source>();
  const names = new Set<string>();
  for (const o of optionsOf(s.command)) {
    names.add(o.name);
    names.add(camel(o.name));
    let value: unknown;
    // An empty list on the command line is none (`sweep` with its DIRs in PLOTFERRY_SWEEP_DIRS).
    const typed = s.flags[o.name];
    const flag = Array.isArray(typed) && typed.length === 0 ? undefined : typed;
    const e = env.get(o.name);
    const c = config.get(o.name);
    const given: [unknown, Origin, Source] | undefined =
      flag !== undefined
        ? [flag, { kind: 'flag' }, 'flag']
        : e !== undefined
          ? [e.value, { kind: 'env', label: e.label }, 'env']
          : c !== undefined
            ? [c.value, { kind: 'config', label: c.label }, 'config']
            : o.default !== undefined
              ? [o.default, { kind: 'flag' }, 'default']
              : undefined;
    if (given) {
      value = parseAs(o, given[0], given[1]);
      from.set(camel(o.name), given[2]);
    }
    if (value === undefined && o.required)
      throw new PlotferryError(
        'PF_CONFIG',
        `${o.required} (or ${envName(o.name)}, or "${o.name}" in the --config file)`,
      );
    out[camel(o.name)] = value;
  }
  const positionals: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.flags)) if (!names.has(k) && k !== '$0') positionals[k] = v;
  const args = { ...positionals, ...out };
  SOURCES.set(args, from);
  return args;
}

/** One value through its option's parser; a refusal names the source when it was not a flag. */
function parseAs(o: CommandOption, raw: unknown, origin: Origin): unknown {
  try {
    return parseValue(o, raw);
  } catch (err) {
    if (origin.kind === 'flag' || !(err instanceof PlotferryError)) throw err;
    throw new PlotferryError('PF_CONFIG', `${origin.label}: ${err.message}`);
  }
}

/** The parser of each type (options.ts, OptionType). */
export function parseValue(o: Omit<CommandOption, 'command'>, raw: unknown): unknown {
  const name = o.name;
  if (repeats(o)) return parseList(raw, name);
  if (Array.isArray(raw)) {
    // A boolean flag typed twice is still one answer; any other option takes one value.
    if (o.type === 'boolean' && raw.length > 0) return parseBoolean(raw[raw.length - 1], name);
    throw new PlotferryError(
      'PF_CONFIG',
      `--${name} is given ${raw.length} times (${raw.map((v) => JSON.stringify(v)).join(', ')}); it takes one value`,
    );
  }
  if (o.type !== 'boolean' && typeof raw !== 'string' && typeof raw !== 'number')
    throw new PlotferryError('PF_CONFIG', `--${name} ${JSON.stringify(raw)} is not a value it takes (${takes(o)})`);
  switch (o.type) {
    case 'list': // taken by repeats() above; named so that the switch covers every type (lint checks it)
      return parseList(raw, name);
    case 'boolean':
      return parseBoolean(raw, name);
    case 'string':
      return String(raw);
    case 'count':
      return parseCount(raw, name, o.min ?? 0, o.max);
    case 'port':
      return parsePort(raw, name);
    case 'seconds': {
      const n = parseSeconds(raw, name, o.min ?? 0);
      if (o.max !== undefined && n > o.max)
        throw new PlotferryError('PF_CONFIG', `--${name} "${String(raw)}" is more than ${o.max} s`);
      return n;
    }
    case 'bytes': {
      const n = parseBytes(raw, name);
      o.check?.(n, String(raw));
      return n;
    }
    case 'decimal': {
      const n = parseDecimal(raw, name, o.min ?? 0, o.what ?? 'a number');
      if (o.max !== undefined && n > o.max)
        throw new PlotferryError('PF_CONFIG', `--${name} "${String(raw)}": give ${o.what}, at most ${o.max}`);
      return n;
    }
    case 'choice': {
      const v = String(raw);
      if (!o.choices!.includes(v))
        throw new PlotferryError('PF_CONFIG', `--${name} "${v}" is not one of ${o.choices!.join(', ')}`);
      return v;
    }
  }
}

/** What an option takes, in words, for a message. */
function takes(o: Omit<CommandOption, 'command'>): string {
  return {
    boolean: 'true or false',
    string: 'a string',
    list: 'a comma list',
    count: 'a whole number',
    seconds: 'a duration',
    bytes: 'a size',
    decimal: 'a number',
    port: 'a port number',
    choice: `one of ${o.choices?.join(', ')}`,
  }[o.type];
}

/** A comma list, from a string, a repeated flag or a JSON array; undefined when it holds nothing. */
function parseList(raw: unknown, name: string): string[] | undefined {
  const parts = Array.isArray(raw) ? raw : [raw];
  const items: string[] = [];
  for (const p of parts) {
    if (typeof p !== 'string' && typeof p !== 'number')
      throw new PlotferryError('PF_CONFIG', `--${name} ${JSON.stringify(raw)} is not a list of strings (give a,b,c)`);
    for (const item of String(p).split(',')) if (item.trim()) items.push(item.trim());
  }
  return items.length > 0 ? items : undefined;
}

/**
 * The PLOTFERRY_* values for `command`, by option name. PLOTFERRY_<COMMAND>_<OPTION> (for a host
 * that runs two units from one env file) beats PLOTFERRY_<OPTION>. An option name wins over a
 * command prefix: PLOTFERRY_LISTEN_HOST is harvester's --listen-host.
 */
function readEnv(env: Record<string, string | undefined>, command: Command) {
  const plain = new Map<string, { value: string; label: string }>();
  const scoped = new Map<string, { value: string; label: string }>();
  const taken = new Set(optionsOf(command).map((o) => o.name));
  for (const [key, value] of Object.entries(env)) {
    // Empty means unset (a systemd unit's `Environment=PLOTFERRY_TOKEN=`).
    if (!key.startsWith('PLOTFERRY_') || value === undefined || value === '') continue;
    const rest = key.slice('PLOTFERRY_'.length);
    if (NON_OPTION_ENV.includes(rest)) continue;
    const name = rest.toLowerCase().replace(/_/g, '-');
    if (taken.has(name)) {
      plain.set(name, { value, label: key });
      continue;
    }
    // PLOTFERRY_LISTEN_HOST is harvester's --listen-host and listen's own --host: each command
    // reads it the way it takes it, so `listen` does not bind every interface while it is set.
    const own = name.startsWith(`${command}-`) ? name.slice(command.length + 1) : undefined;
    if (own !== undefined && taken.has(own)) {
      scoped.set(own, { value, label: key });
      continue;
    }
    if (optionNamed(name)) continue;
    const cmd = COMMANDS.find((c) => name.startsWith(`${c}-`));
    if (cmd) {
      const option = name.slice(cmd.length + 1);
      if (!optionsOf(cmd).some((o) => o.name === option)) {
        const near = nearest(
          option,
          optionsOf(cmd).map((o) => o.name),
        );
        throw new PlotferryError(
          'PF_CONFIG',
          `${key}: ${cmd} takes no --${option}${near ? ` (did you mean ${envName(`${cmd}-${near}`)}?)` : ''}`,
        );
      }
      if (cmd === command) scoped.set(option, { value, label: key });
      continue;
    }
    const near = nearest(
      name,
      OPTIONS.map((o) => o.name),
    );
    throw new PlotferryError(
      'PF_CONFIG',
      `${key} in the environment is not a plotferry option${near ? ` (did you mean ${envName(near)}?)` : ''}; remove or rename it`,
    );
  }
  return new Map([...plain, ...scoped]);
}

/**
 * `--config FILE`: keys as on the command line (or camelCase), shared ones at the top level, and
 * a section per command: {"nats": "...", "harvester": {"dir": [...]}, "sweep": {"concurrency": 4}}.
 * A top-level key another command takes is left to it; a key no command takes, or one a section's
 * command does not take, is PF_CONFIG with the nearest valid name. Values come back by option name.
 */
function readConfig(config: ConfigFile, command: Command) {
  const out = new Map<string, { value: unknown; label: string }>();
  const sectionValues = new Map<string, { value: unknown; label: string }>();
  const taken = new Set(optionsOf(command).map((o) => o.name));
  const at = `--config ${config.file}`;
  for (const [rawKey, value] of Object.entries(config.data)) {
    const key = kebab(rawKey);
    const section = COMMANDS.find((c) => c === key);
    if (section && isObject(value)) {
      const own = optionsOf(section).map((o) => o.name);
      for (const [k, v] of Object.entries(value)) {
        const name = kebab(k);
        if (!own.includes(name) || name === 'config') {
          const near = nearest(name, own);
          throw new PlotferryError(
            'PF_CONFIG',
            `${at}: unknown option "${k}" in "${section}" (${section} takes no --${name})${near ? ` (did you mean "${near}"?)` : ''}`,
          );
        }
        if (section === command) sectionValues.set(name, { value: v, label: `${at}, "${section}"."${k}"` });
      }
      continue;
    }
    if (section && !optionNamed(key))
      throw new PlotferryError(
        'PF_CONFIG',
        `${at}: "${rawKey}" must be an object of ${section}'s options ({"${section}": {"log-level": "debug"}})`,
      );
    if (!optionNamed(key) || key === 'config') {
      const near = nearest(key, [...OPTIONS.map((o) => o.name).filter((n) => n !== 'config'), ...COMMANDS]);
      throw new PlotferryError(
        'PF_CONFIG',
        `${at}: unknown option "${rawKey}"${near ? ` (did you mean "${near}"?)` : ''}`,
      );
    }
    if (taken.has(key)) out.set(key, { value, label: `${at}, "${rawKey}"` });
  }
  return new Map([...out, ...sectionValues]);
}

/** Reads and parses `--config FILE`; PF_CONFIG saying what is wrong with it. */
export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PlotferryError('PF_CONFIG', `--config ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  return parseConfigText(file, text);
}

export function parseConfigText(file: string, text: string): ConfigFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new PlotferryError('PF_CONFIG', `--config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(data))
    throw new PlotferryError(
      'PF_CONFIG',
      `--config ${file} must hold a JSON object of options ({"token": "...", "harvester": {...}, ...})`,
    );
  return { file, data };
}

/**
 * `--flag=value` and `--flag value` of a boolean option, rewritten as `--flag` or `--no-flag` so
 * that they read as in the environment and the config file (yargs reads any word but "true" as
 * false after `=`, and takes `yes` after a space as a positional). PF_CONFIG for a word after `=`
 * that is not a boolean; after a space, only a boolean word is taken (else it is a positional).
 */
export function normaliseBooleanArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  const flag = (o: { name: string }, on: boolean) => (on ? `--${o.name}` : `--no-${o.name}`);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    const o = m ? optionNamed(m[1]!) : undefined;
    const next = args[i + 1];
    if (o?.type !== 'boolean') out.push(arg);
    else if (m![2] !== undefined) out.push(flag(o, parseBoolean(m![2], o.name)));
    else if (next !== undefined && BOOLEAN_WORD.test(next)) {
      out.push(flag(o, parseBoolean(next, o.name)));
      i++;
    } else out.push(arg);
  }
  return out;
}

const BOOLEAN_WORD = /^(true|false|yes|no|on|off|1|0)$/i;

/**
 * An option the command line gives as positionals (`sweep DIR...`, options.ts `positional`)
 * typed as a flag: PF_CONFIG that says how to give it. yargs would take `--dirs a` as a DIR but
 * drop it beside positionals.
 */
export function refusePositionalFlags(args: readonly string[], command: Command): void {
  for (const o of optionsOf(command).filter((x) => x.positional))
    for (const arg of args) {
      if (arg === '--') break;
      if (arg === `--${o.name}` || arg.startsWith(`--${o.name}=`))
        throw new PlotferryError(
          'PF_CONFIG',
          `--${o.name}: give them after the options (plotferry ${command} ${o.name.replace(/s$/, '').toUpperCase()}...); ${envName(o.name)}, ${envName(`${command}-${o.name}`)} and "${o.name}" in --config are for units and config files`,
        );
    }
}

/**
 * The flags on the command line that `command` does not take (all of them, or the global ones
 * when no command is known), each as a message with the nearest it takes. yargs' strict mode
 * finds that something is unknown; this says what and what was meant.
 */
export function unknownFlags(args: readonly string[], command: Command | undefined): string[] {
  const known = new Set(['help', 'version', 'h']);
  const opts = command ? optionsOf(command) : OPTIONS.filter((o) => o.commands.length === COMMANDS.length);
  for (const o of opts) known.add(o.name).add(camel(o.name));
  const out: string[] = [];
  for (const arg of args) {
    if (arg === '--') break;
    // `--reserve -5G` reads as the flags -5 and -G: refused, not silently dropped.
    if (/^-\d/.test(arg) && !/^-\d+(\.\d+)?$/.test(arg)) {
      out.push(`unknown option ${arg}: a negative value? sizes, counts and durations cannot be negative`);
      continue;
    }
    const short = /^-([^-].*)$/.exec(arg)?.[1];
    if (short && !/^\d/.test(short)) {
      for (const c of short.split('=')[0]!) if (!known.has(c)) out.push(`unknown option -${c}`);
      continue;
    }
    const m = /^--(?:no-)?([^=]+)/.exec(arg);
    if (!m || known.has(m[1]!)) continue;
    out.push(`unknown option ${arg.split('=')[0]}${whatWasMeant(m[1]!, command, known)}`);
  }
  return out;
}

/**
 * For a flag `command` does not take: the nearest it takes; else, when another command takes
 * that name (or one near it), which does, and why this one does not where the table says.
 */
function whatWasMeant(name: string, command: Command | undefined, known: Set<string>): string {
  const near = nearest(
    name,
    [...known].filter((k) => k.length > 1 && !/[A-Z]/.test(k)),
  );
  if (near) return ` (did you mean --${near}?)`;
  const other =
    optionNamed(name) ??
    optionNamed(
      nearest(
        name,
        OPTIONS.map((o) => o.name),
      ) ?? '',
    );
  if (!other || !command) return '';
  const meant = other.name === name ? '' : `did you mean --${other.name}? `;
  return `: ${meant}${other.elsewhere?.[command] ?? `${command} does not take --${other.name} (${other.commands.join(', ')} do${other.commands.length === 1 ? 'es' : ''})`}`;
}

/**
 * The known name closest to `name`, for "did you mean": the fewest single-letter edits, a swap of
 * two neighbours counting as one (optimal string alignment), at most a third of the name's length
 * (one edit for a name of up to 5 letters). yargs keeps its own for commands
 * (.recommendCommands()) but exports none for options.
 */
export function nearest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the edit table; a swap of a[i-2..i-1] with b[j-2..j-1] costs one.
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, before[j - 2]! + 1);
    }
    [before, prev] = [prev, row];
  }
  return prev[b.length]!;
}
