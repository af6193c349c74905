/**
 * Dependencies point one way, down (docs/layout.md):
 *   cli -> demo -> plotter | farm -> transfer -> storage -> wire | bus -> core
 * A reader who opens a lower folder knows that nothing above it changes its behaviour. This reads
 * every import in src/ (type-only imports too: they are dependencies of the design) and fails on
 * any that points up, or across between plotter and farm.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

/** dist/test/unit -> the repository's src/. */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

/** What each layer may import, besides itself. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  wire: ['core'],
  bus: ['core', 'wire'],
  storage: ['core', 'wire'],
  transfer: ['core', 'wire', 'storage'],
  plotter: ['core', 'wire', 'bus', 'storage', 'transfer'],
  farm: ['core', 'wire', 'bus', 'storage', 'transfer'],
  demo: ['core', 'wire', 'bus', 'storage', 'transfer', 'plotter', 'farm'],
  cli: ['core', 'wire', 'bus', 'storage', 'transfer', 'plotter', 'farm', 'demo'],
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const layerOf = (file: string) => path.relative(SRC, file).split(path.sep)[0]!;

/** Relative specifiers of every static, dynamic, type-only and re-exporting import. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]!);
  return out;
}

describe('layers', () => {
  const files = sources(SRC);

  it('finds the sources, every one in a known layer', () => {
    assert.ok(files.length > 30, `read ${files.length} files under ${SRC}`);
    const stray = files.filter((f) => !(layerOf(f) in MAY_IMPORT));
    assert.deepEqual(
      stray.map((f) => path.relative(SRC, f)),
      [],
      'every source file belongs to a layer folder',
    );
  });

  it('the import parser sees every form of import', () => {
    const text = [
      "import { a } from '../core/errors.js';",
      "import type { B } from '../wire/messages.js';",
      "export { c } from './x.js';",
      "const d = await import('../cli/progress.js');",
      "import '../side-effect.js';",
      "import x from 'nats';",
    ].join('\n');
    assert.deepEqual(importsOf(text), [
      '../core/errors.js',
      '../wire/messages.js',
      './x.js',
      '../cli/progress.js',
      '../side-effect.js',
    ]);
  });

  it('no import points up or across', () => {
    const wrong: string[] = [];
    for (const f of files) {
      const from = layerOf(f);
      for (const spec of importsOf(fs.readFileSync(f, 'utf8'))) {
        const target = path.resolve(path.dirname(f), spec);
        const to = layerOf(target);
        if (to !== from && !MAY_IMPORT[from]!.includes(to))
          wrong.push(`${path.relative(SRC, f)} imports ${spec} (${from} -> ${to})`);
      }
    }
    assert.deepEqual(wrong, [], `imports against the direction:\n${wrong.join('\n')}`);
  });

  it('storage sends no webhooks: it reports events, and the receiver notifies', () => {
    const senders = files.filter(
      (f) =>
        layerOf(f) === 'storage' && importsOf(fs.readFileSync(f, 'utf8')).some((s) => s.endsWith('/core/notify.js')),
    );
    assert.deepEqual(
      senders.map((f) => path.relative(SRC, f)),
      [],
    );
  });

  it('no re-exports: a thing is imported from the file it lives in', () => {
    const re = /^export\s*(?:type\s+)?(?:\*|\{[^}]*\})\s*(?:from\b[^;]*)?;/gm;
    const found = files.flatMap((f) =>
      (fs.readFileSync(f, 'utf8').match(re) ?? []).map((m) => `${path.relative(SRC, f)}: ${m}`),
    );
    assert.deepEqual(found, []);
  });

  it('a stored copy has one type, HeldCopy in wire/wire-messages.ts', () => {
    const re = /^export (?:interface|type) Held(?:Copy|Info)\b/m;
    const homes = files.filter((f) => re.test(fs.readFileSync(f, 'utf8'))).map((f) => path.relative(SRC, f));
    assert.deepEqual(homes, ['wire/wire-messages.ts']);
  });

  it('every file name is one file: a name says which file without its folder (speedtest.ts was three)', () => {
    const byName = new Map<string, string[]>();
    for (const f of files)
      byName.set(path.basename(f), [...(byName.get(path.basename(f)) ?? []), path.relative(SRC, f)]);
    assert.deepEqual(
      [...byName.values()].filter((fs) => fs.length > 1),
      [],
    );
  });
});
