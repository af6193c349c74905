/**
 * The command line of one named command, read without yargs when it is plain: yargs takes about
 * 70 ms of CPU to load (it compiles some 40 ES modules and builds string-width's tables), more
 * than Node's own start, and a cron `send` or `sweep` pays it on every run. Node's own parseArgs,
 * fed from the same option table, reads a plain command line in well under a millisecond.
 *
 * Plain means: every flag is one the command takes, each value is unambiguous, no flag but a list
 * is given twice, and the positionals are what the command takes. Anything else (help, a typo, a
 * value that starts with a dash, `--`) returns undefined and yargs reads the line as before, so
 * every refusal, suggestion and help text stays yargs'. A unit test holds the two readers to the
 * same result on the lines this one takes.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { type Command, optionsOf, repeats } from './options.js';

/** What a command takes besides options: `send <files..>` is `files`, at least one. */
export interface Positionals {
  name: string;
  min: number;
}

/** The positionals of a yargs command string: `<name..>` (one or more), `[name..]` (any), or none. */
export function positionalsOf(command: string): Positionals | undefined {
  const m = /^\S+\s+([<[])(\w+)\.\.[>\]]$/.exec(command.trim());
  return m ? { name: m[2]!, min: m[1] === '<' ? 1 : 0 } : undefined;
}

/**
 * The flags of `args` (the words after the command's name) as yargs would give them to the
 * handler: options by name as typed (a list as an array, anything else as given), positionals
 * under their name. Undefined when the line is not plain (see above).
 */
export function fastParse(
  command: Command,
  args: readonly string[],
  positionals: Positionals | undefined,
): Record<string, unknown> | undefined {
  const specs = optionsOf(command);
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const o of specs.filter((s) => !s.positional))
    options[o.name] = o.type === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: true };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: true,
      allowNegative: true,
      tokens: true,
    });
  } catch {
    return undefined;
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind === 'option-terminator') return undefined;
    if (t.kind !== 'option') continue;
    // A value that looks like a flag (`--reserve -5G`) is refused by yargs' reading, with a hint.
    if (t.value?.startsWith('-') && !t.inlineValue) return undefined;
    const spec = specs.find((o) => o.name === t.name);
    if (!spec || (seen.has(t.name) && !repeats(spec))) return undefined;
    seen.add(t.name);
  }
  const flags: Record<string, unknown> = { _: [] };
  for (const [name, value] of Object.entries(parsed.values)) {
    const spec = specs.find((o) => o.name === name)!;
    flags[name] = Array.isArray(value) && !repeats(spec) ? value[0] : value;
  }
  const words = parsed.positionals;
  if (!positionals) return words.length === 0 ? flags : undefined;
  if (words.length < positionals.min) return undefined;
  if (words.length > 0) flags[positionals.name] = words;
  return flags;
}
