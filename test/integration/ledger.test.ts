/**
 * The per-directory hash ledger (storage/ledger.ts): crash-safe, bounded, never wrong,
 * and what `has` says of plots deleted or copied in by hand.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { decodeBus, encodeBus, subjects } from '../../src/bus/bus-messages.js';
import { Ledger, LEDGER_NAME } from '../../src/storage/ledger.js';
import { tmpDir } from '../helpers/files.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { captureLog } from '../helpers/log.js';
import { startNatsServer } from '../helpers/nats-server.js';

const hex = (i: number) => i.toString(16).padStart(16, '0');

describe('hash ledger', () => {
  const made: string[] = [];
  const dir = async () => {
    const d = await tmpDir('pf-ledger-');
    made.push(d);
    return d;
  };
  after(async () => {
    for (const d of made) await fsp.rm(d, { recursive: true, force: true });
  });

  it('believes an entry only for the very file it was made for: not after an rm, not for a copy in its place', async () => {
    const d = await dir();
    fs.writeFileSync(path.join(d, 'a.plot2'), 'aaaa');
    fs.writeFileSync(path.join(d, 'b.plot2'), 'bbbb');
    const l = await Ledger.open(d);
    await l.record('a.plot2', hex(1));
    await l.record('b.plot2', hex(2));
    assert.equal(l.hashOf('a.plot2', fs.statSync(path.join(d, 'a.plot2'))), hex(1));
    // By hand: b removed, and another file of the same name and size put there.
    fs.rmSync(path.join(d, 'b.plot2'));
    fs.writeFileSync(path.join(d, 'b.plot2'), 'cccc');
    assert.equal(l.hashOf('b.plot2', fs.statSync(path.join(d, 'b.plot2'))), undefined);
    // Opened again (a restart): the same answers, and the stale entry is gone from the file.
    const again = await Ledger.open(d);
    assert.equal(again.hashOf('a.plot2', fs.statSync(path.join(d, 'a.plot2'))), hex(1));
    assert.equal(again.hashOf('b.plot2', fs.statSync(path.join(d, 'b.plot2'))), undefined);
    assert.equal(again.size, 1);
    assert.doesNotMatch(fs.readFileSync(path.join(d, LEDGER_NAME), 'utf8'), /b\.plot2/);
  });

  it('a torn last line and a corrupt line are dropped, said in the log, and the ledger rewritten clean', async () => {
    const d = await dir();
    for (const n of ['x', 'y', 'z']) fs.writeFileSync(path.join(d, `${n}.plot2`), n);
    const l = await Ledger.open(d);
    await l.record('x.plot2', hex(10));
    await l.record('y.plot2', hex(11));
    await l.record('z.plot2', hex(12));
    const file = path.join(d, LEDGER_NAME);
    const rows = fs.readFileSync(file, 'utf8').split('\n');
    // One byte of y's line flipped (its checksum no longer matches), and half a line at the end.
    rows[1] = rows[1]!.replace(hex(11), hex(99));
    fs.writeFileSync(file, `${rows.join('\n')}${rows[0]!.slice(0, 20)}`);
    const c = captureLog('debug');
    const re = await Ledger.open(d, c.log);
    const st = (n: string) => fs.statSync(path.join(d, n));
    assert.equal(re.hashOf('x.plot2', st('x.plot2')), hex(10));
    assert.equal(
      re.hashOf('y.plot2', st('y.plot2')),
      undefined,
      'the corrupt entry is unknown, never the flipped hash',
    );
    assert.equal(re.hashOf('z.plot2', st('z.plot2')), hex(12));
    assert.match(c.text(), /1 unreadable entry dropped/);
    assert.match(c.text(), /last entry was cut short/);
    const clean = fs.readFileSync(file, 'utf8');
    assert.ok(clean.endsWith('\n') && clean.trim().split('\n').length === 2, clean);
  });

  it('a process killed while appending leaves a ledger that opens, with only right hashes', async () => {
    const d = await dir();
    const N = 3000;
    for (let i = 0; i < N; i++) fs.writeFileSync(path.join(d, `p${i}.plot2`), String(i));
    const ledgerJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/storage/ledger.js');
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { Ledger } = await import(${JSON.stringify(ledgerJs)});
         const l = await Ledger.open(${JSON.stringify(d)});
         process.stdout.write('open\\n');
         for (let i = 0; i < ${N}; i++) await l.record('p' + i + '.plot2', i.toString(16).padStart(16, '0'));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    // Killed after some hundreds of appends, wherever it is.
    while (fs.existsSync(path.join(d, LEDGER_NAME)) === false || fs.statSync(path.join(d, LEDGER_NAME)).size < 30_000)
      await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const l = await Ledger.open(d);
    assert.ok(l.size > 0 && l.size < N, `${l.size} entries`);
    for (let i = 0; i < N; i++) {
      const h = l.hashOf(`p${i}.plot2`, fs.statSync(path.join(d, `p${i}.plot2`)));
      if (h !== undefined) assert.equal(h, hex(i));
    }
  });

  it('takes in the per-plot records of earlier versions, removes them, and stays bounded', async () => {
    const d = await dir();
    fs.writeFileSync(path.join(d, 'old.plot'), 'oldplot');
    fs.writeFileSync(path.join(d, '.plotferry-old.plot.xxh64'), `${JSON.stringify({ hash: hex(7), size: 7 })}\n`);
    fs.writeFileSync(path.join(d, '.plotferry-gone.plot.xxh64'), `${JSON.stringify({ hash: hex(8), size: 3 })}\n`);
    const c = captureLog('debug');
    const l = await Ledger.open(d, c.log);
    assert.equal(l.hashOf('old.plot', fs.statSync(path.join(d, 'old.plot'))), hex(7));
    assert.deepEqual(
      fs.readdirSync(d).filter((n) => n.endsWith('.xxh64')),
      [],
      'the record files are gone',
    );
    assert.match(c.text(), /took in 1 hash record/);
    // Rewritten again and again: the file keeps about what is live.
    fs.writeFileSync(path.join(d, 'r.plot2'), 'r');
    for (let i = 0; i < 3000; i++) await l.record('r.plot2', hex(i));
    const lines = fs.readFileSync(path.join(d, LEDGER_NAME), 'utf8').trim().split('\n').length;
    assert.ok(lines <= 1_002, `${lines} lines for 2 live entries`);
    assert.equal(l.hashOf('r.plot2', fs.statSync(path.join(d, 'r.plot2'))), hex(2999));
  });

  // "a plot deleted by hand on the harvester is not reported as held; a plot copied in
  // by hand is" (held, but without a hash: nobody verified it).
  it('has: a plot deleted by hand is not held; one copied in by hand is held, unverified', async () => {
    const server = await startNatsServer();
    const d = await dir();
    const nc = await connect({ servers: server.url });
    const h = await startTestHarvester({ nc, id: 'h-ledger', dirs: [d] });
    try {
      const ask = async (name: string, size: number) => {
        const r = await nc.request(
          subjects('plotferry').has,
          encodeBus({ kind: 'has', v: 1, name, size, answerAll: true }),
          {
            timeout: 5_000,
          },
        );
        return decodeBus(r.data, ['held', 'not-held']);
      };
      fs.writeFileSync(path.join(d, 'byhand.plot2'), 'hand');
      const copied = await ask('byhand.plot2', 4);
      assert.equal(copied.kind, 'held');
      assert.equal(copied.kind === 'held' && copied.hash, undefined, 'nobody verified a copy made by hand');
      fs.rmSync(path.join(d, 'byhand.plot2'));
      assert.equal((await ask('byhand.plot2', 4)).kind, 'not-held');
    } finally {
      await h.close();
      await nc.close();
      await server.stop();
    }
  });
});
