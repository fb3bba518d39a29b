import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextTriggeredStart } from './evaluation-pacing';

test('nextTriggeredStart: the gap after a start, or a wait that keeps evaluating to the busy share, whichever is later', () => {
  const cases: { name: string; lastStart: number; lastEnd: number; minGap: number; share: number; want: number }[] = [
    { name: 'never ran', lastStart: 0, lastEnd: 0, minGap: 1000, share: 0.2, want: 1000 },
    { name: 'fast evaluation: the minimum gap rules', lastStart: 10_000, lastEnd: 10_020, minGap: 1000, share: 0.2, want: 11_000 },
    { name: '1.5 s evaluation at 0.2: 6 s after its end', lastStart: 10_000, lastEnd: 11_500, minGap: 1000, share: 0.2, want: 17_500 },
    { name: '1 s evaluation at 0.5: 1 s after its end', lastStart: 10_000, lastEnd: 11_000, minGap: 1000, share: 0.5, want: 12_000 },
    { name: 'still running (end before start): the minimum gap', lastStart: 10_000, lastEnd: 9_000, minGap: 1000, share: 0.2, want: 11_000 },
  ];
  for (const c of cases) assert.equal(nextTriggeredStart(c.lastStart, c.lastEnd, c.minGap, c.share), c.want, c.name);
});

test('nextTriggeredStart: back-to-back triggers keep evaluations to at most the busy share of the time', () => {
  // Simulates a trigger arriving all the time and evaluations of 1.5 s: busy time / wall time stays <= 0.2 (+ one run).
  let now = 0;
  let busy = 0;
  let lastStart = -Infinity;
  let lastEnd = -Infinity;
  for (let i = 0; i < 100; i++) {
    const start = i === 0 ? 0 : Math.max(now, nextTriggeredStart(lastStart, lastEnd, 1000, 0.2));
    lastStart = start;
    lastEnd = start + 1500;
    busy += 1500;
    now = lastEnd;
  }
  assert.ok(busy / now <= 0.2 + 1500 / now, `busy share ${(busy / now).toFixed(3)}`);
});
