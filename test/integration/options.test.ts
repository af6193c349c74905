/**
 * The three sources of an option through the CLI (cli/options.ts, cli/option-sources.ts): a flag,
 * PLOTFERRY_* and --config give the same sweep. Before, `{"any-file": "yes"}` in --config was
 * false where PLOTFERRY_ANY_FILE=yes was true, a config file with a section per command was
 * refused, PLOTFERRY_NOTIFY="URL1,URL2" was one webhook at a mangled URL, a misspelt
 * PLOTFERRY_CONCURENCY was ignored, and an unknown flag printed the whole --help.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startCli } from '../helpers/cli.js';
import { tmpDir, writePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';

describe('a flag, PLOTFERRY_* and --config mean the same', () => {
  let d: string;
  let plots: string;
  before(async () => {
    d = await tmpDir('pf-sources-');
    plots = path.join(d, 'plots');
    fs.mkdirSync(plots);
    // A whole plot written 2 min ago, one written 30 s ago, and a file that is not a plot.
    for (const [name, age] of [
      ['old.plot', 120],
      ['fresh.plot', 30],
    ] as const) {
      writePlot(path.join(plots, name), 1000);
      const t = Date.now() / 1000 - age;
      fs.utimesSync(path.join(plots, name), t, t);
    }
    fs.writeFileSync(path.join(plots, 'junk.plot'), 'not a plot');
    const t = Date.now() / 1000 - 120;
    fs.utimesSync(path.join(plots, 'junk.plot'), t, t);
  });
  after(() => fsp.rm(d, { recursive: true, force: true }));

  /** What `sweep --dry-run` would do, in file-name order. */
  const plan = (stdout: string) =>
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/ \(\d+ bytes\)$/, '').replace(plots + path.sep, ''))
      .sort();

  it('a boolean word and a duration with a unit, from each source', async () => {
    const config = path.join(d, 'farm.json');
    // One file for every command of a farm: shared keys at the top, a section per command.
    fs.writeFileSync(
      config,
      JSON.stringify({
        nats: 'nats://127.0.0.1:1',
        harvester: { dir: ['/mnt/d1'], replot: 'yes' },
        sweep: { 'min-age': '1m', 'any-file': 'yes' },
      }),
    );
    const runs = {
      flag: await runCli(['sweep', '--dry-run', '--min-age', '1m', '--any-file=yes', plots]),
      env: await runCli(['sweep', '--dry-run', plots], { PLOTFERRY_MIN_AGE: '1m', PLOTFERRY_ANY_FILE: 'YES' }),
      scoped: await runCli(['sweep', '--dry-run', plots], {
        PLOTFERRY_SWEEP_MIN_AGE: '1m',
        PLOTFERRY_SWEEP_ANY_FILE: '1',
      }),
      config: await runCli(['sweep', '--dry-run', '--config', config, plots]),
      // The file itself for one command only, as any option (it was ignored).
      scopedConfig: await runCli(['sweep', '--dry-run', plots], { PLOTFERRY_SWEEP_CONFIG: config }),
    };
    for (const [source, r] of Object.entries(runs)) {
      assert.equal(r.code, 0, `${source}: ${r.stderr}`);
      // --min-age 1m from each source: the plot written 30 s ago is left (and said to be).
      assert.deepEqual(
        plan(r.stdout),
        ['would leave 1 plot(s) written to within --min-age (60 s)', 'would send junk.plot', 'would send old.plot'],
        source,
      );
    }
    // And "no" is no everywhere: the junk is left where it is.
    const off = await runCli(['sweep', '--dry-run', '--min-age', '1m', plots], { PLOTFERRY_ANY_FILE: 'no' });
    assert.equal(off.code, 1, off.stderr);
    const [young, leave, send] = plan(off.stdout);
    assert.match(young!, /^would leave 1 plot\(s\) written to within --min-age/);
    assert.match(leave!, /^would leave junk\.plot: PF_NOT_A_PLOT/);
    assert.equal(send, 'would send old.plot');
  });

  it('refuses a word that is not a boolean, naming where it came from', async () => {
    const r = await runCli(['sweep', '--dry-run', plots], { PLOTFERRY_ANY_FILE: 'maybe' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PF_CONFIG: PLOTFERRY_ANY_FILE: --any-file "maybe" is not true or false/);
  });

  it('a misspelt PLOTFERRY_ name is refused with the right one', async () => {
    const r = await runCli(['sweep', '--dry-run', plots], { PLOTFERRY_CONCURENCY: '4' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /PF_CONFIG: PLOTFERRY_CONCURENCY .*did you mean PLOTFERRY_CONCURRENCY\?/);
  });

  it('an unknown flag: the error and a suggestion, not the whole --help', async () => {
    const r = await runCli(['sweep', '--dry-run', '--concurency', '4', plots]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PF_CONFIG: unknown option --concurency \(did you mean --concurrency\?\)/);
    assert.doesNotMatch(r.stderr + r.stdout, /Options:|--scan-interval/, 'no --help dump');
  });

  it('a wrong choice in plotferry\'s words, not yargs\' "Invalid values"', async () => {
    const r = await runCli(['listen', '--dir', d, '--token', 't', '--replot', '--replot-order', 'random']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PF_CONFIG: --replot-order "random" is not one of oldest, newest, largest, smallest/);
    assert.doesNotMatch(r.stderr, /Invalid values/);
  });
});

describe('PLOTFERRY_NOTIFY="URL1,URL2"', () => {
  it('is two webhooks, as --notify URL1 --notify URL2 is', async () => {
    const got: string[][] = [[], []];
    const servers = got.map((bodies) =>
      http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          bodies.push(`${req.url} ${body}`);
          res.end();
        });
      }),
    );
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const urls = servers.map((s, i) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook${i}`);
    const d = await tmpDir('pf-notify-list-');
    // A receiver with no usable directory says so by webhook at once (no-usable-disk).
    const c = startCli(
      ['listen', '--dir', path.join(d, 'missing'), '--token', 't', '--host', '127.0.0.1', '--port', '0'],
      {
        PLOTFERRY_NOTIFY: urls.join(','),
      },
    );
    try {
      await waitFor(() => got.every((b) => b.length > 0), 15_000, `a POST at each of ${urls.join(', ')}`);
      assert.match(got[0]![0]!, /^\/hook0 .*no-usable-disk/);
      assert.match(got[1]![0]!, /^\/hook1 .*no-usable-disk/);
    } finally {
      c.child.kill('SIGTERM');
      await c.done;
      servers.forEach((s) => s.close());
      await fsp.rm(d, { recursive: true, force: true });
    }
  });
});
