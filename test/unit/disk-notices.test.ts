/**
 * Storage reports what happens to a receiver's disks; the receiver turns each event into a
 * webhook. The text and the dedup key of each are fixed here, as they were when storage sent them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diskNotice } from '../../src/transfer/disk-notices.js';

describe('diskNotice', () => {
  it('a failed write: critical, keyed by the directory, with its reason and its return', () => {
    const n = diskNotice({ kind: 'failed', dir: '/d1', reason: 'writing x: EIO', until: Date.UTC(2026, 0, 1) });
    assert.equal(n.key, 'disk-failed:/d1');
    assert.equal(n.severity, 'critical');
    assert.equal(n.title, 'a disk failed a write');
    assert.match(n.message, /^\/d1 failed a write \(writing x: EIO\); .*until 2026-01-01T00:00:00.000Z.*smartctl/);
  });

  it('disabled, gone, back and no usable disk keep their keys and severities', () => {
    const cases = [
      [{ kind: 'disabled', dir: '/d', file: 'plotferry.disable' }, 'disk-disabled:/d', 'warning'],
      [{ kind: 'gone', dir: '/d', why: 'is not mounted' }, 'disk-gone:/d', 'critical'],
      [{ kind: 'back', dir: '/d' }, 'disk-back:/d', 'info'],
      [{ kind: 'no-usable-disk', role: 'harvester', why: '/d: gone' }, 'no-usable-disk', 'critical'],
    ] as const;
    for (const [e, key, severity] of cases) {
      const n = diskNotice(e);
      assert.equal(n.key, key);
      assert.equal(n.severity, severity);
      assert.ok(n.message.startsWith(e.kind === 'no-usable-disk' ? 'no --dir' : '/d '), n.message);
    }
    assert.equal(
      diskNotice({ kind: 'no-usable-disk', role: 'listener', why: 'x' }).title,
      'a listener has no usable disk',
    );
    assert.match(
      diskNotice({ kind: 'disabled', dir: '/d', file: 'plotferry.disable' }).message,
      /holds plotferry\.disable/,
    );
  });
});
