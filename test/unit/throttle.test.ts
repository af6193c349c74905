import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthThrottle } from '../../src/transfer/throttle.js';

describe('AuthThrottle (wrong tokens)', () => {
  it('blocks an address after maxFailures within the window, then lets it try again', () => {
    const t = new AuthThrottle({ maxFailures: 3, windowMs: 1_000, blockMs: 500 });
    assert.equal(t.failure('a', 0), 0);
    assert.equal(t.failure('a', 10), 0);
    assert.equal(t.blockedFor('a', 10), 0);
    assert.equal(t.failure('a', 20), 500, 'the third starts a block');
    assert.equal(t.blockedFor('a', 100), 420);
    assert.equal(t.blockedFor('b', 100), 0, 'other addresses are not affected');
    assert.equal(t.blockedFor('a', 520), 0, 'the block passes');
  });

  it('failures spread wider than the window never block', () => {
    const t = new AuthThrottle({ maxFailures: 3, windowMs: 1_000, blockMs: 500 });
    for (let i = 0; i < 10; i++) assert.equal(t.failure('a', i * 600), 0);
  });

  it('the block doubles each time it is earned again, up to the cap; a right token resets it', () => {
    const t = new AuthThrottle({ maxFailures: 1, blockMs: 100, maxBlockMs: 300 });
    assert.equal(t.failure('a', 0), 100);
    assert.equal(t.failure('a', 1_000), 200);
    assert.equal(t.failure('a', 2_000), 300);
    assert.equal(t.failure('a', 3_000), 300);
    t.success('a');
    assert.equal(t.failure('a', 4_000), 100);
  });

  it('remembers at most maxHosts addresses', () => {
    const t = new AuthThrottle({ maxFailures: 2, maxHosts: 2 });
    t.failure('a', 0);
    t.failure('b', 0);
    t.failure('c', 0); // forgets a
    assert.equal(t.failure('a', 1), 0, "a's earlier failure was forgotten");
    assert.equal(t.failure('c', 1), 30_000);
  });
});
