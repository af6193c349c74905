/** The hand-over from a command's start to its serving (cli/until-signalled.ts): no signal lost. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { serveUntilSignalled } from '../../src/cli/until-signalled.js';

describe('serveUntilSignalled', () => {
  // A harvester's start ended as a SIGTERM came in: the signal, taken by libuv but not yet run,
  // was dropped when the start's listener went first, and the process ran on (a test hung).
  it('a signal that came during the start reaches the serving listener that replaces the start one', async () => {
    let startSaw = 0;
    const startListener = () => startSaw++;
    process.on('SIGTERM', startListener);
    // Delivered to libuv now; JavaScript sees it only on the loop's next turn, after the hand-over.
    process.kill(process.pid, 'SIGTERM');
    let closedWith: number | undefined;
    const served = serveUntilSignalled(
      pino({ level: 'silent' }),
      7,
      (ms) => {
        closedWith = ms;
        return Promise.resolve();
      },
      startListener,
    );
    let timer: NodeJS.Timeout | undefined;
    const lost = new Promise<'lost'>((r) => (timer = setTimeout(() => r('lost'), 3_000)));
    const outcome = await Promise.race([served.then(() => 'served' as const), lost]);
    clearTimeout(timer);
    for (const l of process.listeners('SIGTERM')) if (l !== startListener) process.off('SIGTERM', l);
    for (const l of process.listeners('SIGINT')) process.off('SIGINT', l);
    assert.equal(outcome, 'served', 'the pending SIGTERM was lost');
    assert.equal(closedWith, 7_000, 'the first signal closes gracefully');
    assert.equal(startSaw, 0, "the start's listener is gone once serving");
    assert.equal(process.listeners('SIGTERM').includes(startListener), false);
  });
});
