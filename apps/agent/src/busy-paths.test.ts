import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUSY_AFTER, BusyPathThrottle, QUIET_MS } from './busy-paths';
import type { Change } from './change-set';

test('a file updated every 100 ms for 15 s: a bounded number of pushes, the last after it goes quiet', () => {
  let now = 0;
  const released: Change[][] = [];
  const th = new BusyPathThrottle((c) => released.push(c), () => now);
  let pushedNow = 0;
  for (let i = 0; i < 150; i++, now += 100) pushedNow += th.filter([{ path: 'big.iso', kind: 'update' }]).length;
  // The fake clock does not fire timers: run the release check by hand once the file has been quiet.
  const tick = (th as unknown as { tick(): void }).tick.bind(th);
  now += QUIET_MS;
  tick();
  const total = pushedNow + released.flat().length;
  assert.ok(pushedNow >= BUSY_AFTER && total <= 10, `pushes: ${pushedNow} at once + ${released.flat().length} released`);
  assert.deepEqual(released.at(-1), [{ path: 'big.iso', kind: 'update' }], 'pushed once more when quiet');
  assert.equal(th.heldCount, 0);
  th.flushAll();
});

test('ordinary edits, creations and deletions are never held', () => {
  let now = 0;
  const th = new BusyPathThrottle(() => undefined, () => now);
  for (let i = 0; i < BUSY_AFTER; i++, now += 200) assert.equal(th.filter([{ path: 'a.txt', kind: 'update' }]).length, 1);
  assert.equal(th.filter([{ path: 'a.txt', kind: 'update' }]).length, 1, 'first backoff step starts now');
  assert.equal(th.filter([{ path: 'a.txt', kind: 'update' }]).length, 0, 'held');
  assert.deepEqual(th.filter([{ path: 'a.txt', kind: 'delete' }, { path: 'b', kind: 'create' }]).map((c) => c.kind), ['delete', 'create']);
  assert.equal(th.heldCount, 0, 'the deletion supersedes the held update');
  th.flushAll();
});
