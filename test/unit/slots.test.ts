import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Slots } from '../../src/plotter/slots.js';

describe('slots', () => {
  it('at most `size` held; a release hands the slot to the longest waiter; a second release is a no-op', async () => {
    const s = new Slots(2);
    const a = await s.acquire();
    const b = await s.acquire();
    const order: string[] = [];
    const c = s.acquire().then((r) => (order.push('c'), r));
    const d = s.acquire().then((r) => (order.push('d'), r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], 'both wait while two are held');
    a();
    a();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['c'], 'one release lets one waiter in, a repeated one nobody');
    assert.equal(s.inUse, 2);
    b();
    (await c)();
    (await d)();
    assert.deepEqual(order, ['c', 'd']);
    assert.equal(s.inUse, 0);
  });
});
