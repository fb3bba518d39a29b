import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RefusalLimiter } from './refusal-limiter';

test('allows max per key per window, then again in the next window', () => {
  const l = new RefusalLimiter(2, 1000);
  assert.deepEqual([l.allow('a', 0), l.allow('a', 10), l.allow('a', 20), l.allow('b', 20)], [true, true, false, true]);
  assert.equal(l.allow('a', 1000), true);
});

test('keeps at most maxKeys keys', () => {
  const l = new RefusalLimiter(1, 1000, 3);
  for (const k of ['a', 'b', 'c', 'd']) l.allow(k, 0);
  assert.equal(l.allow('a', 1), true, 'the oldest key was dropped, so it starts afresh');
  assert.equal(l.allow('d', 1), false);
});
