import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reachNotice } from '../../src/bus/nats-reach.js';

describe('reachNotice: when an outage of NATS is said', () => {
  it('not while NATS is reached, nor before the outage has lasted', () => {
    assert.equal(reachNotice({ alerted: false }, 1_000_000, 120_000), undefined);
    assert.equal(reachNotice({ downSince: 1_000_000, alerted: false }, 1_119_999, 120_000), undefined);
  });
  it('once it has lasted, with its length in minutes', () => {
    assert.deepEqual(reachNotice({ downSince: 1_000_000, alerted: false }, 1_120_000, 120_000), {
      kind: 'unreachable',
      minutes: 2,
    });
  });
  it('once per outage', () => {
    assert.equal(reachNotice({ downSince: 1_000_000, alerted: true }, 2_000_000, 120_000), undefined);
  });
});
