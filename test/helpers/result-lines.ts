/**
 * The result lines of `send --json` and `sweep --json` against the one schema
 * docs/commands.md documents ("Result lines"): a field a line carries must be in that table.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/commands.md');

/** The field names of the "Result lines" table. */
export function documentedResultFields(): Set<string> {
  const text = fs.readFileSync(DOC, 'utf8');
  const section = text.slice(text.indexOf('## Result lines'), text.indexOf('## Exit status'));
  const fields = new Set<string>();
  for (const row of section.split('\n').filter((l) => l.startsWith('| `')))
    for (const m of row.split('|')[1]!.matchAll(/`(\w+)`/g)) fields.add(m[1]!);
  assert.ok(fields.has('status') && fields.has('sourceRemoved'), `no result-line table in ${DOC}`);
  return fields;
}

/** Each line a file's result, with only documented fields. */
export function assertResultLines(lines: readonly Record<string, unknown>[]): void {
  const fields = documentedResultFields();
  for (const l of lines) {
    assert.equal(typeof l.status, 'string', JSON.stringify(l));
    for (const k of Object.keys(l))
      assert.ok(fields.has(k), `${k} is not a documented result-line field: ${JSON.stringify(l)}`);
  }
}
