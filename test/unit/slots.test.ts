import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupGate, Slots } from '../../src/plotter/slots.js';

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

  it('a group gate lets one plot of a group through at a time, other groups freely, and forgets an idle group', async () => {
    const g = new GroupGate();
    const order: string[] = [];
    const a1 = await g.enter('a');
    const b1 = await g.enter('b'); // another group: not held back
    const a2 = g.enter('a').then((leave) => (order.push('a2'), leave));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], "a's second plot waits for its first");
    b1();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], 'the other group leaving lets nothing of a through');
    a1();
    a1(); // a second leave is a no-op
    (await a2)();
    assert.deepEqual(order, ['a2']);
    assert.equal(g.size, 0, 'no group kept once none of its plots is on its way');
  });
});
