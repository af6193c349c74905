/**
 * The plots written by Chia's own plotters (chiapos k18 PoS1, pos2-chip k18/k20 PoS2), kept in
 * ../shared/fixtures/real-plots beside this repository; their README gives layouts and sources.
 * Tests that need them skip, saying why, where that directory is absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** This repository's root: the tests run compiled, from dist/test/helpers. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const REAL_PLOTS_DIR =
  process.env.PLOTFERRY_REAL_PLOTS ?? path.join(root, '..', 'shared', 'fixtures', 'real-plots');

export interface RealPlot {
  file: string;
  name: string;
  pos: 1 | 2;
  size: number;
}

/** The real plots, or undefined (with `skip` saying why) where the fixtures are absent. */
export function realPlots(): { plots: RealPlot[]; skip?: undefined } | { plots: []; skip: string } {
  let names: string[];
  try {
    names = fs.readdirSync(REAL_PLOTS_DIR).filter((n) => /\.plot2?$/.test(n));
  } catch {
    return { plots: [], skip: `no reference plots at ${REAL_PLOTS_DIR} (../shared/fixtures is absent)` };
  }
  if (names.length === 0) return { plots: [], skip: `no reference plots in ${REAL_PLOTS_DIR}` };
  return {
    plots: names.sort().map((name) => {
      const file = path.join(REAL_PLOTS_DIR, name);
      return { file, name, pos: name.endsWith('.plot2') ? 2 : 1, size: fs.statSync(file).size };
    }),
  };
}
