import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminPasswordWeakness } from './password-strength';

describe('adminPasswordWeakness (zxcvbn-ts, score >= 3)', () => {
  const weak = ['password1234', 'aaaaaaaaaaaaaaaa', 'qwertyuiopasdfgh', 'admin-admin-admin', '123456789012', 'rsynchub2024!'];
  for (const pw of weak) {
    test(`refuses ${JSON.stringify(pw)} with zxcvbn's feedback`, () => assert.match(adminPasswordWeakness(pw) ?? '', /^is too weak \(strength [0-2] of 4, at least 3 needed\)/));
  }
  test('the account name counts as a known word', () => {
    assert.equal(adminPasswordWeakness('blorbzan-1'), null);
    assert.ok(adminPasswordWeakness('blorbzan-1', ['blorbzan']));
  });
  for (const pw of ['e2e-admin-password-1', 'correct horse battery staple', 'Pw-5c1b9e0f2a7d3c4b', 'x'.repeat(3) + 'Qz7!vL9#pR2@']) {
    test(`accepts ${JSON.stringify(pw)}`, () => assert.equal(adminPasswordWeakness(pw), null));
  }
  test('a huge password is scored on a prefix, quickly', () => {
    const t0 = Date.now();
    adminPasswordWeakness('ab1!'.repeat(256));
    assert.ok(Date.now() - t0 < 2000);
  });
});
