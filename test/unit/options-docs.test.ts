/**
 * The docs and --help against the options table (cli/options.ts), so the docs cannot drift
 * from the code: `status --wait` was documented as 2 s while it waited 6 s.
 * - Each command's option table in docs/commands.md, the global options' table there and the
 *   NATS login table in docs/operations.md list every option it takes, with the table's
 *   default, and nothing else.
 * - Each command's --help shows each of its options with its default.
 * - Wherever README.md, CHANGELOG.md or docs/ say "`--x` ... (default N)", N is x's default.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { COMMANDS, Command, optionsOf, shownDefault, OPTIONS } from '../../src/cli/options.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const COMMANDS_DOC = 'docs/commands.md';
const OPERATIONS_DOC = 'docs/operations.md';
/** Every page a farmer reads, for the defaults said in prose. */
const PAGES = [
  'README.md',
  'CHANGELOG.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

/** The rows of the first table after `heading` in `file`: option names -> the default cell, per option. */
function tableAfter(heading: string, file = COMMANDS_DOC): Map<string, string> {
  const doc = read(file);
  const at = doc.indexOf(heading);
  assert.ok(at >= 0, `${file} has ${heading}`);
  const rows = new Map<string, string>();
  const lines = doc.slice(at).split('\n').slice(1);
  let seen = false;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      if (seen) break;
      continue;
    }
    seen = true;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const names = [...cells[0]!.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!);
    const defaults = splitDefaults(cells[1] ?? '', names.length);
    names.forEach((n, i) => rows.set(n, defaults[i]!));
  }
  return rows;
}

/** "`plotferry`, `2`" for two options; one cell otherwise. */
function splitDefaults(cell: string, n: number): string[] {
  const parts = n > 1 ? cell.split(/,\s*/) : [cell];
  return Array.from({ length: n }, (_, i) => normalise(parts[i] ?? parts[0] ?? ''));
}

/** The docs' way of saying a default, as the table says it: `off` is false, `(required)` required. */
function normalise(cell: string): string {
  let c = cell.replace(/`/g, '').trim();
  const whole = /^\((.*)\)$/.exec(c);
  if (whole) c = whole[1]!;
  else c = c.replace(/\s+\([^)]*\)$/, '');
  return c === 'off' ? 'false' : c;
}

const tableDefault = (command: Command, name: string) => {
  const o = optionsOf(command).find((x) => x.name === name)!;
  return shownDefault(o) ?? '';
};

const GROUPED = new Set(OPTIONS.filter((o) => o.group).map((o) => o.name));

describe('the option tables of docs/commands.md hold the table of options', () => {
  for (const [command, heading] of [
    ['listen', '### `plotferry listen'],
    ['send', '### `plotferry send'],
    ['harvester', '### `plotferry harvester'],
    ['sweep', '### `plotferry sweep --nats'],
    ['status', '### `plotferry status'],
    ['speedtest', '### `plotferry speedtest'],
    ['demo', '### `plotferry demo'],
  ] as const) {
    it(`${command}: every option, with its default, and none it does not take`, () => {
      const rows = tableAfter(heading);
      // A positional (`sweep DIR...`) is in the command's heading and prose, not its table of flags.
      const own = optionsOf(command).filter((o) => !GROUPED.has(o.name) && !o.positional);
      for (const o of own) {
        assert.ok(rows.has(o.name), `${COMMANDS_DOC}'s ${command} table lists --${o.name}`);
        assert.equal(
          rows.get(o.name),
          tableDefault(command, o.name),
          `${command} --${o.name}: ${COMMANDS_DOC}'s default`,
        );
      }
      for (const name of rows.keys())
        assert.ok(
          own.some((o) => o.name === name),
          `${COMMANDS_DOC}'s ${command} table lists --${name}, which ${command} does not take`,
        );
    });
  }

  it('the global options, with their defaults', () => {
    const rows = tableAfter('### Options every command takes');
    for (const o of OPTIONS.filter((x) => x.group === 'Global:')) {
      assert.ok(rows.has(o.name), `${COMMANDS_DOC} lists --${o.name}`);
      assert.equal(rows.get(o.name), shownDefault(o) ?? '', `--${o.name}: ${COMMANDS_DOC}'s default`);
    }
  });

  it('the NATS login and TLS options', () => {
    const rows = tableAfter('## NATS login and TLS', OPERATIONS_DOC);
    for (const o of OPTIONS.filter((x) => x.name.startsWith('nats-')))
      assert.ok(rows.has(o.name), `${OPERATIONS_DOC}'s NATS login table lists --${o.name}`);
  });

  it('wherever the docs say "`--x` ... (default N)", N is the default of --x', () => {
    const wrong: string[] = [];
    let checked = 0;
    const re = /`--([a-z][a-z0-9-]*)`[^`]{0,60}?[(,]\s*default `?(\d+(?:\.\d+)?)`?( s\b| min\b| h\b)?/g;
    for (const m of PAGES.flatMap((page) => [...read(page).matchAll(re)])) {
      const o = OPTIONS.find((x) => x.name === m[1]);
      if (!o) continue; // a bench tool's flag
      const said = Number(m[2]) * ({ min: 60, h: 3600 }[m[3]?.trim() ?? ''] ?? 1);
      const defaults = o.commands.map((c) => optionsOf(c).find((x) => x.name === o.name)!.default);
      checked++;
      if (!defaults.some((d) => d !== undefined && Number(d) === said))
        wrong.push(`"${m[0].replace(/\s+/g, ' ')}": the default is ${[...new Set(defaults)].join(' or ')}`);
    }
    assert.ok(checked >= 8, `found ${checked} defaults in the prose`);
    assert.deepEqual(wrong, []);
  });
});

describe('--help shows every option with its default', () => {
  for (const command of COMMANDS) {
    it(command, () => {
      const help = execFileSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' }).split('\n');
      for (const o of optionsOf(command).filter((x) => !x.positional)) {
        // The option's entry: its line and the wrapped lines under it.
        const start = help.findIndex((l) => new RegExp(`^\\s{2,8}(-\\w, )?--${o.name}\\s`).test(l));
        assert.ok(start >= 0, `${command} --help shows --${o.name}`);
        let end = start + 1;
        while (end < help.length && /^\s{9,}\S/.test(help[end]!)) end++;
        const entry = help.slice(start, end).join(' ');
        const d = shownDefault(o);
        if (d !== undefined && !o.required)
          assert.ok(entry.includes(`[default: ${d}]`), `${command} --help: --${o.name} [default: ${d}] in "${entry}"`);
      }
    });
  }
});
