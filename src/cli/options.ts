/**
 * Every option of every command, declared once: its name, what it takes, its default, its help,
 * the commands that take it. The command line (yargs), the `--config` file and the `PLOTFERRY_*`
 * environment are all read through this table (option-sources.ts), and a test holds docs/commands.md's
 * option tables to it, so a value means the same in all three and the docs cannot drift.
 *
 * Data only, and cheap to load: `--version` and `--help` read it, no command's code.
 */
import { PlotferryError } from '../core/errors.js';
import type { Argv } from 'yargs';
import type { LogLevel } from '../core/log.js';
import { DEFAULT_PLOT_PATTERN } from '../wire/names.js';

export const COMMANDS = ['listen', 'send', 'harvester', 'sweep', 'status', 'speedtest', 'demo'] as const;
export type Command = (typeof COMMANDS)[number];

/**
 * What an option takes. Each type has one parser (option-sources.ts), used for all three sources:
 * - boolean: true/false/yes/no/on/off/1/0, any case; a bare flag is true, `--no-X` false;
 * - list: a comma list (`a,b,c`), and the flag may be repeated; the items add up;
 * - count: a whole number from `min` to `max`; seconds: a duration (`90`, `90s`, `10m`, `2h`);
 * - bytes: a size (`0`, `512M`, `2G`); decimal: a number of at least `min`;
 * - port: 0-65535; choice: one of `choices`; string: taken as it is.
 */
export type OptionType = 'boolean' | 'string' | 'list' | 'count' | 'seconds' | 'bytes' | 'decimal' | 'port' | 'choice';

/** How one command reads an option that others read too (its own help or default). */
export interface OptionView {
  help?: string;
  default?: string | number | boolean;
  /** What help and docs/commands.md say where there is no fixed default ("host name", "on a TTY"). */
  defaultText?: string;
}

export interface OptionSpec extends OptionView {
  /** As on the command line, without the dashes. PLOTFERRY_<NAME> with dashes as underscores. */
  name: string;
  type: OptionType;
  help: string;
  commands: readonly Command[];
  /** Per command, where a command reads it its own way. */
  per?: Partial<Record<Command, OptionView>>;
  /** For count, seconds, decimal: the smallest (and largest) value taken. */
  min?: number;
  max?: number;
  /** For decimal: what the number is, for the message that refuses one ("a percentage"). */
  what?: string;
  choices?: readonly string[];
  /** Missing from all three sources: PF_CONFIG with this message. */
  required?: string;
  /**
   * Not a flag: the command line gives it as the command's positionals (`sweep DIR...`), and
   * PLOTFERRY_* and --config by this name. (yargs would let a positional drop the flag's values.)
   */
  positional?: true;
  /** What a command that does not take it says when it is given ("sweep always moves"). */
  elsewhere?: Partial<Record<Command, string>>;
  /** A check beyond the type, on the parsed value; throws PF_CONFIG. */
  check?: (value: number, raw: string) => void;
  group?: string;
}

/** A list option repeats on the command line; no other does (given twice, PF_CONFIG). */
export const repeats = (o: OptionSpec): boolean => o.type === 'list';

const ALL = COMMANDS;
const NATS_COMMANDS: readonly Command[] = ['send', 'harvester', 'sweep', 'status', 'speedtest'];
const RECEIVERS: readonly Command[] = ['listen', 'harvester'];
const PLOTTERS: readonly Command[] = ['send', 'sweep'];
const DAEMONS: readonly Command[] = ['listen', 'harvester', 'sweep'];
const NATS_GROUP = 'NATS login and TLS (also PLOTFERRY_NATS_* or --config):';
const GLOBAL = 'Global:';
const NATS_DEFAULT = 'nats://127.0.0.1:4222';
const NATS_HELP = 'NATS server URL, or several as a,b,c (any live one is used, with failover)';

/** The levels core/log.ts takes; `satisfies` keeps the two lists one (a type-only import: no pino at start-up). */
const LOG_LEVELS = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
] as const satisfies readonly LogLevel[];
export const REPLOT_ORDERS = ['oldest', 'newest', 'largest', 'smallest'] as const;

export const OPTIONS: readonly OptionSpec[] = [
  // Global
  {
    name: 'config',
    type: 'string',
    commands: ALL,
    group: GLOBAL,
    help: 'a JSON file of options, named as on the command line, shared keys at the top and a section per command (e.g. {"nats": "nats://farm:4222", "harvester": {"dir": ["/mnt/d1"]}})',
  },
  {
    name: 'log-level',
    type: 'choice',
    choices: LOG_LEVELS,
    default: 'info',
    commands: ALL,
    group: GLOBAL,
    help: 'how much to log on stderr (JSON lines when stderr is not a terminal)',
  },
  {
    name: 'debug',
    type: 'boolean',
    default: false,
    commands: ALL,
    group: GLOBAL,
    help: 'print stack traces with errors',
  },

  // NATS: where, and how to log in
  {
    name: 'nats',
    type: 'list',
    commands: NATS_COMMANDS,
    default: NATS_DEFAULT,
    help: NATS_HELP,
    per: {
      send: {
        default: undefined,
        help: 'bidding mode: NATS URL, or several as a,b,c (with failover); harvesters bid and the best bid wins',
      },
      speedtest: {
        default: undefined,
        help: 'or: test harvesters found on this NATS server (or servers, a,b,c); each opens a one-time speedtest listener',
      },
    },
  },
  {
    name: 'prefix',
    type: 'string',
    default: 'plotferry',
    commands: NATS_COMMANDS,
    help: 'NATS subject prefix; farms sharing a server use different ones',
  },
  {
    name: 'nats-token',
    type: 'string',
    commands: NATS_COMMANDS,
    group: NATS_GROUP,
    help: 'NATS token (server: authorization { token })',
  },
  {
    name: 'nats-user',
    type: 'string',
    commands: NATS_COMMANDS,
    group: NATS_GROUP,
    help: 'NATS user (with --nats-pass)',
  },
  { name: 'nats-pass', type: 'string', commands: NATS_COMMANDS, group: NATS_GROUP, help: 'NATS password' },
  {
    name: 'nats-creds',
    type: 'string',
    commands: NATS_COMMANDS,
    group: NATS_GROUP,
    help: 'a NATS .creds file (user JWT and nkey seed)',
  },
  {
    name: 'nats-ca',
    type: 'string',
    commands: NATS_COMMANDS,
    group: NATS_GROUP,
    help: "PEM CA that signed the NATS server's certificate (turns on TLS)",
  },
  {
    name: 'nats-cert',
    type: 'string',
    commands: NATS_COMMANDS,
    group: NATS_GROUP,
    help: 'PEM client certificate, for servers that verify clients',
  },
  { name: 'nats-key', type: 'string', commands: NATS_COMMANDS, group: NATS_GROUP, help: 'PEM key of --nats-cert' },

  // Receivers: listen, harvester
  {
    name: 'dir',
    type: 'list',
    commands: RECEIVERS,
    required: 'name at least one directory to receive into: --dir /mnt/disk1',
    defaultText: 'required',
    help: 'a receiving directory; repeat per disk (or give a,b,c). Each file goes to the one with most free space',
  },
  {
    name: 'host',
    type: 'string',
    commands: RECEIVERS,
    help: 'address to listen on',
    default: '0.0.0.0',
    per: {
      harvester: {
        default: undefined,
        defaultText: 'first non-loopback IPv4',
        help: 'address plotters connect to',
      },
    },
  },
  { name: 'port', type: 'port', default: 8740, commands: ['listen'], help: 'TCP port to listen on (0: any free port)' },
  {
    name: 'token',
    type: 'string',
    commands: ['listen', 'send', 'speedtest'],
    help: "the receiver's shared secret, the same on both ends (or PLOTFERRY_TOKEN)",
    per: {
      listen: { defaultText: 'required', help: 'shared secret senders must present (or PLOTFERRY_TOKEN)' },
      send: { defaultText: 'required with --to' },
      speedtest: { help: "with --to: the receiver's shared secret (or PLOTFERRY_TOKEN)" },
    },
  },
  {
    name: 'reserve',
    type: 'bytes',
    default: '0',
    commands: RECEIVERS,
    help: 'space to leave free on every disk (e.g. 2G)',
  },
  {
    name: 'allow-root-fs',
    type: 'boolean',
    default: false,
    commands: RECEIVERS,
    help: 'use a --dir on the root filesystem (the one / is on); without it such a directory is skipped until a disk is mounted there, so an unmounted disk never fills the OS disk',
  },
  {
    name: 'require-mount',
    type: 'boolean',
    default: false,
    commands: RECEIVERS,
    help: 'skip a --dir that is not a mount point (its disk is not mounted), so it never fills the parent',
  },
  {
    name: 'grace',
    type: 'seconds',
    default: 600,
    commands: DAEMONS,
    help: 'on SIGINT/SIGTERM, seconds running transfers get to finish (a second signal aborts them)',
    per: {
      sweep: { help: '--watch: on SIGTERM, seconds the plots in flight get to finish (a second signal aborts them)' },
    },
  },
  {
    name: 'idle-timeout',
    type: 'seconds',
    min: 1,
    default: 60,
    commands: ['listen'],
    help: 'seconds of silence before a sender is dropped',
  },
  {
    name: 'verify-plot-header',
    type: 'boolean',
    default: false,
    commands: RECEIVERS,
    help: 'take only files that start like a Chia plot (PoS1: chiapos v1 or BladeBit v2; PoS2: pos2 v1 plots or PoS2 v2 group files); refuse others before writing',
  },
  {
    name: 'flush-every',
    type: 'bytes',
    default: '64M',
    commands: RECEIVERS,
    check: (n, raw) => {
      if (n !== 0 && n < 1024 * 1024)
        throw new PlotferryError(
          'PF_CONFIG',
          `--flush-every "${raw}": give 0 (off) or at least 1M; a smaller step would sync after every write`,
        );
    },
    help: 'write-behind: sync a file being received to its disk every this many bytes, while it arrives, so the last sync before it is published is short and the disk never idles (0: only at the end)',
  },
  {
    name: 'partial-ttl',
    type: 'seconds',
    default: 3600,
    commands: RECEIVERS,
    help: "seconds a broken transfer's good bytes are kept for the sender to resume from (0: never keep)",
  },
  {
    name: 'replot',
    type: 'boolean',
    default: false,
    commands: RECEIVERS,
    help: 'replace PoS1 plots (chiapos v1, BladeBit) with incoming plots: when a plot needs more room than is free above --reserve, delete PoS1 plots (by their header) just before it is written, only as many as it needs',
  },
  {
    name: 'replot-match',
    type: 'string',
    commands: RECEIVERS,
    defaultText: 'all',
    help: 'with --replot: only PoS1 plots whose file name matches this glob may go (e.g. "plot-k32-2021-*")',
  },
  {
    name: 'replot-order',
    type: 'choice',
    choices: REPLOT_ORDERS,
    default: 'oldest',
    commands: RECEIVERS,
    help: 'with --replot: which PoS1 plots go first (by modification time or size)',
  },
  {
    name: 'replot-dry-run',
    type: 'boolean',
    default: false,
    commands: RECEIVERS,
    help: 'log which PoS1 plots --replot would delete for each plot that finds no room and no other harvester takes; delete nothing',
  },
  {
    name: 'replot-max-per-hour',
    type: 'count',
    min: 1,
    default: 60,
    commands: RECEIVERS,
    help: 'with --replot: at most this many deletions an hour (a stop for a runaway; one k32 makes room for ~100 PoS2 plots)',
  },
  {
    name: 'metrics',
    type: 'string',
    commands: DAEMONS,
    help: 'serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 0.0.0.0:9368); bytes, plots, failures by code, disks, bids. Two units on one host: PLOTFERRY_HARVESTER_METRICS, PLOTFERRY_SWEEP_METRICS',
  },
  {
    name: 'notify',
    type: 'list',
    commands: DAEMONS,
    help: "POST a JSON message to this webhook (repeat it, or give a,b,c, for several) when a disk fails, fills or is disabled, the farm has no room, a plot fails, or a disk is replotted; Gotify, Slack-compatible and Discord read it as it is; ntfy+https://HOST/TOPIC posts in ntfy's own format",
  },
  {
    name: 'notify-interval',
    type: 'seconds',
    min: 1,
    default: 3600,
    commands: DAEMONS,
    help: 'at most one message per condition in this many seconds',
  },

  // harvester
  {
    name: 'id',
    type: 'string',
    commands: ['harvester'],
    defaultText: 'host name',
    help: "this harvester's name on the bus",
  },
  {
    name: 'listen-host',
    type: 'string',
    default: '0.0.0.0',
    commands: ['harvester'],
    help: 'address the per-transfer listeners bind',
  },
  {
    name: 'max-transfers',
    type: 'count',
    min: 1,
    default: 5,
    commands: ['harvester'],
    help: 'transfers at once (also at most one per disk)',
  },
  {
    name: 'port-range',
    type: 'string',
    default: '0',
    commands: ['harvester'],
    help: 'TCP ports for transfers, "LOW-HIGH" (0: any free port); the first free one is the standing listener for bids, the rest serve claims of older plotters',
  },
  {
    name: 'claim-ttl',
    type: 'seconds',
    min: 1,
    default: 30,
    commands: ['harvester'],
    help: 'seconds a won bid waits for its transfer before the disk is freed',
  },
  {
    name: 'notify-full',
    type: 'decimal',
    min: 1,
    max: 100,
    what: 'a percentage',
    default: 95,
    commands: ['harvester'],
    help: 'with --notify: tell when a disk is this full, in percent (with --replot: a disk with no PoS1 plot left, only once its free space is below --reserve)',
  },

  // Plotters: send, sweep
  {
    name: 'to',
    type: 'string',
    commands: ['send', 'speedtest'],
    help: 'direct mode: the receiver (`plotferry listen`), HOST:PORT',
    per: { speedtest: { help: 'a `plotferry listen` receiver, HOST:PORT (needs --token)' } },
  },
  {
    name: 'plotter-id',
    type: 'string',
    commands: ['send', 'sweep', 'speedtest'],
    defaultText: 'host name',
    help: "this plotter's name on the bus",
  },
  {
    name: 'bid-timeout',
    type: 'seconds',
    min: 0.001,
    default: 2,
    commands: PLOTTERS,
    help: 'seconds to wait for a bid (bidding mode)',
  },
  {
    name: 'move',
    type: 'boolean',
    default: false,
    commands: ['send'],
    help: 'delete each source once the receiver has verified, synced and renamed it',
    elsewhere: { sweep: 'sweep always moves: each source is deleted once its copy is verified; leave --move out' },
  },
  {
    name: 'json',
    type: 'boolean',
    default: false,
    commands: ['send', 'sweep', 'status', 'speedtest'],
    help: 'print one JSON object per file (send), plot (sweep), harvester (status) or receiver (speedtest) on stdout',
  },
  {
    name: 'any-file',
    type: 'boolean',
    default: false,
    commands: PLOTTERS,
    help: 'also send files that do not start like a Chia plot at all (a format plotferry does not know yet), as they are. Without it such a file is left where it is (PF_NOT_A_PLOT). A file that starts like a plot but is not whole (PF_INCOMPLETE) or whose header does not fit it is never sent',
    per: {
      sweep: {
        help: 'also send files that do not start like a Chia plot at all (a format plotferry does not know yet), judged by --min-age alone. Without it such a file is left where it is (PF_NOT_A_PLOT). A file that starts like a plot but is not whole (PF_INCOMPLETE) or whose header does not fit it is never sent',
      },
    },
  },
  {
    name: 'retries',
    type: 'count',
    min: 0,
    default: 3,
    commands: PLOTTERS,
    help: 'times to retry a file after a broken connection or corruption in transit',
    per: { sweep: { help: 'retries per plot, each through a fresh bid preferring another harvester' } },
  },
  {
    name: 'busy-wait',
    type: 'seconds',
    default: 1800,
    commands: PLOTTERS,
    help: 'seconds to keep waiting while every receiving disk is busy with other files',
  },
  {
    name: 'group-wait',
    type: 'seconds',
    default: 300,
    commands: PLOTTERS,
    help: 'seconds a PoS2 plot waits for the busy disk that holds its plot group (CHIP-48: a group stays on one disk) before another disk will do; 0: never waits',
  },
  {
    name: 'progress',
    type: 'boolean',
    commands: PLOTTERS,
    defaultText: 'on a TTY',
    help: 'show progress bars (on a TTY: when stderr is a terminal)',
  },
  {
    name: 'bwlimit',
    type: 'decimal',
    min: 0.1,
    what: 'megabytes per second (e.g. 300)',
    commands: PLOTTERS,
    defaultText: 'none',
    help: 'cap the rate at this many megabytes (10^6 bytes) per second, all files together, for a link shared with farming',
  },

  // sweep
  {
    name: 'pattern',
    type: 'string',
    default: DEFAULT_PLOT_PATTERN,
    commands: ['sweep'],
    help: 'which files are plots (a glob on the file name): PoS1 *.plot, PoS2 *.plot2 and PoS2 plot-group files *.gplot',
  },
  {
    name: 'min-age',
    type: 'seconds',
    default: 60,
    commands: ['sweep'],
    help: 'seconds a plot must be untouched, so one still being written is left alone (a plot whose header says it is longer than the file is left alone at any age)',
  },
  {
    name: 'concurrency',
    type: 'count',
    min: 1,
    default: 2,
    commands: ['sweep'],
    help: "plots being sent at once; one whose bytes are all sent waits for its harvester's verdict (fsync, rename) outside this count, while the next one starts",
  },
  {
    name: 'dirs',
    type: 'list',
    commands: ['sweep'],
    positional: true,
    required: 'name the directories to sweep: plotferry sweep DIR [DIR ...]',
    defaultText: 'required',
    help: 'the directories holding finished plots, as given after the options; for PLOTFERRY_SWEEP_DIRS or "dirs" in --config (a unit whose settings all live in the env file)',
  },
  {
    name: 'dry-run',
    type: 'boolean',
    default: false,
    commands: ['sweep'],
    help: 'list what would be sent, send nothing',
    elsewhere: { send: 'send has no dry run: `sweep --dry-run DIR` lists what a sweep would send' },
  },
  {
    name: 'watch',
    type: 'boolean',
    default: false,
    commands: ['sweep'],
    help: 'keep running (a systemd service): move each plot as soon as it is finished, --concurrency at a time, until SIGTERM',
  },
  {
    name: 'scan-interval',
    type: 'seconds',
    min: 0.05,
    default: 10,
    commands: ['sweep'],
    help: '--watch: look at the DIRs at least this often (changes are also seen at once where fs.watch works)',
  },
  {
    name: 'retry-after',
    type: 'seconds',
    default: 60,
    commands: ['sweep'],
    help: '--watch: wait before a failed plot is tried again (doubles per failure, up to 1 h)',
  },

  // status
  {
    name: 'wait',
    type: 'seconds',
    default: 6,
    commands: ['status'],
    help: 'seconds to listen for heartbeats (harvesters send one every 5 s)',
  },
  {
    name: 'ignore-disks',
    type: 'boolean',
    default: false,
    commands: ['status'],
    help: 'exit 0 even when a disk is out of rotation, disabled or gone (the exit status then says only whether a harvester answered)',
  },

  // speedtest
  {
    name: 'harvester',
    type: 'list',
    commands: ['speedtest'],
    help: 'with --nats: only these harvester ids (repeat it, or give a,b,c; default: every live one, one after another)',
  },
  {
    name: 'seconds',
    type: 'seconds',
    min: 0.001,
    max: 3600,
    default: 10,
    commands: ['speedtest'],
    help: 'how long to send (harvesters take at most 60)',
  },
  {
    name: 'streams',
    type: 'count',
    min: 1,
    max: 64,
    default: 1,
    commands: ['speedtest'],
    help: 'parallel connections (harvesters take at most 16)',
  },

  // demo
  { name: 'files', type: 'count', min: 1, default: 4, commands: ['demo'], help: 'how many sample plots to make' },
  { name: 'size', type: 'bytes', default: '256M', commands: ['demo'], help: 'size of each sample plot' },
  { name: 'keep', type: 'boolean', default: false, commands: ['demo'], help: 'keep the demo directory afterwards' },
];

/** An option as `command` reads it: its own help and default where it has them. */
export interface CommandOption extends OptionSpec {
  command: Command;
}

export function optionsOf(command: Command): CommandOption[] {
  return OPTIONS.filter((o) => o.commands.includes(command)).map((o) => {
    const { per, ...base } = o;
    return { ...base, ...per?.[command], command };
  });
}

const BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));
export const optionNamed = (name: string): OptionSpec | undefined => BY_NAME.get(name);

/** What help shows as the default, and docs/commands.md's tables must say. */
export function shownDefault(o: OptionView & { type?: OptionType }): string | undefined {
  if (o.defaultText !== undefined) return o.defaultText;
  return o.default === undefined ? undefined : String(o.default);
}

/**
 * The yargs declaration of `command`'s options, from the table. No defaults, choices, coercion or
 * demands go to yargs: it would apply them to the command line alone, and option-sources.ts
 * merges and checks the three sources. Help shows the default all the same. `onlyGlobal`: the
 * options every command takes, for the top level (`plotferry --debug send ...`).
 */
export function declareOptions<T>(y: Argv<T>, command: Command, onlyGlobal = false): Argv<T> {
  for (const o of optionsOf(command)) {
    if (onlyGlobal && o.commands.length < COMMANDS.length) continue;
    if (o.positional) continue;
    const shown = shownDefault(o);
    const choices = o.choices ? ` (${o.choices.join(', ')})` : '';
    y.option(o.name, {
      type: o.type === 'boolean' ? 'boolean' : 'string',
      describe: `${o.help}${choices}${o.required ? ' [required]' : ''}`,
      ...(shown !== undefined && !o.required ? { defaultDescription: shown } : {}),
      ...(o.group ? { group: o.group } : {}),
    });
  }
  return y;
}
