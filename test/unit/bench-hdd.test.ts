import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencies, parseReaderLog, QuietWatch, readsOf, statCpuSeconds } from '../../bench/hdd-stats.js';

describe('bench hdd: blkio counters', () => {
  const serviced = [
    '7:1 Read 5',
    '7:1 Write 2',
    '7:0 Read 1234',
    '7:0 Write 9',
    '7:0 Total 1243',
    'Total 1250',
    '',
  ].join('\n');

  it("reads the Read line of the device asked for, not another device's or the total", () => {
    assert.equal(readsOf(serviced, '7:0'), 1234);
    assert.equal(readsOf(serviced, '7:1'), 5);
  });

  it('counts 0 for a device the group has not read from yet (no line for it)', () => {
    assert.equal(readsOf(serviced, '7:2'), 0);
    assert.equal(readsOf('Total 0\n', '7:0'), 0);
  });
});

describe('bench hdd: when a disk is quiet', () => {
  it('is quiet once the counter has not moved for the quiet time, and says when it last moved', () => {
    const w = new QuietWatch(5_000, 1_000);
    assert.equal(w.sample(10, 1_000), false, 'the first sample is the baseline');
    assert.equal(w.sample(20, 2_000), false);
    assert.equal(w.sample(30, 4_000), false);
    assert.equal(w.sample(30, 8_999), false, '4,999 ms after the last read');
    assert.equal(w.sample(30, 9_000), true);
    assert.equal(w.lastReadMs, 3_000, 'from the start');
  });

  it('a read restarts the quiet time', () => {
    const w = new QuietWatch(1_000, 0);
    w.sample(0, 0);
    w.sample(1, 900);
    assert.equal(w.sample(1, 1_500), false);
    assert.equal(w.sample(1, 1_900), true);
  });

  it('a counter that never moves is quiet from the start, with no last read', () => {
    const w = new QuietWatch(1_000, 0);
    assert.equal(w.sample(7, 0), false);
    assert.equal(w.sample(7, 1_000), true);
    assert.equal(w.lastReadMs, undefined);
  });
});

describe("bench hdd: the lookups' latencies", () => {
  it('parses the reader log, skipping its mode line and a torn last line', () => {
    assert.deepEqual(parseReaderLog('# direct\n1000 0.5\n1010 12.25\n1020'), [
      { at: 1000, ms: 0.5 },
      { at: 1010, ms: 12.25 },
    ]);
  });

  it('takes the reads that ended inside the window only, with nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, i) => ({ at: 1000 + i, ms: i + 1 }));
    samples.push({ at: 5000, ms: 999 }); // after the window
    const l = latencies(samples, 1000, 1099);
    assert.deepEqual(l, { n: 100, p50: 50, p99: 99, max: 100, maxStartMs: 99 - 100 });
    assert.equal(latencies(samples, 2000, 3000), undefined, 'no read in it');
  });

  it('one slow read out of ten is the p99 (a small window is not averaged away)', () => {
    const samples = Array.from({ length: 10 }, (_, i) => ({ at: i, ms: i === 3 ? 250 : 1 }));
    assert.equal(latencies(samples, 0, 9)!.p99, 250);
  });

  it('says when the slowest read started, from the start of the window', () => {
    const samples = [
      { at: 10_100, ms: 2 },
      { at: 12_500, ms: 2_000 },
      { at: 12_600, ms: 5 },
    ];
    assert.equal(latencies(samples, 10_000, 13_000)!.maxStartMs, 500);
  });
});

describe('bench hdd: CPU from /proc/PID/stat', () => {
  it('adds utime and stime, with a command name that has spaces and parentheses', () => {
    // Fields after "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0';
    assert.equal(statCpuSeconds(stat), 3);
  });
});
