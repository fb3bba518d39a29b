import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayBuffer } from './replay-buffer';

const ev = (id: number) => ({ id });

test('replays exactly the events after the given id', () => {
  const b = new ReplayBuffer<{ id: number }>(100, 10);
  for (let id = 11; id <= 15; id++) b.push(ev(id), 1);
  const cases: [number, number[] | string][] = [
    [10, [11, 12, 13, 14, 15]], // connected before the first event
    [12, [13, 14, 15]],
    [15, []], // saw everything
    [9, 'no longer kept'], // before this run's first event: another run or lost
    [16, 'another server run'], // from the future: a previous run with higher ids
    [Number.NaN, 'not an integer'],
  ];
  for (const [after, want] of cases) {
    const got = b.after(after);
    if (typeof want === 'string') assert.ok(!got.ok && got.reason.includes(want), `${after}: ${JSON.stringify(got)}`);
    else assert.deepEqual(got.ok ? got.events.map((e) => e.id) : got, want, `after ${after}`);
  }
});

test('evicts by weight and then refuses ids older than what it keeps', () => {
  const b = new ReplayBuffer<{ id: number }>(10, 0);
  b.push(ev(1), 4);
  b.push(ev(2), 4);
  b.push(ev(3), 4); // 12 > 10: event 1 goes
  assert.deepEqual(b.after(1), { ok: true, events: [ev(2), ev(3)] }, 'the client saw 1: 2 and 3 are still here');
  assert.equal(b.after(0).ok, false, 'the client missed 1, which is gone');
  b.push(ev(4), 50); // heavier than the whole buffer: everything older goes, even itself
  assert.equal(b.after(3).ok, false);
  assert.deepEqual(b.after(4), { ok: true, events: [] });
  assert.equal(b.newestId, 4);
});

test('a long stream stays bounded and keeps answering', () => {
  const b = new ReplayBuffer<{ id: number }>(100, 0);
  for (let id = 1; id <= 100_000; id++) b.push(ev(id), 1);
  const r = b.after(99_950);
  assert.ok(r.ok);
  assert.equal(r.events.length, 50);
  assert.equal(b.after(99_899).ok, false);
});
