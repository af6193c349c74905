/** What a harvester makes of a heartbeat under its own --id (farm/id-clash.ts), without NATS. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Heartbeat } from '../../src/bus/bus-messages.js';
import { idClash } from '../../src/farm/id-clash.js';

const beat = (o: Partial<Heartbeat> = {}): Heartbeat => ({
  kind: 'heartbeat',
  v: 1,
  harvester: 'h1',
  host: '10.0.0.2',
  activeTransfers: 0,
  maxTransfers: 5,
  dirs: [{ dir: '/mnt/d1', freeBytes: 0, totalBytes: 0, plots: 0, plotBytes: 0 }],
  at: 0,
  ...o,
});

describe('a heartbeat under our own --id', () => {
  it('our own (same instance) is nothing', () => {
    assert.deepEqual(idClash('h1', 'aaaa0000', beat({ instance: 'aaaa0000' })), { kind: 'none' });
  });

  it("another id's is nothing", () => {
    assert.deepEqual(idClash('h1', 'aaaa0000', beat({ harvester: 'h2', instance: 'bbbb0000' })), { kind: 'none' });
  });

  it('another instance is a clash, keyed by its nonce, naming its host and disks and the fix', () => {
    const c = idClash('h1', 'aaaa0000', beat({ instance: 'bbbb0000' }));
    assert.equal(c.kind, 'clash');
    assert.equal(c.kind === 'clash' && c.key, 'bbbb0000');
    assert.match(c.kind === 'clash' ? c.log : '', /--id h1 on 10\.0\.0\.2 \(disks \/mnt\/d1\).*its own --id/);
  });

  it('an older harvester (no nonce) is another one too, keyed by host and disks', () => {
    const c = idClash('h1', 'aaaa0000', beat());
    assert.equal(c.kind === 'clash' && c.key, '10.0.0.2:/mnt/d1');
  });
});
