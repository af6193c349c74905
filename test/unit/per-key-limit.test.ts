/** Header reads capped per disk, not per process (core/per-key-limit.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PerKeyLimit } from '../../src/core/per-key-limit.js';

/** A task that runs until its gate is opened, noting how many of its key ran at once. */
function gated() {
  const opens: (() => void)[] = [];
  const started: string[] = [];
  const task = (key: string, id: string) => () =>
    new Promise<string>((resolve) => {
      started.push(id);
      opens.push(() => resolve(`${key}:${id}`));
    });
  const openAll = () => opens.splice(0).forEach((f) => f());
  return { task, started, openAll };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('per-key limit', () => {
  it('runs at most perKey tasks of one key at once, the rest in order after them', async () => {
    const l = new PerKeyLimit<string>(2);
    const g = gated();
    const all = ['1', '2', '3', '4', '5'].map((id) => l.run('sda', g.task('sda', id)));
    await tick();
    assert.deepEqual(g.started, ['1', '2']);
    assert.deepEqual([l.inFlight('sda'), l.queued('sda')], [2, 3]);
    g.openAll();
    await tick();
    await tick();
    assert.deepEqual(g.started, ['1', '2', '3', '4']);
    while (g.started.length < 5 || l.inFlight('sda') > 0) {
      g.openAll();
      await tick();
    }
    assert.deepEqual(await Promise.all(all), ['sda:1', 'sda:2', 'sda:3', 'sda:4', 'sda:5']);
    assert.deepEqual([l.inFlight('sda'), l.queued('sda')], [0, 0]);
  });

  it('does not make one key wait for another: 20 disks run side by side', async () => {
    const l = new PerKeyLimit<number>(2);
    const g = gated();
    const runs: Promise<string>[] = [];
    for (let dev = 0; dev < 20; dev++)
      for (let i = 0; i < 5; i++) runs.push(l.run(dev, g.task(String(dev), `${dev}.${i}`)));
    await tick();
    assert.equal(g.started.length, 40, 'two of each of the 20 disks at once');
    for (let dev = 0; dev < 20; dev++) assert.deepEqual([l.inFlight(dev), l.queued(dev)], [2, 3]);
    while (l.inFlight(0) > 0 || g.started.length < 100) {
      g.openAll();
      await tick();
    }
    assert.equal((await Promise.all(runs)).length, 100);
  });

  it('frees the slot of a task that failed', async () => {
    const l = new PerKeyLimit<string>(1);
    await assert.rejects(
      l.run('a', () => Promise.reject(new Error('EIO'))),
      /EIO/,
    );
    assert.equal(await l.run('a', () => Promise.resolve(7)), 7);
    assert.equal(l.inFlight('a'), 0);
  });

  it('refuses a cap that is no positive integer', () => {
    assert.throws(() => new PerKeyLimit(0), RangeError);
    assert.throws(() => new PerKeyLimit(1.5), RangeError);
  });
});
