/**
 * The options table and the three sources read through it (cli/options.ts, cli/option-sources.ts),
 * without a process or a server. Before, `{"replot": "yes"}` in --config was false while
 * PLOTFERRY_REPLOT=yes was true, PLOTFERRY_NOTIFY="URL1,URL2" was one URL, a misspelt
 * PLOTFERRY_CONCURENCY was ignored, and a --config file for two commands was refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlotferryError } from '../../src/core/errors.js';
import {
  nearest,
  normaliseBooleanArgs,
  parseConfigText,
  parseValue,
  resolveOptions,
  Sources,
  sourceOf,
  refusePositionalFlags,
  unknownFlags,
} from '../../src/cli/option-sources.js';
import { COMMANDS, optionsOf, OPTIONS } from '../../src/cli/options.js';

const config = (data: Record<string, unknown>) => ({ file: '/etc/plotferry/pf.json', data });
/** resolveOptions, with a --dir for the receivers and DIRs for sweep (they require them) where the test gives none. */
function resolve(s: Partial<Sources> & Pick<Sources, 'command'>) {
  const flags = { ...s.flags };
  const data = s.config?.data ?? {};
  const hasDir =
    'dir' in flags ||
    s.env?.PLOTFERRY_DIR ||
    'dir' in data ||
    Object.values(data).some((v) => typeof v === 'object' && v !== null && 'dir' in v);
  if ((s.command === 'listen' || s.command === 'harvester') && !hasDir) flags.dir = '/d';
  if (s.command === 'sweep' && !('dirs' in flags) && !s.env?.PLOTFERRY_DIRS && !s.env?.PLOTFERRY_SWEEP_DIRS)
    flags.dirs = ['/plots'];
  return resolveOptions({ env: {}, ...s, flags });
}
/** PF_CONFIG whose message matches `re`. */
const refused = (re: RegExp) => (e: unknown) =>
  e instanceof PlotferryError && e.code === 'PF_CONFIG' && re.test(e.message);

describe('the options table', () => {
  it('declares each option once, with a type, help and at least one command', () => {
    const names = OPTIONS.map((o) => o.name);
    assert.deepEqual(names, [...new Set(names)], 'no name twice');
    for (const o of OPTIONS) {
      assert.ok(o.help.length > 10, `${o.name} has help`);
      assert.ok(o.commands.length > 0, `${o.name} belongs to a command`);
      for (const c of Object.keys(o.per ?? {})) assert.ok(o.commands.includes(c as never), `${o.name}: per ${c}`);
    }
  });

  it("takes each default through the option's own parser (a default that would be refused is a bug)", () => {
    for (const c of COMMANDS)
      for (const o of optionsOf(c))
        if (o.default !== undefined) assert.doesNotThrow(() => parseValue(o, o.default), `${c} --${o.name}`);
  });

  it('gives every command the global options', () => {
    for (const c of COMMANDS)
      for (const g of ['config', 'log-level', 'debug'])
        assert.ok(
          optionsOf(c).some((o) => o.name === g),
          `${c} takes --${g}`,
        );
  });

  it('has one PLOTFERRY_<COMMAND>_<OPTION> name that reads as an option, listen-host, and says so', () => {
    const clashes = [];
    for (const c of COMMANDS)
      for (const o of optionsOf(c))
        if (OPTIONS.some((x) => x.name === `${c}-${o.name}`)) clashes.push(`${c}-${o.name}`);
    assert.deepEqual(clashes, ['listen-host']);
    // PLOTFERRY_LISTEN_HOST is harvester's --listen-host and listen's own --host: both bind it.
    // (listen bound every interface while it was set.)
    const r = resolve({ command: 'harvester', env: { PLOTFERRY_LISTEN_HOST: '10.0.0.1' } });
    assert.equal(r.listenHost, '10.0.0.1');
    assert.equal(resolve({ command: 'listen', env: { PLOTFERRY_LISTEN_HOST: '10.0.0.1' } }).host, '10.0.0.1');
    assert.equal(resolve({ command: 'listen', env: {} }).host, '0.0.0.0');
  });
});

describe('booleans mean the same from a flag, PLOTFERRY_* and --config', () => {
  const words: [unknown, boolean][] = [
    ['true', true],
    ['TRUE', true],
    ['yes', true],
    ['Yes', true],
    ['on', true],
    ['1', true],
    [true, true],
    [1, true],
    ['false', false],
    ['no', false],
    ['NO', false],
    ['Off', false],
    ['0', false],
    [false, false],
    [0, false],
  ];
  for (const [word, want] of words)
    it(`${JSON.stringify(word)} is ${want} in all three`, () => {
      const fromFlag = resolve({ command: 'listen', flags: { replot: word } }).replot;
      const fromEnv = resolve({ command: 'listen', env: { PLOTFERRY_REPLOT: String(word) } }).replot;
      const fromConfig = resolve({ command: 'listen', config: config({ replot: word }) }).replot;
      assert.deepEqual([fromFlag, fromEnv, fromConfig], [want, want, want]);
    });

  it('refuses anything else everywhere, naming the option, its source and what it takes', () => {
    assert.throws(
      () => resolve({ command: 'listen', flags: { replot: 'maybe' } }),
      refused(/^--replot "maybe" is not true or false \(give true, false, yes, no, on, off, 1 or 0\)/),
    );
    assert.throws(
      () => resolve({ command: 'listen', env: { PLOTFERRY_REPLOT: 'enabled' } }),
      refused(/^PLOTFERRY_REPLOT: --replot "enabled" is not true or false/),
    );
    assert.throws(
      () => resolve({ command: 'listen', config: config({ replot: 'y' }) }),
      refused(/^--config \/etc\/plotferry\/pf\.json, "replot": --replot "y" is not true or false/),
    );
    assert.throws(() => resolve({ command: 'listen', config: config({ replot: null }) }), refused(/--replot "null"/));
  });

  it('reads --flag=WORD on the command line as the other two do', () => {
    assert.deepEqual(normaliseBooleanArgs(['listen', '--replot=yes', '--move=0', '--to=x:1', '--', '--replot=no']), [
      'listen',
      '--replot',
      '--no-move',
      '--to=x:1',
      '--',
      '--replot=no',
    ]);
    assert.throws(() => normaliseBooleanArgs(['--replot=perhaps']), refused(/--replot "perhaps"/));
  });

  it('a boolean word after a space is the value of the flag, as "true" always was (yes was a positional)', () => {
    assert.deepEqual(normaliseBooleanArgs(['--dry-run', 'on', '/plots']), ['--dry-run', '/plots']);
    assert.deepEqual(normaliseBooleanArgs(['--dry-run', 'off', '/plots']), ['--no-dry-run', '/plots']);
    assert.deepEqual(normaliseBooleanArgs(['--replot', 'yes', '--json', 'NO', '--move', '/plots', '--any-file', '1']), [
      '--replot',
      '--no-json',
      '--move',
      '/plots',
      '--any-file',
    ]);
  });
});

describe('lists take a comma list everywhere, and repeat on the command line', () => {
  it('PLOTFERRY_NOTIFY="URL1,URL2" is two webhooks', () => {
    const r = resolve({ command: 'sweep', env: { PLOTFERRY_NOTIFY: 'http://a/x, http://b/y' } });
    assert.deepEqual(r.notify, ['http://a/x', 'http://b/y']);
  });

  it('a repeated flag, a comma list and a JSON array add up the same', () => {
    const want = ['/d1', '/d2', '/d3'];
    assert.deepEqual(resolve({ command: 'listen', flags: { dir: ['/d1', '/d2,/d3'] } }).dir, want);
    assert.deepEqual(resolve({ command: 'listen', env: { PLOTFERRY_DIR: '/d1,/d2,/d3' } }).dir, want);
    assert.deepEqual(resolve({ command: 'listen', config: config({ dir: want }) }).dir, want);
    assert.deepEqual(resolve({ command: 'listen', config: config({ dir: '/d1,/d2,/d3' }) }).dir, want);
    assert.deepEqual(resolve({ command: 'status', flags: { nats: 'nats://a:1,nats://b:2' } }).nats, [
      'nats://a:1',
      'nats://b:2',
    ]);
    assert.deepEqual(resolve({ command: 'status' }).nats, ['nats://127.0.0.1:4222'], 'the default is a list too');
  });

  it('an option that is not a list, given twice, is refused rather than half-read', () => {
    assert.throws(() => resolve({ command: 'send', flags: { to: ['a:1', 'b:2'] } }), refused(/--to is given 2 times/));
  });

  it('a required list missing from all three says where it may come from', () => {
    assert.throws(
      () => resolveOptions({ command: 'harvester', flags: {}, env: {} }),
      refused(/--dir \/mnt\/disk1 \(or PLOTFERRY_DIR, or "dir" in the --config file\)/),
    );
  });
});

describe('other types, one parser for all three sources', () => {
  it('durations, counts, sizes, choices', () => {
    for (const [src, r] of [
      ['flag', resolve({ command: 'sweep', flags: { 'min-age': '2m', concurrency: '4' } })],
      ['env', resolve({ command: 'sweep', env: { PLOTFERRY_MIN_AGE: '2m', PLOTFERRY_CONCURRENCY: '4' } })],
      ['config', resolve({ command: 'sweep', config: config({ 'min-age': '2m', concurrency: 4 }) })],
    ] as const) {
      assert.equal(r.minAge, 120, src);
      assert.equal(r.concurrency, 4, src);
    }
    assert.equal(resolve({ command: 'listen', env: { PLOTFERRY_RESERVE: '2G' } }).reserve, 2 * 2 ** 30);
    assert.throws(
      () => resolve({ command: 'listen', env: { PLOTFERRY_REPLOT_ORDER: 'random' } }),
      refused(/^PLOTFERRY_REPLOT_ORDER: --replot-order "random" is not one of oldest, newest, largest, smallest/),
    );
    assert.throws(
      () => resolve({ command: 'harvester', flags: { dir: 'x', 'notify-full': '101' } }),
      refused(/--notify-full "101": give a percentage, at most 100/),
    );
    assert.throws(
      () => resolve({ command: 'listen', flags: { dir: 'x', 'flush-every': '4k' } }),
      refused(/--flush-every "4k": give 0 \(off\) or at least 1M/),
    );
  });

  it('takes camelCase keys in --config, as yargs did', () => {
    assert.equal(resolve({ command: 'listen', config: config({ replotOrder: 'newest' }) }).replotOrder, 'newest');
  });
});

describe('precedence: command line > PLOTFERRY_<COMMAND>_* > PLOTFERRY_* > config section > config > default', () => {
  const env = { PLOTFERRY_METRICS: '0.0.0.0:9368', PLOTFERRY_SWEEP_METRICS: '0.0.0.0:9369' };
  const file = config({ metrics: ':1', harvester: { metrics: ':2', dir: ['/d'] }, sweep: { metrics: ':3' } });

  it('each source beats the next', () => {
    assert.equal(resolve({ command: 'sweep', flags: { metrics: ':9' }, env, config: file }).metrics, ':9');
    assert.equal(resolve({ command: 'sweep', env, config: file }).metrics, '0.0.0.0:9369');
    assert.equal(resolve({ command: 'harvester', env, config: file }).metrics, '0.0.0.0:9368');
    assert.equal(resolve({ command: 'harvester', config: file }).metrics, ':2');
    assert.equal(resolve({ command: 'listen', config: config({ metrics: ':1', dir: ['/d'] }) }).metrics, ':1');
    assert.equal(resolve({ command: 'listen', flags: { dir: '/d' } }).metrics, undefined);
  });

  it('one host, two units, one env file: each gets its own metrics port', () => {
    const shared = {
      PLOTFERRY_HARVESTER_METRICS: '0.0.0.0:9368',
      PLOTFERRY_SWEEP_METRICS: '0.0.0.0:9369',
      PLOTFERRY_DIR: '/d',
    };
    assert.equal(resolve({ command: 'harvester', env: shared }).metrics, '0.0.0.0:9368');
    assert.equal(resolve({ command: 'sweep', env: shared }).metrics, '0.0.0.0:9369');
    assert.equal(resolve({ command: 'listen', env: shared }).metrics, undefined);
  });
});

describe('one config file serves several commands', () => {
  const farm = config({
    nats: 'nats://farm:4222',
    token: 'secret',
    harvester: { dir: ['/mnt/d1', '/mnt/d2'], replot: 'yes' },
    sweep: { concurrency: 4, 'min-age': '90s' },
    listen: { port: 9000 },
  });

  it('shared keys at the top, a section per command; keys for other commands are left to them', () => {
    const h = resolve({ command: 'harvester', config: farm });
    assert.deepEqual([h.nats, h.dir, h.replot], [['nats://farm:4222'], ['/mnt/d1', '/mnt/d2'], true]);
    const s = resolve({ command: 'sweep', config: farm });
    assert.deepEqual([s.nats, s.concurrency, s.minAge, s.replot], [['nats://farm:4222'], 4, 90, undefined]);
    const l = resolve({ command: 'listen', flags: { dir: '/x' }, config: farm });
    assert.deepEqual([l.token, l.port, l.nats], ['secret', 9000, undefined]);
  });

  it('a key no command takes, or one its section does not, is refused with the nearest name', () => {
    assert.throws(
      () => resolve({ command: 'listen', config: config({ dirr: ['/d'] }) }),
      refused(/^--config \/etc\/plotferry\/pf\.json: unknown option "dirr" \(did you mean "dir"\?\)/),
    );
    assert.throws(
      () => resolve({ command: 'harvester', config: config({ sweep: { concurency: 4 } }) }),
      refused(
        /unknown option "concurency" in "sweep" \(sweep takes no --concurency\) \(did you mean "concurrency"\?\)/,
      ),
    );
    assert.throws(
      () => resolve({ command: 'sweep', config: config({ harvestr: { dir: ['/d'] } }) }),
      refused(/unknown option "harvestr" \(did you mean "harvester"\?\)/),
    );
  });

  it('a section that is not an object says so', () => {
    assert.throws(
      () => resolve({ command: 'sweep', config: config({ sweep: true }) }),
      refused(/"sweep" must be an object of sweep's options/),
    );
  });

  it('speedtest --harvester stays a list key (a section is an object)', () => {
    assert.deepEqual(resolve({ command: 'speedtest', config: config({ harvester: ['h1', 'h2'] }) }).harvester, [
      'h1',
      'h2',
    ]);
  });

  it('says what is wrong with a file that is not an object of options', () => {
    assert.throws(() => parseConfigText('f.json', '{"dir": ['), refused(/--config f\.json is not valid JSON/));
    assert.throws(() => parseConfigText('f.json', '[1]'), refused(/must hold a JSON object of options/));
  });
});

describe('unknown names get a "did you mean"', () => {
  it('PLOTFERRY_CONCURENCY is refused, naming PLOTFERRY_CONCURRENCY', () => {
    assert.throws(
      () => resolve({ command: 'sweep', env: { PLOTFERRY_CONCURENCY: '4' } }),
      refused(
        /^PLOTFERRY_CONCURENCY in the environment is not a plotferry option \(did you mean PLOTFERRY_CONCURRENCY\?\)/,
      ),
    );
    assert.throws(
      () => resolve({ command: 'sweep', env: { PLOTFERRY_SWEEP_CONCURENCY: '4' } }),
      refused(/PLOTFERRY_SWEEP_CONCURENCY: sweep takes no --concurency \(did you mean PLOTFERRY_SWEEP_CONCURRENCY\?\)/),
    );
    assert.throws(
      () => resolve({ command: 'listen', env: { PLOTFERRY_SWEEP_DIR: '/d', PLOTFERRY_DIR: '/d' } }),
      refused(/sweep takes no --dir/),
    );
  });

  it('leaves alone names other commands take, empty values and the non-option names', () => {
    const r = resolve({
      command: 'status',
      env: {
        PLOTFERRY_TOKEN: 'x',
        PLOTFERRY_DIR: '/z',
        PLOTFERRY_HARVESTER_METRICS: ':1',
        PLOTFERRY_HASH_IMPL: 'wasm',
        PLOTFERRY_NATS: '',
        PLOTFERRY_CONCURENCY: '',
      },
    });
    assert.deepEqual(r.nats, ['nats://127.0.0.1:4222']);
  });

  it('an unknown flag, with the nearest one the command takes', () => {
    assert.deepEqual(unknownFlags(['send', '--mvoe', '1', '--to', 'x', 'f.plot'], 'send'), [
      'unknown option --mvoe (did you mean --move?)',
    ]);
    assert.deepEqual(unknownFlags(['sweep', '--concurency', '4', '/d'], 'sweep'), [
      'unknown option --concurency (did you mean --concurrency?)',
    ]);
    assert.deepEqual(unknownFlags(['listen', '--no-replot', '--replotOrder', 'x', '--qqqqqqqq'], 'listen'), [
      'unknown option --qqqqqqqq',
    ]);
    assert.deepEqual(unknownFlags(['listen', '--reserve', '-5G'], 'listen'), [
      'unknown option -5G: a negative value? sizes, counts and durations cannot be negative',
    ]);
    assert.equal(nearest('prefx', ['prefix', 'plotter-id']), 'prefix');
    assert.equal(nearest('ab', ['xy']), undefined, 'no guess that shares nothing');
  });

  it('says when another command takes the flag, and why this one does not (sweep --mvoe said "did you mean --json?")', () => {
    assert.deepEqual(unknownFlags(['--mvoe', '/d'], 'sweep'), [
      'unknown option --mvoe: did you mean --move? sweep always moves: each source is deleted once its copy is verified; leave --move out',
    ]);
    assert.deepEqual(unknownFlags(['--move', '/d'], 'sweep'), [
      'unknown option --move: sweep always moves: each source is deleted once its copy is verified; leave --move out',
    ]);
    assert.deepEqual(unknownFlags(['--to', 'h:1', '/d'], 'sweep'), [
      'unknown option --to: sweep does not take --to (send, speedtest do)',
    ]);
    assert.match(unknownFlags(['--dry-run', 'f'], 'send')[0]!, /send has no dry run: `sweep --dry-run DIR`/);
    // A swap of two letters is one edit; a 4-letter name gets no guess three edits away.
    assert.equal(nearest('tokne', ['token', 'to']), 'token');
    assert.equal(nearest('mvoe', ['json', 'move']), 'move');
    assert.equal(nearest('mvoe', ['json']), undefined);
  });
});

describe('the shipped env file (contrib/systemd/plotferry.env)', () => {
  it('serves a host that runs both units, every line in it turned on', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../contrib/systemd/plotferry.env');
    const env: Record<string, string> = {};
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^#?\s*(PLOTFERRY_[A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) env[m[1]!] = m[2]!;
    }
    assert.ok(Object.keys(env).length >= 4, 'read its settings');
    const h = resolve({ command: 'harvester', env: { ...env, PLOTFERRY_DIR: '/d' } });
    const s = resolve({ command: 'sweep', env });
    assert.ok(h.metrics && s.metrics, 'both serve metrics');
    assert.notEqual(h.metrics, s.metrics, 'on ports of their own');
  });
});

describe('send: --to or --nats, from wherever they come', () => {
  it('takes the one given, and when both are, the one given nearer', async () => {
    const { sendMode } = await import('../../src/cli/send.js');
    assert.equal(sendMode('flag', undefined), 'direct');
    assert.equal(sendMode(undefined, 'env'), 'bidding');
    // The env file or --config names the farm's NATS; a `send --to` by hand goes direct (it was refused).
    assert.equal(sendMode('flag', 'env'), 'direct');
    assert.equal(sendMode('flag', 'config'), 'direct');
    assert.equal(sendMode('config', 'flag'), 'bidding');
    assert.throws(() => sendMode('flag', 'flag'), refused(/--to and --nats both come from the command line: give one/));
    assert.throws(() => sendMode(undefined, undefined), refused(/say where to send/));
  });

  it('knows where each option came from', () => {
    const r = resolve({ command: 'send', flags: { to: 'h:1' }, env: { PLOTFERRY_NATS: 'nats://n:1' } });
    assert.deepEqual(
      [sourceOf(r, 'to'), sourceOf(r, 'nats'), sourceOf(r, 'prefix'), sourceOf(r, 'token')],
      ['flag', 'env', 'default', undefined],
    );
  });
});

describe("sweep's DIRs from the env file or --config (they were accepted and ignored)", () => {
  it('come from PLOTFERRY_SWEEP_DIRS or "dirs", and the command line wins', () => {
    const env = { PLOTFERRY_SWEEP_DIRS: '/mnt/nvme/a,/mnt/nvme/b' };
    assert.deepEqual(resolveOptions({ command: 'sweep', flags: { dirs: [] }, env }).dirs, [
      '/mnt/nvme/a',
      '/mnt/nvme/b',
    ]);
    assert.deepEqual(
      resolveOptions({ command: 'sweep', flags: {}, env: {}, config: config({ sweep: { dirs: ['/n'] } }) }).dirs,
      ['/n'],
    );
    assert.deepEqual(resolveOptions({ command: 'sweep', flags: { dirs: ['/cli'] }, env }).dirs, ['/cli']);
  });

  it('none anywhere is PF_CONFIG that says how to give them', () => {
    assert.throws(
      () => resolveOptions({ command: 'sweep', flags: { dirs: [] }, env: {} }),
      refused(/name the directories to sweep: plotferry sweep DIR \[DIR \.\.\.\] \(or PLOTFERRY_DIRS/),
    );
  });

  it('--dirs on the command line is refused, not dropped beside DIRs', () => {
    assert.throws(
      () => refusePositionalFlags(['--dirs', '/a', '/b'], 'sweep'),
      refused(/--dirs: give them after the options/),
    );
    assert.throws(() => refusePositionalFlags(['--dirs=/a'], 'sweep'), refused(/--dirs/));
    assert.doesNotThrow(() => refusePositionalFlags(['/a', '--', '--dirs'], 'sweep'));
  });
});
