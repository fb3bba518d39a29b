import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundException } from '@nestjs/common';
import { fieldPath, FieldConflict, ValidationFailed } from './errors';
import { parseId } from './parse-id';

test('fieldPath splits a field into its steps, list indexes as numbers', () => {
  const table: [string, (string | number)[]][] = [
    ['name', ['name']],
    ['hostsAllow[2]', ['hostsAllow', 2]],
    ['users[0].access', ['users', 0, 'access']],
    ['webhook.url', ['webhook', 'url']],
    ['email.to[1]', ['email', 'to', 1]],
  ];
  for (const [field, path] of table) assert.deepEqual(fieldPath(field), path, field);
});

test('ValidationFailed keeps the old message and adds path to every detail', () => {
  const err = new ValidationFailed([{ field: 'hostsAllow[2]', message: 'must be an IP address' }]);
  assert.equal(err.message, 'hostsAllow[2]: must be an IP address');
  assert.deepEqual(err.details, [{ field: 'hostsAllow[2]', message: 'must be an IP address', path: ['hostsAllow', 2] }]);
});

test('FieldConflict is a 409 with the summary as message and the field in details', () => {
  const err = new FieldConflict('name', 'is already taken by another module', 'a module named "x" already exists');
  assert.equal(err.getStatus(), 409);
  assert.equal(err.message, 'a module named "x" already exists');
  assert.deepEqual(err.details, [{ field: 'name', message: 'is already taken by another module', path: ['name'] }]);
});

test('parseId accepts digits only; anything else is a plain 404 naming what was asked for', () => {
  for (const [raw, id] of [['1', 1], ['000042', 42], ['999999999999999', 999999999999999]] as const) assert.equal(parseId(raw, 'transfer session'), id);
  for (const raw of ['abc', '1e3', '-1', '1.5', '', ' 1', '0x10', '9999999999999999']) {
    assert.throws(() => parseId(raw, 'transfer session'), (e: unknown) => e instanceof NotFoundException && e.message === `transfer session "${raw}" does not exist`, raw);
  }
});
