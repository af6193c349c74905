/** Why a sweep sent nothing (plotter/nothing-sent.ts): it was silent. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LeftBehind, nothingSent } from '../../src/plotter/nothing-sent.js';

const none: LeftBehind = {
  young: 0,
  minAgeS: 60,
  incomplete: 0,
  leftOut: 0,
  unmatched: 0,
  pattern: '*.{plot,plot2,gplot}',
  locked: 0,
};

describe('a sweep that sent nothing says why', () => {
  it('names each reason with its count, in one line', () => {
    const line = nothingSent(
      { ...none, young: 2, nextReadyAt: 41_500, incomplete: 1, locked: 1, leftOut: 1, unmatched: 3 },
      0,
    );
    assert.equal(
      line.message,
      "nothing to send: 2 plots written to within --min-age (60 s; the first is ready in 42 s); 1 plot not whole yet (PF_INCOMPLETE: still being written or copied); 1 plot being moved by another sweep (its lock); 1 file left for you to look at (not a plot, or a link; see above); 3 other names that --pattern '*.{plot,plot2,gplot}' does not take",
    );
    assert.equal(line.status, 'nothing-sent');
    assert.equal(line.firstReadyInS, 42);
    assert.equal(line.young, 2);
    assert.equal('nextReadyAt' in line, false);
  });

  it('says only what applies', () => {
    assert.equal(
      nothingSent({ ...none, unmatched: 1 }, 0).message,
      "nothing to send: 1 other name that --pattern '*.{plot,plot2,gplot}' does not take",
    );
    assert.equal(
      nothingSent({ ...none, young: 1 }, 0).message,
      'nothing to send: 1 plot written to within --min-age (60 s)',
    );
  });

  it('says so when the directories hold no files at all', () => {
    assert.equal(nothingSent(none, 0).message, 'nothing to send: the swept directories hold no files');
  });
});
