import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canMove, ReceiveState } from '../../src/transfer/receive/session.js';

const ALL: ReceiveState[] = ['hello', 'accepting', 'data', 'discard', 'trailer', 'finishing', 'done', 'failed'];

describe('receive session states', () => {
  it('a file goes hello, accepting, data, trailer, finishing, done; a speedtest accepting, discard, done', () => {
    const file: ReceiveState[] = ['hello', 'accepting', 'data', 'trailer', 'finishing', 'done'];
    file.reduce((from, to) => {
      assert.ok(canMove(from, to), `${from} -> ${to}`);
      return to;
    });
    assert.ok(canMove('accepting', 'discard'));
    assert.ok(canMove('discard', 'done'));
  });

  it('every state but done and failed may fail; done and failed are the end', () => {
    for (const s of ALL) assert.equal(canMove(s, 'failed'), s !== 'done' && s !== 'failed', s);
    for (const to of ALL) {
      assert.equal(canMove('done', to), false, `done -> ${to}`);
      assert.equal(canMove('failed', to), false, `failed -> ${to}`);
    }
  });

  it('no step is skipped and none goes back', () => {
    const allowed = new Set([
      'hello>accepting',
      'accepting>data',
      'accepting>discard',
      'data>trailer',
      'discard>done',
      'trailer>finishing',
      'finishing>done',
    ]);
    for (const from of ALL)
      for (const to of ALL)
        if (to !== 'failed') assert.equal(canMove(from, to), allowed.has(`${from}>${to}`), `${from} -> ${to}`);
  });
});
