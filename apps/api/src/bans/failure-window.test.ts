import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureWindow } from './failure-window';

test('counts failures within the window only, per address', () => {
  const w = new FailureWindow(3, 1000);
  assert.equal(w.add('a', 0), 1);
  assert.equal(w.add('a', 500), 2);
  assert.equal(w.add('b', 600), 1);
  assert.equal(w.add('a', 1400), 2, 'the failure at 0 left the window');
  assert.equal(w.add('a', 1401), 3);
  assert.equal(w.add('a', 1402), 3, 'never more than the threshold is kept');
  w.forget('a');
  assert.equal(w.add('a', 1500), 1);
});

test('tracks a bounded number of addresses, forgetting the least recently failing', () => {
  const w = new FailureWindow(5, 60_000, 3);
  for (const a of ['a', 'b', 'c']) w.add(a, 0);
  w.add('a', 1);
  w.add('d', 2);
  assert.equal(w.size, 3);
  assert.equal(w.add('b', 3), 1, 'b was forgotten');
  assert.equal(w.add('a', 4), 3, 'a was kept');
});
