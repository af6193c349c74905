import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pacer } from '../../src/transfer/pace.js';

describe('Pacer (--bwlimit)', () => {
  it('spaces writes at the rate: 1 MB/s, 0.5 MB each is one every 500 ms', () => {
    const p = new Pacer(1e6);
    assert.equal(p.book(500_000, 0), 0);
    assert.equal(p.book(500_000, 0), 500);
    assert.equal(p.book(500_000, 100), 900);
  });

  it('writers sharing one pacer share the rate', () => {
    const p = new Pacer(1e6);
    // Two transfers each booking 250 kB at t=0, alternately: the fourth write waits 750 ms.
    const waits = [p.book(250_000, 0), p.book(250_000, 0), p.book(250_000, 0), p.book(250_000, 0)];
    assert.deepEqual(waits, [0, 250, 500, 750]);
  });

  it('idle time is not saved up as a burst', () => {
    const p = new Pacer(1e6);
    p.book(1_000_000, 0);
    assert.equal(p.book(1_000_000, 5_000), 0);
    assert.equal(p.book(1_000, 5_000), 1_000);
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => new Pacer(0), RangeError);
    assert.throws(() => new Pacer(Number.NaN), RangeError);
  });
});
