import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rsyncPasswordWeakness } from './password-rule';

describe('rsyncPasswordWeakness', () => {
  const cases: [string, RegExp | null][] = [
    ['', /at least 12 characters/],
    ['elevenchars', /at least 12 characters/],
    ['qwerty123456', /commonly used/],
    ['QWERTY123456', /commonly used/], // case does not help
    ['1q2w3e4r5t6y', /commonly used/],
    ['123qweasdzxc', /commonly used/],
    ['twelve-chars', null],
    ['9f86d081884c7d659a2feaa0', null],
    ['correct horse battery staple', null],
  ];
  for (const [pw, expected] of cases) {
    test(`${JSON.stringify(pw)} -> ${expected ?? 'accepted'}`, () => {
      const got = rsyncPasswordWeakness(pw);
      if (expected === null) assert.equal(got, null);
      else assert.match(got ?? '', expected);
    });
  }
});
