import { test } from 'node:test';
import assert from 'node:assert/strict';
import { likePrefix } from './like';

test('likePrefix: the text is taken literally and may be followed by anything', () => {
  const cases: [string, string][] = [
    ['web', 'web%'],
    ['', '%'],
    ['50%', '50\\%%'],
    ['a_b', 'a\\_b%'],
    ['back\\slash', 'back\\\\slash%'],
    ['%_\\', '\\%\\_\\\\%'],
  ];
  for (const [text, want] of cases) assert.equal(likePrefix(text), want, text);
});
