#!/usr/bin/env node
/**
 * plotferry's command line: maps flags onto the library. Each command loads its code only when
 * it runs, so `--help` and cron start-up stay fast.
 */
import fs from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ErrorCodes } from '../core/errors.js';
import { endQuietlyWhenOutputCloses } from './closed-output.js';
import { CONFIG_MARK } from './common.js';
import { demoCommand } from './demo.js';
import { harvesterCommand } from './harvester.js';
import { listenCommand } from './listen.js';
import { sendCommand } from './send.js';
import { speedtestCommand } from './speedtest.js';
import { statusCommand } from './status.js';
import { sweepCommand } from './sweep.js';

endQuietlyWhenOutputCloses();

// An empty PLOTFERRY_* variable (a systemd unit's `Environment=PLOTFERRY_TOKEN=`) means unset:
// yargs would otherwise let its "" beat the --config file.
for (const k of Object.keys(process.env))
  if (k.startsWith('PLOTFERRY_') && process.env[k] === '') delete process.env[k];

/** The keys of the --config file read (loadConfigFile), checked once the command is known. */
let configKeys: string[] = [];
let configFile = '';

const cli = yargs(hideBin(process.argv))
  .scriptName('plotferry')
  .usage(
    '$0 <command> [options]\n\nMoves finished Chia plots to harvesters over raw TCP, verified end to end with xxhash.',
  )
  .env('PLOTFERRY')
  .config(
    'config',
    'a JSON file of options, named as on the command line (e.g. {"token": "...", "dir": ["/mnt/d1"]})',
    loadConfigFile,
  )
  .command(listenCommand)
  .command(sendCommand)
  .command(harvesterCommand)
  .command(sweepCommand)
  .command(statusCommand)
  .command(speedtestCommand)
  .command(demoCommand)
  .demandCommand(1, 'name a command: listen, send, harvester, sweep, status, speedtest or demo (see --help)')
  .recommendCommands()
  // Not .strict(): it would also reject PLOTFERRY_* variables meant for other commands (a
  // PLOTFERRY_TOKEN in the environment would break `harvester`). Typed flags are checked below.
  .strictCommands()
  // yargs passes the instance as a middleware's second argument (its typings omit it).
  .middleware(((_argv: unknown, y: Parameters<typeof rejectUnknownFlags>[0]) => rejectUnknownFlags(y)) as never, true)
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(110, process.stdout.columns || 100))
  .epilog('Every option can also come from the environment as PLOTFERRY_<OPTION> (e.g. PLOTFERRY_TOKEN).')
  .fail((msg, err, y) => {
    // A value refused at the edge (common.ts's edge()): say which and what it takes, no help dump.
    if (msg?.startsWith(CONFIG_MARK)) {
      process.stderr.write(`plotferry: ${msg}\n  what to do: ${ErrorCodes.PF_CONFIG}\n`);
      process.exit(2);
    }
    if (err) throw err;
    y.showHelp();
    process.stderr.write(`\nplotferry: ${msg}\n`);
    process.exit(2);
  });

skipHelpCache(cli);
await cli.parseAsync();

/**
 * yargs renders a command's whole help text as its handler starts, in case the handler calls
 * showHelp() later; none of ours does. Skipping that render (cliui, wrap-ansi, string-width)
 * took 40-60 ms of CPU off every run, 10-20% of `send`'s start-up. It is a private method of
 * yargs: where it is missing, nothing changes.
 */
function skipHelpCache(y: unknown): void {
  type Usage = { cacheHelpMessage?: () => void };
  const internal = (y as { getInternalMethods?: () => { getUsageInstance?: () => Usage } }).getInternalMethods?.();
  const usage = internal?.getUsageInstance?.();
  if (typeof usage?.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

/**
 * `--config FILE`: a JSON object of options. A missing file or bad JSON is PF_CONFIG saying so
 * (yargs' own loader called a missing file "Invalid JSON config file" and crashed with a stack).
 */
function loadConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `${CONFIG_MARK}--config ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    throw new Error(`${CONFIG_MARK}--config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new Error(`${CONFIG_MARK}--config ${file} must hold a JSON object of options ({"token": "...", ...})`);
  configKeys = Object.keys(o);
  configFile = file;
  return o as Record<string, unknown>;
}

/** The known name closest to `name` (edit distance at most 3), for "did you mean". */
function nearest(name: string, known: Iterable<string>): string | undefined {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  let best: string | undefined;
  let bestD = 4;
  for (const k of known) {
    if (k.length < 2 || /[A-Z]/.test(k)) continue;
    const dd = dist(name, k);
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  return best;
}

/** Rejects flags the command does not declare; only what was typed, never the environment. */
function rejectUnknownFlags(y: { getOptions(): { key: Record<string, unknown> }; showHelp(): unknown }): void {
  const known = new Set(Object.keys(y.getOptions().key));
  // A misspelt key in --config (`dirr`, `reserv`) was ignored without a word.
  for (const k of configKeys) {
    if (known.has(k) || known.has(k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()))) continue;
    const near = nearest(k, known);
    process.stderr.write(
      `plotferry: PF_CONFIG: --config ${configFile}: unknown option "${k}"${near ? ` (did you mean "${near}"?)` : ''}\n  what to do: ${ErrorCodes.PF_CONFIG}\n`,
    );
    process.exit(2);
  }
  const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const refuse = (what: string) => {
    y.showHelp();
    process.stderr.write(`\nplotferry: ${what}\n`);
    process.exit(2);
  };
  for (const arg of hideBin(process.argv)) {
    if (arg === '--') break;
    // `--reserve -5G` reads as the flags -5 and -G: refused, not silently dropped.
    if (/^-\d/.test(arg) && !/^-\d+(\.\d+)?$/.test(arg))
      refuse(`unknown option ${arg}: a negative value? sizes, counts and durations cannot be negative`);
    const short = /^-([^-].*)$/.exec(arg)?.[1];
    if (short && !/^\d/.test(short)) {
      for (const c of short.split('=')[0]!) if (!known.has(c)) refuse(`unknown option -${c} (see the options above)`);
      continue;
    }
    const m = /^--(?:no-)?([^=]+)/.exec(arg);
    if (!m) continue;
    const name = m[1]!;
    if (known.has(name) || known.has(camel(name))) continue;
    refuse(`unknown option ${arg.split('=')[0]} (see the options above)`);
  }
}
