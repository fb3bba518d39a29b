import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { lagSeconds, sourceState } from './source-state';

const NOW = new Date('2026-12-01T10:00:00.000Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

test('sourceState: online, stale and offline by the age of the last heartbeat', () => {
  const cases: [string, string, number, string][] = [
    ['just now', ago(0), 90, 'online'],
    ['exactly at the stale threshold', ago(90), 90, 'online'],
    ['one second past the threshold', ago(91), 90, 'stale'],
    ['at 10x the threshold', ago(900), 90, 'stale'],
    ['past 10x the threshold', ago(901), 90, 'offline'],
    ['a day ago', ago(86_400), 90, 'offline'],
    ['small threshold: 3 s old with 2 s', ago(3), 2, 'stale'],
    ['small threshold: 21 s old with 2 s', ago(21), 2, 'offline'],
    ['clock skew: stamped in the future', new Date(NOW.getTime() + 60_000).toISOString(), 90, 'online'],
    ['unparseable stamp never looks healthy', 'not a date', 90, 'offline'],
  ];
  for (const [name, seen, stale, want] of cases) assert.equal(sourceState(seen, NOW, stale), want, name);
});

test('lagSeconds rounds up and keeps "unknown" distinct from 0', () => {
  const cases: [number | null, number | null][] = [[null, null], [0, 0], [1, 1], [999, 1], [1000, 1], [1001, 2], [-5, 0], [90_000, 90]];
  for (const [ms, want] of cases) assert.equal(lagSeconds(ms), want, String(ms));
});
