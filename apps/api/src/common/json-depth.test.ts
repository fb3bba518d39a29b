import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from './json-depth';

describe('jsonDepthExceeds', () => {
  const nested = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n);
  const table: [string, string, boolean][] = [
    ['flat object', '{"a":1,"b":[1,2,{"c":3}]}', false],
    ['exactly the limit', nested(MAX_JSON_DEPTH), false],
    ['one past the limit', nested(MAX_JSON_DEPTH + 1), true],
    ['100k nested arrays', nested(100_000), true],
    ['100k nested objects', '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000), true],
    ['brackets inside strings do not count', JSON.stringify({ comment: '['.repeat(1000) }), false],
    ['escaped quotes inside strings', JSON.stringify({ a: '\\"[[[[' + '['.repeat(100) }), false],
    ['unbalanced closing first', ']]]]' + nested(10), false],
  ];
  for (const [label, text, expected] of table) test(label, () => assert.equal(jsonDepthExceeds(text), expected));
});
