import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIVE_STALL_LIMITS, stallVerdict } from './stall-rule';

const MiB = 1024 * 1024;

test('the live stream drops a client whose backlog stays above 4 MiB for 3 s, and only then', () => {
  const cases: [string, number, number | null, number, { overLimitSince: number | null; drop: boolean }][] = [
    // what, buffered bytes, over the limit since, now, verdict
    ['nothing buffered', 0, null, 10_000, { overLimitSince: null, drop: false }],
    ['exactly at the limit is not over it', 4 * MiB, null, 10_000, { overLimitSince: null, drop: false }],
    ['one byte over: the clock starts now', 4 * MiB + 1, null, 10_000, { overLimitSince: 10_000, drop: false }],
    ['over for 2.999 s', 5 * MiB, 10_000, 12_999, { overLimitSince: 10_000, drop: false }],
    ['over for exactly 3 s', 5 * MiB, 10_000, 13_000, { overLimitSince: 10_000, drop: true }],
    ['over for a minute', 50 * MiB, 10_000, 70_000, { overLimitSince: 10_000, drop: true }],
    ['back under the limit after 2.9 s: the clock resets', 1 * MiB, 10_000, 12_900, { overLimitSince: null, drop: false }],
    ['over again after dipping under: a fresh 3 s', 5 * MiB, null, 12_950, { overLimitSince: 12_950, drop: false }],
    ['a clock that went backwards never drops', 5 * MiB, 10_000, 9_000, { overLimitSince: 10_000, drop: false }],
  ];
  for (const [what, buffered, since, now, want] of cases) assert.deepEqual(stallVerdict(buffered, since, now), want, what);
  assert.deepEqual(LIVE_STALL_LIMITS, { maxBufferedBytes: 4 * MiB, stallMs: 3_000 }, 'the documented rule');
});

test('other limits are honoured as given', () => {
  const limits = { maxBufferedBytes: 100, stallMs: 50 };
  assert.deepEqual(stallVerdict(101, 0, 49, limits), { overLimitSince: 0, drop: false });
  assert.deepEqual(stallVerdict(101, 0, 50, limits), { overLimitSince: 0, drop: true });
  assert.deepEqual(stallVerdict(100, 0, 500, limits), { overLimitSince: null, drop: false });
});
