#!/usr/bin/env node
/**
 * plotferry's command line: maps flags onto the library. Each command loads its code only when
 * it runs, so `--help` and cron start-up stay fast. Options come from one table (options.ts),
 * read from the command line, PLOTFERRY_* and --config alike (option-sources.ts).
 *
 * yargs is loaded only when it is needed: for help, for a line it must refuse or explain, and for
 * anything fast-parse.ts does not call plain. A plain `plotferry send ...` from cron, and
 * `--version`, start without it (docs/performance.md, "Start-up").
 */
import fs from 'node:fs';
import { PlotferryError } from '../core/errors.js';
import { endQuietlyWhenOutputCloses } from './closed-output.js';
import { commandBeingParsed, type DefinedCommand } from './command.js';
import { fastParse, positionalsOf } from './fast-parse.js';
import { reportError } from './run.js';
import { demoCommand } from './demo.js';
import { harvesterCommand } from './harvester.js';
import { listenCommand } from './listen.js';
import { normaliseBooleanArgs, refusePositionalFlags, unknownFlags } from './option-sources.js';
import { Command, COMMANDS, declareOptions } from './options.js';
import { sendCommand } from './send.js';
import { speedtestCommand } from './speedtest.js';
import { statusCommand } from './status.js';
import { sweepCommand } from './sweep.js';

endQuietlyWhenOutputCloses();

let args: string[];
try {
  args = normaliseBooleanArgs(process.argv.slice(2));
  if ((COMMANDS as readonly string[]).includes(args[0] ?? '')) refusePositionalFlags(args.slice(1), args[0] as Command);
} catch (err) {
  refuse(err);
}

const COMMAND_MODULES: Record<Command, DefinedCommand> = {
  listen: listenCommand,
  send: sendCommand,
  harvester: harvesterCommand,
  sweep: sweepCommand,
  status: statusCommand,
  speedtest: speedtestCommand,
  demo: demoCommand,
};
const named = args[0] as Command;
const known = Object.hasOwn(COMMAND_MODULES, named);
const plain = known
  ? fastParse(named, args.slice(1), positionalsOf(String(COMMAND_MODULES[named].command)))
  : undefined;

if (args.length === 1 && args[0] === '--version') {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  process.stdout.write(`${pkg.version}\n`);
} else if (plain) {
  await COMMAND_MODULES[named].run(plain);
} else {
  const { default: yargs } = await import('yargs');
  await withYargs(yargs, known ? oneCommand(yargs, named) : allCommands(yargs)).parseAsync();
}

/**
 * `plotferry COMMAND ...`, the way cron and systemd run it: that command alone, as yargs' default
 * command. yargs renders the whole help of a named command as it starts, in case it is shown
 * later (nothing here shows it then); a default command it does not. That render was 40-60 ms of
 * CPU of every start.
 */
type Yargs = typeof import('yargs').default;

function oneCommand(yargs: Yargs, name: Command) {
  const m = COMMAND_MODULES[name];
  return yargs(args.slice(1))
    .scriptName(`plotferry ${name}`)
    .command({ ...m, command: String(m.command).replace(/^\S+/, '$0') });
}

/** Anything else: the top-level help, a misspelt command, global flags before the command. */
function allCommands(yargs: Yargs) {
  return declareOptions(yargs(args), 'demo', true)
    .scriptName('plotferry')
    .usage(
      '$0 <command> [options]\n\nMoves finished Chia plots to harvesters over raw TCP, verified end to end with xxhash.',
    )
    .command(listenCommand)
    .command(sendCommand)
    .command(harvesterCommand)
    .command(sweepCommand)
    .command(statusCommand)
    .command(speedtestCommand)
    .command(demoCommand)
    .demandCommand(1, 'name a command: listen, send, harvester, sweep, status, speedtest or demo (see --help)')
    .recommendCommands();
}

/** What every reading by yargs shares: strict mode, help, version, and how a refusal reads. */
function withYargs(yargs: Yargs, cli: ReturnType<Yargs>) {
  return (
    cli
      // Only the command line reaches yargs (the environment and --config are read by
      // option-sources.ts), so strict mode refuses exactly the flags a command does not take.
      .strict()
      .help()
      .alias('h', 'help')
      .version()
      .wrap(Math.min(110, process.stdout.columns || 100))
      .epilog(
        'Every option can also come from the environment as PLOTFERRY_<OPTION> (e.g. PLOTFERRY_TOKEN), or ' +
          'PLOTFERRY_<COMMAND>_<OPTION> for one command (PLOTFERRY_HARVESTER_METRICS), and from a --config file.',
      )
      .fail((msg, err, y) => {
        if (err) throw err;
        // An unknown flag: say which, and what was meant, not the whole --help.
        const unknown = unknownFlags(args, commandBeingParsed());
        if (unknown.length > 0) refuse(new PlotferryError('PF_CONFIG', unknown.join('; ')));
        y.showHelp();
        process.stderr.write(`\nplotferry: ${msg}\n`);
        process.exit(2);
      })
  );
}

/** A wrong command line, found before any command ran: PF_CONFIG, exit 2. */
function refuse(err: unknown): never {
  reportError(err);
  process.exit(2);
}
