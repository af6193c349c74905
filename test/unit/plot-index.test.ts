/** The plot index's pure parts (storage/plot-index.ts): its file format, and what a scan reads. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeIndex,
  encodeIndex,
  fileKey,
  type HeaderSummary,
  type IndexEntry,
  PLOT_INDEX_VERSION,
  reconcile,
  sizeOfKey,
} from '../../src/storage/plot-index.js';

const pos1: HeaderSummary = { pos: 1, format: 'chiapos-v1', k: 32 };
const pos2: HeaderSummary = { pos: 2, format: 'pos2-v1', k: 28, strength: 2, metaGroup: 3, groupKey: 'ab'.repeat(16) };
const entries = new Map<string, IndexEntry>([
  ['a.plot', { key: '108000000000:12:1700000000123456789', header: pos1 }],
  ['b.plot2', { key: '5000:13:1700000000000000001', header: pos2 }],
  ['c.plot', { key: '10:14:1', header: null }],
]);

describe('plot index file', () => {
  it('decodes what it encodes: headers, not-a-plot entries, keys to the nanosecond', () => {
    const r = decodeIndex(encodeIndex(entries));
    assert.ok(r.ok);
    assert.deepEqual(r.entries, entries);
    const empty = decodeIndex(encodeIndex(new Map()));
    assert.ok(empty.ok);
    assert.equal(empty.entries.size, 0);
  });

  it('says whether it holds every plot of its directory (whole), and its sizes from the keys', () => {
    const r = decodeIndex(encodeIndex(entries, true));
    assert.ok(r.ok && r.whole);
    const n = decodeIndex(encodeIndex(entries));
    assert.ok(n.ok && !n.whole);
    assert.equal(decodeIndex(encodeIndex(entries).replace(/\n/, ' wholly\n')).ok, false, 'another word is garbage');
    assert.equal(sizeOfKey('108000000000:12:1700000000123456789'), 108_000_000_000);
  });

  it('keys a file by size, inode and mtime in ns', () => {
    assert.equal(fileKey({ size: 5n, ino: 7n, mtimeNs: 1700000000123456789n }), '5:7:1700000000123456789');
  });

  it('is not believed when cut short anywhere', () => {
    const text = encodeIndex(entries);
    for (const cut of [text.length - 1, text.length - 20, text.indexOf('\n') + 1, 30]) {
      const r = decodeIndex(text.slice(0, cut));
      assert.equal(r.ok, false, `cut at ${cut}`);
      assert.ok(!r.ok && (r.why === 'truncated' || r.why === 'garbage'), `cut at ${cut}: ${JSON.stringify(r)}`);
    }
    // A whole line lost, the rest intact: the count and checksum both say so.
    const lines = text.split('\n');
    const r = decodeIndex([lines[0], lines[1], lines[3], ''].join('\n'));
    assert.deepEqual(r, { ok: false, why: 'truncated' });
  });

  it('is not believed when garbled: another file, random bytes, an altered entry', () => {
    assert.deepEqual(decodeIndex(''), { ok: false, why: 'garbage' });
    assert.deepEqual(decodeIndex('\u0000\u0001garbage\n[1,2]\n'), { ok: false, why: 'garbage' });
    assert.deepEqual(decodeIndex('plotferry-plot-index x 1 00\n'), { ok: false, why: 'garbage' });
    const text = encodeIndex(entries);
    assert.deepEqual(decodeIndex(text.replace('chiapos-v1', 'chiapos-v2')), { ok: false, why: 'truncated' });
  });

  it('says when a newer version wrote it (rebuilt, not misread)', () => {
    const text = encodeIndex(entries).replace(`plotferry-plot-index ${PLOT_INDEX_VERSION} `, 'plotferry-plot-index 7 ');
    assert.deepEqual(decodeIndex(text), { ok: false, why: 'future', version: 7 });
  });

  it('holds 18,000 plots in a few MB', () => {
    const many = new Map<string, IndexEntry>();
    for (let i = 0; i < 18_000; i++)
      many.set(`plot-k32-2024-05-01-12-00-${i.toString(16).padStart(64, '0')}.plot2`, {
        key: `108837190000:${1000 + i}:1714564800123456789`,
        header: pos2,
      });
    const text = encodeIndex(many);
    assert.ok(text.length < 18_000 * 300, `${text.length} bytes`);
    const r = decodeIndex(text);
    assert.ok(r.ok && r.entries.size === 18_000);
  });
});

describe('reconciling a listing with the index', () => {
  it('keeps what it knows of the same file, reads what is new or changed, drops what is gone', () => {
    const listing = new Map([
      ['a.plot', '108000000000:12:1700000000123456789'], // the same file
      ['b.plot2', '5000:99:1700000000000000001'], // replaced under its name: another inode
      ['d.plot2', '7:15:1'], // new
    ]);
    const r = reconcile(listing, entries);
    assert.deepEqual([...r.keep.keys()], ['a.plot']);
    assert.deepEqual(r.keep.get('a.plot'), entries.get('a.plot'));
    assert.deepEqual(r.read.sort(), ['b.plot2', 'd.plot2']);
    assert.deepEqual(r.drop.sort(), ['b.plot2', 'c.plot']);
  });

  it('reads a file whose size or mtime changed, even by a nanosecond', () => {
    const one = new Map([['a.plot', { key: '10:1:1000', header: pos1 }]]);
    for (const key of ['11:1:1000', '10:1:1001', '10:2:1000'])
      assert.deepEqual(reconcile(new Map([['a.plot', key]]), one).read, ['a.plot'], key);
  });

  it('reads nothing on an unchanged directory', () => {
    const listing = new Map([...entries].map(([n, e]) => [n, e.key]));
    const r = reconcile(listing, entries);
    assert.deepEqual([r.read, r.drop, r.keep.size], [[], [], 3]);
  });
});
