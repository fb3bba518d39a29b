import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, redactSecrets } from './redact';

test('redactSecrets replaces every secret-named field at any depth and keeps the rest', () => {
  const cases: [unknown, unknown][] = [
    [{ name: 'alice', password: 'pw' }, { name: 'alice', password: REDACTED }],
    [{ user: { name: 'a' }, generatedPassword: 'x' }, { user: { name: 'a' }, generatedPassword: REDACTED }],
    [{ token: 'rhs_x', secret: 'rh_y', currentPassword: 'a', newPassword: 'b' }, { token: REDACTED, secret: REDACTED, currentPassword: REDACTED, newPassword: REDACTED }],
    [[{ passwordHash: '$argon2id$' }], [{ passwordHash: REDACTED }]],
    [{ passwordUpdatedAt: '2026-01-01', mustChangePassword: true }, { passwordUpdatedAt: '2026-01-01', mustChangePassword: true }],
    [{ generatePassword: true }, { generatePassword: true }],
    [{ comment: 'password is in the vault' }, { comment: 'password is in the vault' }],
    [null, null],
    ['plain', 'plain'],
  ];
  for (const [input, expected] of cases) assert.deepEqual(redactSecrets(input), expected, JSON.stringify(input));
});

test('redactSecrets does not modify its input', () => {
  const input = { password: 'pw' };
  redactSecrets(input);
  assert.equal(input.password, 'pw');
});
