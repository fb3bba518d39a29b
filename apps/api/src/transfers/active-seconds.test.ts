import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activeSecondsByMinute, RunInterval } from './active-seconds';

const M = 60_000;
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const run = (module: string, startS: number, endS: number): RunInterval => ({ module, startMs: T0 + startS * 1000, endMs: T0 + endS * 1000 });

test('activeSecondsByMinute: time the module had a session running, per minute', () => {
  const cases: [string, RunInterval[], Record<string, number>][] = [
    ['a 9 s push inside one minute', [run('a', 10, 19)], { [`${T0}|a`]: 9 }],
    ['a session within one log second still ran 1 s', [run('a', 5, 5)], { [`${T0}|a`]: 1 }],
    ['overlapping sessions count once', [run('a', 0, 30), run('a', 20, 40)], { [`${T0}|a`]: 40 }],
    ['modules are apart', [run('a', 0, 10), run('b', 5, 10)], { [`${T0}|a`]: 10, [`${T0}|b`]: 5 }],
    ['split at the minute boundary', [run('a', 50, 70)], { [`${T0}|a`]: 10, [`${T0 + M}|a`]: 10 }],
    ['clipped to the window', [run('a', -30, 10)], { [`${T0}|a`]: 10 }],
    ['outside the window: nothing', [run('a', -100, -50)], {}],
  ];
  for (const [name, runs, want] of cases) {
    assert.deepEqual(Object.fromEntries(activeSecondsByMinute(runs, T0, T0 + 10 * M)), want, name);
  }
});

test('a 2 GiB push in 9 s gives its true rate, not the minute average', () => {
  const secs = activeSecondsByMinute([run('big', 3, 12)], T0, T0 + M).get(`${T0}|big`)!;
  const rate = (2 * 1024 ** 3) / secs;
  assert.ok(rate > 220 * 1024 ** 2 && rate < 230 * 1024 ** 2, `${rate / 1024 ** 2} MiB/s`);
});
