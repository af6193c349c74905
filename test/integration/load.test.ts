/**
 * Load: 8 plotters sweep hundreds of small plots at once to 4 harvesters of 2 disks each (own
 * tmpfs per disk when root), over one real nats-server. Each plot arrives exactly once,
 * verified; placement is reported per disk; afterwards no claim, reservation, listener or file
 * handle is left over.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { connect, NatsConnection } from 'nats';
import { Harvester } from '../../src/farm/harvester-daemon.js';
import { silentLogger } from '../../src/core/log.js';
import { sweep } from '../../src/plotter/sweep-plots.js';
import { isRoot, ls, sha256, tmpDir, writePlot } from '../helpers/files.js';
import { waitFor } from '../helpers/listener.js';
import { startTestHarvester } from '../helpers/harvester.js';
import { startNatsServer } from '../helpers/nats-server.js';

const PLOTTERS = 8;
const HARVESTERS = 4;
const PLOTS_EACH = Number(process.env.PLOTFERRY_LOAD_PLOTS ?? 40);
const openFds = () => fs.readdirSync('/proc/self/fd').length;

describe('load', () => {
  it(`${PLOTTERS} plotters x ${PLOTS_EACH} plots to ${HARVESTERS} harvesters x 2 disks`, async () => {
    const server = await startNatsServer();
    const cleanup: (() => Promise<void> | void)[] = [];
    const conns: NatsConnection[] = [];
    const log = silentLogger();
    try {
      const fdsBefore = openFds();
      const disks: string[] = [];
      const harvesters: Harvester[] = [];
      for (let h = 0; h < HARVESTERS; h++) {
        const ds: string[] = [];
        for (const side of ['a', 'b']) {
          const d = await tmpDir(`pf-load-h${h}${side}-`, isRoot ? '/tmp' : undefined);
          if (isRoot) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', d]);
          cleanup.push(async () => {
            if (isRoot) execFileSync('umount', [d]);
            await fsp.rm(d, { recursive: true, force: true });
          });
          ds.push(d);
        }
        disks.push(...ds);
        const nc = await connect({ servers: server.url });
        conns.push(nc);
        harvesters.push(
          await startTestHarvester({
            nc,
            id: `load-h${h}`,
            dirs: ds,
            log,
          }),
        );
      }
      const sums = new Map<string, string>();
      const plotDirs: string[] = [];
      for (let p = 0; p < PLOTTERS; p++) {
        const d = await tmpDir(`pf-load-p${p}-`);
        cleanup.push(() => fsp.rm(d, { recursive: true, force: true }));
        plotDirs.push(d);
        for (let i = 0; i < PLOTS_EACH; i++) {
          const f = path.join(d, `plot-k32-p${p}-${String(i).padStart(3, '0')}.plot`);
          writePlot(f, 64 * 1024 + ((p * PLOTS_EACH + i) % 977) * 31);
          sums.set(path.basename(f), await sha256(f));
        }
      }
      const t0 = Date.now();
      const results = await Promise.all(
        plotDirs.map(async (d, p) => {
          const nc = await connect({ servers: server.url });
          conns.push(nc);
          return sweep({ nc, dirs: [d], plotter: `load-p${p}`, minAgeMs: 0, concurrency: 2, hasTimeoutMs: 100, log });
        }),
      );
      const seconds = (Date.now() - t0) / 1000;
      const items = results.flat();
      const failed = items.filter((i) => i.status !== 'sent');
      assert.deepEqual(
        failed.map((i) => `${i.name}: ${i.status} ${i.error?.code ?? ''} ${i.error?.message ?? ''}`),
        [],
      );
      assert.equal(items.length, PLOTTERS * PLOTS_EACH);
      for (const d of plotDirs) assert.deepEqual(ls(d), [], 'every source moved');

      const copies = new Map<string, string[]>();
      for (const d of disks) for (const f of ls(d)) copies.set(f, [...(copies.get(f) ?? []), path.join(d, f)]);
      assert.equal(copies.size, sums.size, 'only plots on the disks: no temporary or partial file');
      for (const [name, sum] of sums) {
        const at = copies.get(name) ?? [];
        assert.equal(at.length, 1, `${name} exactly once`);
        assert.equal(await sha256(at[0]!), sum, `${name} byte-exact`);
      }
      const perDisk = disks.map((d) => ls(d).length);
      const perHarvester = harvesters.map((_, h) => perDisk[2 * h]! + perDisk[2 * h + 1]!);
      console.log(
        `load: ${items.length} plots in ${seconds.toFixed(1)} s; per disk min ${Math.min(...perDisk)} max ${Math.max(...perDisk)} (${perDisk.join(' ')}); per harvester ${perHarvester.join(' ')}`,
      );
      assert.ok(Math.min(...perDisk) > 0, `every disk got plots: ${perDisk.join(' ')}`);

      // Nothing left over: claims, write slots, listeners (each claim's closes with it), fds.
      for (const h of harvesters) {
        assert.equal(h.activeTransfers, 0);
        assert.equal(h.disks.activeWrites, 0);
      }
      for (const h of harvesters) await h.close();
      for (const nc of conns.splice(0)) await nc.close();
      // Sockets close asynchronously: wait for the count itself, with a deadline.
      await waitFor(() => openFds() <= fdsBefore + 2, 10_000, 'file handles to close').catch(() => undefined);
      const fdsAfter = openFds();
      assert.ok(fdsAfter <= fdsBefore + 2, `file handles: ${fdsBefore} before, ${fdsAfter} after`);
    } finally {
      for (const nc of conns) await nc.close();
      for (const c of cleanup.reverse()) await c();
      await server.stop();
    }
  });
});
