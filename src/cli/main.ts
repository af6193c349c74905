#!/usr/bin/env node
/**
 * plotferry's command line: maps flags onto the library. Each command loads its code only when
 * it runs, so `--help` and cron start-up stay fast. Options come from one table (options.ts),
 * read from the command line, PLOTFERRY_* and --config alike (option-sources.ts).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { PlotferryError } from '../core/errors.js';
import { endQuietlyWhenOutputCloses } from './closed-output.js';
import { commandBeingParsed } from './command.js';
import { reportError } from './run.js';
import { demoCommand } from './demo.js';
import { harvesterCommand } from './harvester.js';
import { listenCommand } from './listen.js';
import { normaliseBooleanArgs, unknownFlags } from './option-sources.js';
import { Command, declareOptions } from './options.js';
import { sendCommand } from './send.js';
import { speedtestCommand } from './speedtest.js';
import { statusCommand } from './status.js';
import { sweepCommand } from './sweep.js';

endQuietlyWhenOutputCloses();

let args: string[];
try {
  args = normaliseBooleanArgs(hideBin(process.argv));
} catch (err) {
  refuse(err);
}

const COMMAND_MODULES = {
  listen: listenCommand,
  send: sendCommand,
  harvester: harvesterCommand,
  sweep: sweepCommand,
  status: statusCommand,
  speedtest: speedtestCommand,
  demo: demoCommand,
};
const named = args[0] as Command;
const cli = Object.hasOwn(COMMAND_MODULES, named) ? oneCommand(named) : allCommands();

/**
 * `plotferry COMMAND ...`, the way cron and systemd run it: that command alone, as yargs' default
 * command. yargs renders the whole help of a named command as it starts, in case it is shown
 * later (nothing here shows it then); a default command it does not. That render was 40-60 ms of
 * CPU of every start.
 */
function oneCommand(name: Command) {
  const m = COMMAND_MODULES[name];
  return yargs(args.slice(1))
    .scriptName(`plotferry ${name}`)
    .command({ ...m, command: String(m.command).replace(/^\S+/, '$0') });
}

/** Anything else: the top-level help, a misspelt command, global flags before the command. */
function allCommands() {
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
  });

await cli.parseAsync();

/** A wrong command line, found before any command ran: PF_CONFIG, exit 2. */
function refuse(err: unknown): never {
  reportError(err);
  process.exit(2);
}
