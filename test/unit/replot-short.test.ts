/** Why --replot's deletions left a plot short (storage/replot.ts whyStillShort). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { whyStillShort } from '../../src/storage/replot.js';

const GiB = 2 ** 30;
const blocks = (bytes: number) => bytes / 4096;

describe('whyStillShort', () => {
  // A farmer's HDD trial: an ext4 disk filled into its root reserve; --replot deleted a PoS1 plot
  // and said "files changed meanwhile?".
  it("names ext4's root reserve when it alone is the shortfall, and what to do", () => {
    const st = { bsize: 4096, bavail: 0, bfree: blocks(150 * GiB) };
    const why = whyStillShort(st, 1 * GiB);
    assert.match(why, /keeps 150(\.0)? GiB of its free space for root \(ext4 reserved blocks\)/);
    assert.match(why, /tune2fs -m 0/);
  });

  it('otherwise says files changed meanwhile (no reserve, or one smaller than the shortfall)', () => {
    assert.equal(whyStillShort({ bsize: 4096, bavail: 10, bfree: 10 }, GiB), 'files changed meanwhile?');
    assert.equal(whyStillShort({ bsize: 4096, bavail: 0, bfree: blocks(0.5 * GiB) }, GiB), 'files changed meanwhile?');
    assert.equal(whyStillShort(undefined, GiB), 'files changed meanwhile?');
  });
});
