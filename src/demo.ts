/**
 * The newcomer's first run (`npm run demo`): the main job on a local default. Direct mode for
 * now: a listener over two directories and a sender moving generated plots to it.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseBytes } from './config.js';
import { createProgress } from './cli/progress.js';
import { writeRandomFile } from './sample.js';
import { Listener } from './transfer/listener.js';
import { sendWithRetry } from './transfer/retry.js';

export interface DemoOptions {
  files: number;
  size: string;
  keep: boolean;
  log: Logger;
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const size = parseBytes(opts.size, 'size');
  const base = await pickBase(size * opts.files * 2);
  const root = await fsp.mkdtemp(path.join(base, 'plotferry-demo-'));
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const plotter = path.join(root, 'plotter-nvme');
  const disks = [path.join(root, 'harvester-disk1'), path.join(root, 'harvester-disk2')];
  for (const d of [plotter, ...disks]) await fsp.mkdir(d, { recursive: true });
  const token = randomBytes(16).toString('hex');
  let listener: Listener | undefined;
  try {
    say(`plotferry demo in ${root}`);
    say(`making ${opts.files} sample plot(s) of ${opts.size} in ${plotter} ...`);
    const files: string[] = [];
    for (let i = 0; i < opts.files; i++) {
      const f = path.join(
        plotter,
        `plot-k32-demo-${String(i + 1).padStart(2, '0')}-${randomBytes(8).toString('hex')}.plot`,
      );
      writeRandomFile(f, size);
      files.push(f);
    }
    listener = await Listener.start({ dirs: disks, token, host: '127.0.0.1', port: 0, log: opts.log });
    const { port } = listener.address();
    say(`receiver listening on 127.0.0.1:${port} over ${disks.length} directories; sending with verification:`);
    const progress = await createProgress();
    const rows: string[] = [];
    let total = 0;
    const t0 = process.hrtime.bigint();
    for (const file of files) {
      const bar = progress.add(path.basename(file), size);
      const r = await sendWithRetry({ host: '127.0.0.1', port, token, file, onProgress: (b) => bar.update(b) });
      bar.update(r.bytes);
      bar.stop();
      await fsp.unlink(file); // --move: the receiver has verified, synced and renamed it
      total += r.bytes;
      rows.push(
        `  ${r.name}\n    -> ${r.remotePath}\n       ${(r.bytes / 1e6 / r.seconds).toFixed(0)} MB/s, xxh64 ${r.hash} verified on both ends, source removed`,
      );
    }
    progress.stop();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    say(rows.join('\n'));
    const left = await fsp.readdir(plotter);
    say(
      `moved ${files.length} plot(s), ${(total / 2 ** 30).toFixed(2)} GiB in ${secs.toFixed(2)} s: ${(total / 1e6 / secs).toFixed(0)} MB/s overall`,
    );
    for (const d of disks) say(`  ${path.basename(d)}: ${(await fsp.readdir(d)).length} plot(s)`);
    if ((await fsp.stat(disks[0]!)).dev === (await fsp.stat(disks[1]!)).dev) {
      say('  (both demo directories sit on one filesystem, so they count as one disk: plotferry writes one');
      say('   file per filesystem at a time and fills the one with the most free space first)');
    }
    say(`  plotter: ${left.length} file(s) left`);
  } finally {
    await listener?.close();
    if (opts.keep) say(`kept ${root}`);
    else await fsp.rm(root, { recursive: true, force: true });
  }
}

async function pickBase(need: number): Promise<string> {
  try {
    const s = await fsp.statfs('/dev/shm');
    if (s.bavail * s.bsize > need) return '/dev/shm';
  } catch {
    // no /dev/shm here
  }
  return os.tmpdir();
}
