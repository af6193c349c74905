/**
 * A command as yargs takes it, with its options from the table (options.ts) and its handler
 * given the options of all three sources, merged and checked (option-sources.ts).
 */
import type { Argv, CommandModule } from 'yargs';
import { reportError } from './run.js';
import { readConfigFile, resolveOptions } from './option-sources.js';
import { Command, declareOptions } from './options.js';

/** The command yargs is building, for the fail handler's "did you mean". */
let building: Command | undefined;
export const commandBeingParsed = (): Command | undefined => building;

export interface CommandSpec<A> {
  name: Command;
  /** yargs' command string: the name and its positionals (`send <files..>`). */
  command: string;
  describe: string;
  /** Positionals, examples, epilog: what is not an option. */
  builder?: (y: Argv) => Argv;
  handler: (args: A) => Promise<void>;
}

/** A command for yargs, which can also be run on flags read without it (fast-parse.ts). */
export interface DefinedCommand extends CommandModule {
  name: Command;
  run: (flags: Record<string, unknown>) => Promise<void>;
}

export function defineCommand<A>(spec: CommandSpec<A>): DefinedCommand {
  const run = async (flags: Record<string, unknown>) => {
    let args: Record<string, unknown>;
    try {
      // The file is found as any option is: the flag, then PLOTFERRY_<COMMAND>_CONFIG, then PLOTFERRY_CONFIG.
      const file =
        lastString(flags.config) ??
        (process.env[`PLOTFERRY_${spec.name.toUpperCase()}_CONFIG`] || process.env.PLOTFERRY_CONFIG || undefined);
      args = resolveOptions({
        command: spec.name,
        flags,
        env: process.env,
        ...(file !== undefined ? { config: readConfigFile(file) } : {}),
      });
    } catch (err) {
      // A wrong option is the command line's fault (exit 2), as yargs' own refusals are.
      reportError(err);
      process.exitCode = 2;
      return;
    }
    await spec.handler(args as A);
  };
  return {
    name: spec.name,
    run,
    command: spec.command,
    describe: spec.describe,
    builder: (y: Argv) => {
      building = spec.name;
      const withOptions = declareOptions(y, spec.name);
      return spec.builder ? spec.builder(withOptions) : withOptions;
    },
    handler: (argv) => run(argv),
  };
}

const lastString = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : Array.isArray(v) ? lastString(v[v.length - 1]) : undefined;
