#!/usr/bin/env node
/**
 * plotferry's command line: maps flags onto the library. Each command loads its code only when
 * it runs, so `--help` and cron start-up stay fast.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { demoCommand } from './demo.js';
import { harvesterCommand } from './harvester.js';
import { listenCommand } from './listen.js';
import { sendCommand } from './send.js';
import { statusCommand } from './status.js';

// An empty PLOTFERRY_* variable (a systemd unit's `Environment=PLOTFERRY_TOKEN=`) means unset:
// yargs would otherwise let its "" beat the --config file.
for (const k of Object.keys(process.env))
  if (k.startsWith('PLOTFERRY_') && process.env[k] === '') delete process.env[k];

const cli = yargs(hideBin(process.argv))
  .scriptName('plotferry')
  .usage(
    '$0 <command> [options]\n\nMoves finished Chia plots to harvesters over raw TCP, verified end to end with xxhash.',
  )
  .env('PLOTFERRY')
  .config('config', 'a JSON file of options, named as on the command line (e.g. {"token": "...", "dir": ["/mnt/d1"]})')
  .command(listenCommand)
  .command(sendCommand)
  .command(harvesterCommand)
  .command(statusCommand)
  .command(demoCommand)
  .demandCommand(1, 'name a command: listen, send, harvester, status or demo (see --help)')
  .recommendCommands()
  .strict()
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(110, process.stdout.columns || 100))
  .epilog('Every option can also come from the environment as PLOTFERRY_<OPTION> (e.g. PLOTFERRY_TOKEN).')
  .fail((msg, err, y) => {
    if (err) throw err;
    y.showHelp();
    process.stderr.write(`\nplotferry: ${msg}\n`);
    process.exit(2);
  });

await cli.parseAsync();
