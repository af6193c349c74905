import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Heartbeat } from '../../src/bus/bus-messages.js';
import { formatStatus, sameHarvester, statusVerdict } from '../../src/plotter/farm-status.js';

const GiB = 2 ** 30;
const beat = (dirs: Heartbeat['dirs']): Heartbeat => ({
  kind: 'heartbeat',
  v: 1,
  harvester: 'h1',
  host: '10.0.0.2',
  activeTransfers: 0,
  maxTransfers: 5,
  dirs,
  at: 0,
});

describe('status', () => {
  // Regression: two directories on one filesystem showed twice its free space.
  it('counts the free space of a filesystem once, however many directories it holds', () => {
    const out = formatStatus([
      beat([
        { dir: '/mnt/a/x', freeBytes: 10 * GiB, totalBytes: 20 * GiB, plots: 1, plotBytes: 1, fs: 7 },
        { dir: '/mnt/a/y', freeBytes: 10 * GiB, totalBytes: 20 * GiB, plots: 2, plotBytes: 2, fs: 7 },
        { dir: '/mnt/b', freeBytes: 5 * GiB, totalBytes: 20 * GiB, plots: 0, plotBytes: 0, fs: 8 },
        { dir: '/mnt/gone', freeBytes: 0, totalBytes: 0, plots: 0, plotBytes: 0, unusable: 'cannot be read (ENOENT)' },
      ]),
    ]);
    assert.match(out.split('\n')[0]!, /plots 3 +free 15\.0 GiB/);
    assert.match(out, /\/mnt\/gone .*\[cannot be read \(ENOENT\)\]/);
  });

  it('counts the plots of a disk out of rotation, and not those of a gone disk (nor its free space)', () => {
    const out = formatStatus([
      beat([
        {
          dir: '/mnt/a',
          freeBytes: 10 * GiB,
          totalBytes: 20 * GiB,
          plots: 4,
          plotBytes: 4 * GiB,
          pos1Plots: 4,
          pos1Bytes: 4 * GiB,
          fs: 7,
        },
        {
          dir: '/mnt/failed',
          freeBytes: 5 * GiB,
          totalBytes: 20 * GiB,
          plots: 3,
          plotBytes: 3 * GiB,
          pos1Plots: 3,
          pos1Bytes: 3 * GiB,
          fs: 8,
          unusable: 'out of rotation until 10:00:00 UTC after a failed write (EIO)',
        },
        {
          dir: '/mnt/gone',
          freeBytes: 0,
          totalBytes: 0,
          plots: 0,
          plotBytes: 0,
          gone: true,
          unusable: 'disk gone (PF_DISK_GONE): is on the root filesystem 253:1, not on filesystem 8:33 it joined on',
        },
      ]),
    ]);
    assert.match(out.split('\n')[0]!, /plots 7 +free 10\.0 GiB/);
    assert.match(out, /\/mnt\/failed .* 3 plots \(3\.0 GiB\).*\[out of rotation/);
    assert.match(out, /\n {2}\/mnt\/gone {2}\[disk gone \(PF_DISK_GONE\): is on the root filesystem/);
    assert.doesNotMatch(
      out.split('\n').find((l) => l.includes('/mnt/gone'))!,
      /plots|free/,
    );
    assert.match(out, /farm: PoS1 7 plots \(7\.0 GiB\)/);
  });

  // The replot at a glance, per disk and for the farm.
  it('shows PoS1 and PoS2 plots per disk and for the farm, with the share replotted', () => {
    const out = formatStatus([
      beat([
        {
          dir: '/mnt/a',
          freeBytes: GiB,
          totalBytes: 18_000 * GiB,
          plots: 130,
          plotBytes: 0,
          pos1Plots: 30,
          pos1Bytes: 3030 * GiB,
          pos2Plots: 100,
          pos2Bytes: 92 * GiB,
        },
      ]),
      {
        ...beat([
          {
            dir: '/mnt/b',
            freeBytes: GiB,
            totalBytes: 18_000 * GiB,
            plots: 1,
            plotBytes: 0,
            pos1Plots: 0,
            pos1Bytes: 0,
            pos2Plots: 1000,
            pos2Bytes: 920 * GiB,
          },
        ]),
        harvester: 'h2',
      },
    ]);
    assert.match(out, /\/mnt\/a .*PoS1 30 \(2\.96 TiB|PoS1 30 \(3\.0 TiB\) \/ PoS2 100 \(92\.0 GiB\)/);
    assert.match(
      out,
      /farm: PoS1 30 plots \(3\.0 TiB\) +PoS2 1100 plots \(1012\.0 GiB\) +free 2\.0 GiB +replotted 25% by bytes/,
    );
  });

  it('gives the replot pace and an ETA to all PoS2 from the last day', () => {
    const b = beat([
      {
        dir: '/mnt/a',
        freeBytes: GiB,
        totalBytes: 18_000 * GiB,
        plots: 2,
        plotBytes: 0,
        pos1Plots: 1,
        pos1Bytes: 100 * GiB,
        pos2Plots: 1,
        pos2Bytes: GiB,
      },
    ]);
    b.replot = {
      pos2StoredLastHour: 2 * GiB,
      pos2StoredLastDay: 50 * GiB,
      pos1DeletedLastHour: 0,
      pos1DeletedLastDay: 101 * GiB,
    };
    const out = formatStatus([b]);
    assert.match(
      out,
      /replot: PoS2 stored 2\.0 GiB in the last hour, 50\.0 GiB in the last day; PoS1 deleted 0 B \/ 101\.0 GiB; all PoS2 in 48 h|all PoS2 in 2 days at the last day's pace/,
    );
    b.replot = { pos2StoredLastHour: 0, pos2StoredLastDay: 0, pos1DeletedLastHour: 0, pos1DeletedLastDay: 0 };
    assert.match(formatStatus([b]), /no PoS2 plot stored in the last day: no ETA/);
  });
});

describe('status: the replot mode, and no ETA where it can free nothing', () => {
  const pos1Disk = (replot?: Heartbeat['dirs'][number]['replot']): Heartbeat['dirs'][number] => ({
    dir: '/mnt/a',
    freeBytes: GiB,
    totalBytes: 18_000 * GiB,
    plots: 3,
    plotBytes: 300 * GiB,
    pos1Plots: 3,
    pos1Bytes: 300 * GiB,
    pos2Plots: 0,
    pos2Bytes: 0,
    ...(replot ? { replot } : {}),
  });
  const rates = {
    pos2StoredLastHour: GiB,
    pos2StoredLastDay: 100 * GiB,
    pos1DeletedLastHour: 0,
    pos1DeletedLastDay: 0,
  };
  const none = { mayGoPlots: 0, mayGoBytes: 0, unmatched: 0, linked: 0, inUse: 0 };

  it('says whether --replot or --replot-dry-run is on', () => {
    const on = {
      ...beat([pos1Disk({ ...none, mayGoPlots: 3, mayGoBytes: 300 * GiB })]),
      replot: { ...rates, mode: 'on' as const },
    };
    assert.match(formatStatus([on]), /^h1 .* replot on$/m);
    assert.match(
      formatStatus([{ ...on, replot: { ...rates, mode: 'on', match: 'old-*' } }]),
      /replot on \(--replot-match old-\*\)$/m,
    );
    assert.match(formatStatus([{ ...on, replot: { ...rates, mode: 'dry-run' } }]), /^h1 .* replot dry run$/m);
    assert.match(formatStatus([{ ...on, replot: { ...rates, mode: 'off' } }]), /^h1 .* replot off$/m);
    assert.doesNotMatch(
      formatStatus([{ ...on, replot: rates }]),
      /replot (on|off|dry)/,
      'an older harvester does not say',
    );
  });

  it('gives no ETA when --replot may delete none of the PoS1 plots, and says why per disk', () => {
    const b = {
      ...beat([pos1Disk({ ...none, unmatched: 1, linked: 1, inUse: 1 })]),
      replot: { ...rates, mode: 'on' as const, match: 'old-*' },
    };
    const out = formatStatus([b]);
    assert.match(
      out,
      /\n {4}replot: --replot can free nothing here: 1 \*\.plot file does not match --replot-match old-\*, 1 PoS1 plot is hard-linked \(deleting frees nothing\), 1 PoS1 plot is being sent by a sweep\n/,
    );
    assert.match(out, /no ETA: --replot may not delete the PoS1 plots left/);
    assert.doesNotMatch(out, /all PoS2 in/);
    const noMatch = { ...b, dirs: [pos1Disk({ ...none })] };
    assert.match(
      formatStatus([noMatch]),
      /replot: --replot can free nothing here: no PoS1 plot matches --replot-match old-\*/,
    );
    const dry = { ...beat([pos1Disk()]), replot: { ...rates, mode: 'dry-run' as const } };
    assert.match(formatStatus([dry]), /no ETA: --replot-dry-run deletes nothing/);
  });

  it('an ETA for the PoS1 plots that can go, and what stays, when only some can', () => {
    const b = {
      ...beat([pos1Disk({ ...none, mayGoPlots: 1, mayGoBytes: 100 * GiB, linked: 2 })]),
      replot: { ...rates, mode: 'on' as const },
    };
    const out = formatStatus([b]);
    assert.match(
      out,
      /the PoS1 plots that can go are replaced in 24\.0 h at the last day's pace; 200\.0 GiB of PoS1 plots stay/,
    );
    assert.doesNotMatch(out, /\n {4}replot: /, 'the disk frees something: no "can free nothing" line');
    // Without --replot (or from an older harvester) every PoS1 byte counts, as before.
    assert.match(formatStatus([{ ...beat([pos1Disk()]), replot: { ...rates, mode: 'off' } }]), /all PoS2 in 3 days/);
  });
});

describe('status: the exit status a monitor reads', () => {
  const disk = (dir: string, extra: Partial<Heartbeat['dirs'][number]> = {}) => ({
    dir,
    freeBytes: GiB,
    totalBytes: 2 * GiB,
    plots: 0,
    plotBytes: 0,
    ...extra,
  });
  it('is 0 when harvesters answered and every disk takes plots (a full one too)', () => {
    assert.deepEqual(statusVerdict([beat([disk('/mnt/a'), disk('/mnt/b', { freeBytes: 0 })])], 6, false), {
      exit: 0,
      problems: [],
    });
  });
  it('is 3 when no harvester answered, saying what to check', () => {
    const v = statusVerdict([], 6, false);
    assert.equal(v.exit, 3);
    assert.match(v.problems[0]!, /no harvester answered within 6 s: is the harvester running/);
    assert.equal(statusVerdict([], 6, true).exit, 3);
  });
  it('is 1 for a disk out of rotation, disabled or gone, naming each; 0 with --ignore-disks', () => {
    const beats = [
      beat([
        disk('/mnt/a', { unusable: 'out of rotation until 10:00:00 UTC after a failed write (EROFS)' }),
        disk('/mnt/b'),
        disk('/mnt/c', { gone: true }),
      ]),
    ];
    const v = statusVerdict(beats, 6, false);
    assert.equal(v.exit, 1);
    assert.deepEqual(v.problems, [
      'h1: /mnt/a takes no plot: out of rotation until 10:00:00 UTC after a failed write (EROFS)',
      'h1: /mnt/c takes no plot: disk gone (PF_DISK_GONE)',
    ]);
    // Two harvesters under one id: 1 whatever the disks say (status shows one of them at a time).
    assert.equal(statusVerdict([beat([disk('/mnt/x')])], 6, true, ['two harvesters answer as h1 ...']).exit, 1);
    const relaxed = statusVerdict(beats, 6, true);
    assert.equal(relaxed.exit, 0);
    assert.equal(relaxed.problems.length, 2, 'still said, on stderr');
  });
});

describe('status: two harvesters under one id', () => {
  it('tells one harvester from another by its host and directories', () => {
    const a = beat([{ dir: '/mnt/a', freeBytes: 0, totalBytes: 0, plots: 0, plotBytes: 0 }]);
    assert.equal(sameHarvester(a, { ...a, at: 5, activeTransfers: 1 }), true, 'a later heartbeat of the same one');
    assert.equal(sameHarvester(a, { ...a, host: '10.0.0.3' }), false, 'a cloned image on another host');
    assert.equal(
      sameHarvester(a, beat([{ dir: '/mnt/b', freeBytes: 0, totalBytes: 0, plots: 0, plotBytes: 0 }])),
      false,
      'a second process on the same host',
    );
  });
});
