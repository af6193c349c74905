/** What a sweep finds in its directories (plotter/sweep-plots.ts findPlots), real files. */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findPlots } from '../../src/plotter/sweep-plots.js';
import { tmpDir, writeRandomFile } from '../helpers/files.js';

describe('findPlots', () => {
  let dir: string;
  before(async () => {
    dir = await tmpDir('pf-findplots-');
  });
  after(() => fsp.rm(dir, { recursive: true, force: true }));

  // A farmer's trial: `sweep plots/*.plot2` said "not a directory", nothing about what to use.
  it('a plot file given as a DIR is unreadable, and the message points to send for one file', async () => {
    const file = path.join(dir, 'plot-k28-a.plot2');
    writeRandomFile(file, 10);
    const r = await findPlots([file], undefined, 0);
    assert.equal(r.found.length, 0);
    assert.equal(r.unreadable.length, 1);
    assert.equal(r.unreadable[0]!.error.code, 'PF_SOURCE');
    assert.match(
      r.unreadable[0]!.error.message,
      /not a directory \(sweep takes the directories plots are in; `plotferry send --nats URL .*plot-k28-a\.plot2` moves one file\)/,
    );
  });

  it('a DIR that does not exist says it may not be mounted', async () => {
    const r = await findPlots([path.join(dir, 'nvme2')], undefined, 0);
    assert.match(r.unreadable[0]!.error.message, /does not exist \(not mounted\?\)/);
  });
});
