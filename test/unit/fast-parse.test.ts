/**
 * The command line read without yargs (cli/fast-parse.ts) must give each command exactly what
 * yargs gives it, or decline. Every option of every command is tried both ways, from the table,
 * and the two results, after the three sources are merged (resolveOptions), must be equal: the
 * same values, or the same refusal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import yargs from 'yargs';
import type { DefinedCommand } from '../../src/cli/command.js';
import { demoCommand } from '../../src/cli/demo.js';
import { fastParse, positionalsOf } from '../../src/cli/fast-parse.js';
import { harvesterCommand } from '../../src/cli/harvester.js';
import { listenCommand } from '../../src/cli/listen.js';
import { normaliseBooleanArgs, resolveOptions } from '../../src/cli/option-sources.js';
import { type Command, type CommandOption, optionsOf } from '../../src/cli/options.js';
import { sendCommand } from '../../src/cli/send.js';
import { speedtestCommand } from '../../src/cli/speedtest.js';
import { statusCommand } from '../../src/cli/status.js';
import { sweepCommand } from '../../src/cli/sweep.js';

const MODULES: DefinedCommand[] = [
  listenCommand,
  sendCommand,
  harvesterCommand,
  sweepCommand,
  statusCommand,
  speedtestCommand,
  demoCommand,
];
const moduleOf = (c: Command) => MODULES.find((m) => m.name === c)!;

/** What yargs hands the command's handler for `args`, as main.ts sets it up; undefined if it refuses. */
async function viaYargs(c: Command, args: string[]): Promise<Record<string, unknown> | undefined> {
  const m = moduleOf(c);
  let got: Record<string, unknown> | undefined;
  await yargs(args)
    .command({ ...m, command: String(m.command).replace(/^\S+/, '$0'), handler: (a) => void (got = a) })
    .strict()
    .exitProcess(false)
    .fail(() => undefined)
    .parseAsync();
  return got;
}

const viaFast = (c: Command, args: string[]) => fastParse(c, args, positionalsOf(String(moduleOf(c).command)));

/** The options as the handler gets them, or the refusal's message. */
function merged(c: Command, flags: Record<string, unknown>): unknown {
  try {
    const all = resolveOptions({ command: c, flags, env: {} });
    delete all._;
    delete all.$0;
    return all;
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

/** A value each type takes, and one it refuses. */
function sample(o: CommandOption): string[] {
  switch (o.type) {
    case 'boolean':
      return [];
    case 'count':
    case 'decimal':
      return [String(o.min ?? 1), 'lots'];
    case 'seconds':
      return ['90s', '-'];
    case 'bytes':
      return ['2G', '2Q'];
    case 'port':
      return ['8740', '70000'];
    case 'choice':
      return [o.choices![0]!, 'neither'];
    case 'list':
      return ['a,b'];
    default:
      return ['some value'];
  }
}

/** Lines that use each option of `c` once, with the positionals the command needs. */
function linesOf(c: Command): string[][] {
  const pos = positionalsOf(String(moduleOf(c).command));
  const tail = pos ? ['/plots/a.plot2', '/plots/b.plot'] : [];
  const base = c === 'listen' || c === 'harvester' ? ['--dir', '/mnt/d1'] : [];
  const lines: string[][] = [];
  for (const o of optionsOf(c).filter((x) => !x.positional)) {
    if (o.type === 'boolean') {
      lines.push([...base, `--${o.name}`, ...tail], [...base, `--no-${o.name}`, ...tail]);
      lines.push([...base, `--${o.name}=no`, ...tail]);
    } else
      for (const v of sample(o)) {
        lines.push([...base, `--${o.name}`, v, ...tail], [...base, ...tail, `--${o.name}=${v}`]);
        if (o.type === 'list') lines.push([...base, `--${o.name}`, v, `--${o.name}`, 'c', ...tail]);
      }
  }
  return lines;
}

describe('a plain command line read without yargs', () => {
  for (const c of MODULES.map((m) => m.name)) {
    it(`${c}: every option gives the handler what yargs gives it`, async () => {
      let taken = 0;
      for (const raw of linesOf(c)) {
        const args = normaliseBooleanArgs(raw);
        const fast = viaFast(c, args);
        const slow = await viaYargs(c, args);
        if (fast === undefined) continue;
        taken++;
        assert.ok(slow, `yargs refuses ${raw.join(' ')}, which the fast reader took`);
        assert.deepEqual(merged(c, fast), merged(c, slow), raw.join(' '));
      }
      // Declining every line would pass the comparison: most lines must be read.
      assert.ok(taken >= linesOf(c).length * 0.9, `read ${taken} of ${linesOf(c).length} lines`);
    });
  }

  it('declines what yargs must refuse, explain or show', () => {
    const declined: [Command, string[]][] = [
      ['send', ['--help', 'a.plot']],
      ['send', ['-h']],
      ['send', ['--version']],
      ['send', ['--tox', 'h:1', 'a.plot']],
      ['send', ['--to', 'h:1']],
      ['send', ['--to', 'h:1', '--to', 'h:2', 'a.plot']],
      ['send', ['--to', 'h:1', '--', '-a.plot']],
      ['sweep', ['--reserve', '-5G', '/plots']],
      ['sweep', ['--min-age']],
      ['status', ['extra']],
      ['harvester', ['--dir', '/d', '--dryRun']],
    ];
    for (const [c, args] of declined) assert.equal(viaFast(c, args), undefined, `${c} ${args.join(' ')}`);
  });

  it('keeps the positionals in order, and a list given twice adds up', () => {
    assert.deepEqual(viaFast('send', ['--to', 'h:1', 'b.plot', 'a.plot', '--move']), {
      _: [],
      to: 'h:1',
      move: true,
      files: ['b.plot', 'a.plot'],
    });
    assert.deepEqual(viaFast('sweep', ['--nats', 'nats://a:1', '--nats', 'nats://b:2', '/p'])?.nats, [
      'nats://a:1',
      'nats://b:2',
    ]);
  });

  it('reads the positionals of a command string', () => {
    assert.deepEqual(positionalsOf('send <files..>'), { name: 'files', min: 1 });
    assert.deepEqual(positionalsOf('sweep [dirs..]'), { name: 'dirs', min: 0 });
    assert.equal(positionalsOf('status'), undefined);
  });
});
