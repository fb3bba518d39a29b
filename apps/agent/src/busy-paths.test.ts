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

test('busy files written together whose backoff steps began a few ms apart share their releases', () => {
  // Three files appended every 100 ms for 6 s; each tick's write of c.bin is seen 5 ms after a.bin's and b.bin's
  // (a batch later), as under load. Before co-release each step cost two releases, one for a+b and one for c.
  let now = 0;
  const released: Change[][] = [];
  const th = new BusyPathThrottle((c) => released.push(c), () => now);
  const tick = (th as unknown as { tick(): void }).tick.bind(th);
  // The fake clock does not fire timers: run the release check by hand every 5 ms, as the timer would.
  const advanceTo = (until: number): void => {
    while (now + 5 <= until) {
      now += 5;
      tick();
    }
    now = until;
  };
  for (let i = 0; i < 60; i++) {
    advanceTo(i * 100);
    th.filter([{ path: 'a.bin', kind: 'update' }, { path: 'b.bin', kind: 'update' }]);
    advanceTo(i * 100 + 5);
    th.filter([{ path: 'c.bin', kind: 'update' }]);
  }
  advanceTo(6000 + QUIET_MS + 50);
  const releases = released.length;
  assert.ok(
    released.every((batch) => batch.length === 3),
    `each release carries all three files: ${JSON.stringify(released.map((b) => b.map((c) => c.path)))}`,
  );
  assert.ok(releases <= 4, `${releases} releases (backoff steps at ~1 s, 2 s, 4 s, then quiet)`);
  assert.equal(th.heldCount, 0);
  th.flushAll();
});
