/**
 * Issue 13, the API side of "errors people can act on", against the real server: 400 details carry `path` (list
 * indexes as numbers) next to the old `field`/`message`; a taken name is a 409 ON `name` (also when the suggested
 * path overlaps too), for modules, rsync users and admins, and changes nothing; `/transfers/abc` is a plain 404;
 * a wrong current password is `currentPassword: is wrong`; and `POST /api/v1/admins/{id}/password` resets another
 * admin's password (generated or given), revoking that admin's sessions and tokens, audited, refused to auditors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, RunningServer, startServer } from './support/server';

let server: RunningServer;
const USER = 'erruser';
const strong = () => `Strong-${crypto.randomBytes(9).toString('hex')}`;

before(async () => {
  server = await startServer();
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: crypto.randomBytes(12).toString('hex') })).status, 201);
  const made = await server.admin.post('/api/v1/modules', { name: 'myhub1', path: path.join(server.storageRoot, 'myhub1'), users: [{ name: USER, access: 'rw' }] });
  assert.equal(made.status, 201, made.text);
});

after(async () => {
  await server?.stop();
});

/** An admin account that has chosen its own password, logged in. */
async function activeAdmin(username: string, role: 'admin' | 'auditor'): Promise<{ id: number; client: ApiClient; password: string }> {
  const temporary = strong();
  const made = await server.admin.post('/api/v1/admins', { username, password: temporary, role });
  assert.equal(made.status, 201, made.text);
  const client = server.client();
  await client.login(username, temporary);
  const password = strong();
  const changed = await client.post('/api/v1/auth/password', { currentPassword: temporary, newPassword: password });
  assert.equal(changed.status, 204, changed.text);
  await client.login(username, password);
  return { id: made.body.id, client, password };
}

describe('structured 400 details', () => {
  test('a list entry is named by field and 0-based path; the old field and message stay', async () => {
    const res = await server.admin.post('/api/v1/modules', {
      name: 'hosts1',
      path: path.join(server.storageRoot, 'hosts1'),
      users: [{ name: USER, access: 'rw' }],
      hostsAllow: ['10.0.0.1', '10.0.0.2', '10.0.0.300'],
    });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.body.details, [{ field: 'hostsAllow[2]', message: 'must be a valid IPv4 address (each of 4 parts 0-255)', path: ['hostsAllow', 2] }]);
    assert.match(res.body.message, /^hostsAllow\[2\]: must be a valid IPv4/);
    assert.equal(fs.existsSync(path.join(server.storageRoot, 'hosts1')), false, 'nothing made');
  });

  test('nested fields get every step', async () => {
    const res = await server.admin.post('/api/v1/modules', {
      name: 'ro1',
      path: path.join(server.storageRoot, 'ro1'),
      readOnly: true,
      users: [{ name: USER, access: 'rw' }],
    });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.body.details.map((d: { path: unknown }) => d.path), [['users', 0, 'access']]);
  });

  test('a wrong current password is on currentPassword, in plain words', async () => {
    const { client } = await activeAdmin('pwcheck', 'auditor');
    const res = await client.post('/api/v1/auth/password', { currentPassword: 'not-it-at-all-1', newPassword: strong() });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.body.details, [{ field: 'currentPassword', message: 'is wrong', path: ['currentPassword'] }]);
  });
});

describe('a taken name is a 409 on name', () => {
  test('module: reported on name, not as the overlapping path the name suggested; nothing changes', async () => {
    const before = (await server.admin.get('/api/v1/modules')).body.length;
    const res = await server.admin.post('/api/v1/modules', { name: 'myhub1', path: path.join(server.storageRoot, 'myhub1'), users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 409, res.text);
    assert.equal(res.body.error, 'conflict');
    assert.match(res.body.message, /a module named "myhub1" already exists/);
    assert.deepEqual(res.body.details, [{ field: 'name', message: 'is already taken by another module', path: ['name'] }]);
    assert.doesNotMatch(res.text, /is already the path/);
    assert.equal((await server.admin.get('/api/v1/modules')).body.length, before);
  });

  test('module, other case: names the module it clashes with', async () => {
    const res = await server.admin.post('/api/v1/modules', { name: 'MyHub1', path: path.join(server.storageRoot, 'elsewhere'), users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 409, res.text);
    assert.equal(res.body.details[0].field, 'name');
    assert.match(res.body.details[0].message, /module "myhub1" \(names are case-insensitive\)/);
    assert.equal(fs.existsSync(path.join(server.storageRoot, 'elsewhere')), false, 'no directory left behind');
  });

  test('rsync user and admin', async () => {
    const user = await server.admin.post('/api/v1/rsync-users', { name: USER });
    assert.equal(user.status, 409, user.text);
    assert.deepEqual(user.body.details.map((d: { field: string }) => d.field), ['name']);
    const admin = await server.admin.post('/api/v1/admins', { username: 'admin', password: strong(), role: 'auditor' });
    assert.equal(admin.status, 409, admin.text);
    assert.deepEqual(admin.body.details.map((d: { field: string }) => d.field), ['username']);
  });
});

describe('plain 404s', () => {
  test('/transfers/abc names no session instead of "numeric string is expected"', async () => {
    for (const p of ['/api/v1/transfers/abc', '/api/v1/transfers/abc/files', '/api/v1/transfers/1e3', '/api/v1/transfers/999999']) {
      const res = await server.admin.get(p);
      assert.equal(res.status, 404, `${p}: ${res.text}`);
      assert.doesNotMatch(res.text, /numeric string/);
      assert.match(res.body.message, /transfer session .* does not exist/);
    }
  });

  test('every other numeric id in a URL says which thing does not exist, naming what the client wrote', async () => {
    const cases: Array<[string, string, string, RegExp]> = [
      ['get', '/api/v1/admins/abc', '', /^admin "abc" does not exist$/],
      ['get', '/api/v1/admins/1e3', '', /^admin "1e3" does not exist$/],
      ['get', '/api/v1/admins/999999', '', /admin .*999999.* does not exist/],
      ['patch', '/api/v1/admins/-1', '{}', /^admin "-1" does not exist$/],
      ['delete', '/api/v1/tokens/abc', '', /^token "abc" does not exist$/],
      ['get', '/api/v1/alerts/abc', '', /^alert "abc" does not exist$/],
      ['post', '/api/v1/alerts/1.5/ack', '{}', /^alert "1.5" does not exist$/],
      ['get', '/api/v1/alerts/channels/x1', '', /^alert channel "x1" does not exist$/],
    ];
    for (const [method, p, body, message] of cases) {
      const res = await server.admin.request(method.toUpperCase(), p, body ? JSON.parse(body) : undefined);
      assert.equal(res.status, 404, `${method} ${p}: ${res.text}`);
      assert.doesNotMatch(res.text, /numeric string|Validation failed/);
      assert.match(res.body.message, message, `${method} ${p}`);
    }
  });
});

describe('an admin resets another admin\'s password', () => {
  test('generated, shown once; the account\'s sessions and tokens stop working; it must change it; audited without the secret', async () => {
    const victim = await activeAdmin('victim', 'admin');
    const token = await victim.client.post('/api/v1/tokens', { name: 'victim script' });
    assert.equal(token.status, 201, token.text);
    const viaToken = new ApiClient(server.baseUrl, token.body.secret);
    assert.equal((await viaToken.get('/api/v1/modules')).status, 200);
    assert.equal((await victim.client.get('/api/v1/modules')).status, 200);

    const res = await server.admin.post(`/api/v1/admins/${victim.id}/password`, {});
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.admin.username, 'victim');
    const temporary: string = res.body.temporaryPassword;
    assert.ok(typeof temporary === 'string' && temporary.length >= 12);

    assert.equal((await victim.client.get('/api/v1/modules')).status, 401, 'the old session is revoked');
    assert.equal((await viaToken.get('/api/v1/modules')).status, 401, 'the token is revoked');
    const old = await server.client().request('POST', '/api/v1/auth/login', { username: 'victim', password: victim.password });
    assert.equal(old.status, 401, 'the old password is gone');
    const fresh = server.client();
    const login = await fresh.login('victim', temporary);
    assert.equal(login.mustChangePassword, true);
    assert.equal((await fresh.get('/api/v1/modules')).status, 403, 'must change it first');

    const audit = await server.admin.get('/api/v1/audit?action=admin.password.reset');
    assert.equal(audit.status, 200, audit.text);
    const entry = audit.body.items.find((e: { target: string | null }) => e.target === String(victim.id));
    assert.ok(entry, audit.text);
    assert.equal(entry.actor, 'admin');
    assert.equal(entry.outcome, 'success');
    assert.ok(!audit.text.includes(temporary), 'the temporary password is not in the audit log');
    assert.ok(!server.output().includes(temporary), 'nor in the server log');
  });

  test('a given password is used and not echoed; weak ones, yourself, unknown ids and auditors are refused', async () => {
    const other = await activeAdmin('other', 'auditor');
    const chosen = strong();
    const given = await server.admin.post(`/api/v1/admins/${other.id}/password`, { password: chosen });
    assert.equal(given.status, 200, given.text);
    assert.equal(given.body.temporaryPassword, undefined);
    assert.ok(!given.text.includes(chosen));
    await server.client().login('other', chosen);

    const weak = await server.admin.post(`/api/v1/admins/${other.id}/password`, { password: 'password1234' });
    assert.equal(weak.status, 400, weak.text);
    assert.equal(weak.body.details[0].field, 'password');

    const me = (await server.admin.get('/api/v1/auth/me')).body.admin.id;
    assert.equal((await server.admin.post(`/api/v1/admins/${me}/password`, {})).status, 409);
    assert.equal((await server.admin.post('/api/v1/admins/987654/password', {})).status, 404);

    const auditor = await activeAdmin('resetauditor', 'auditor');
    const refused = await auditor.client.post(`/api/v1/admins/${other.id}/password`, {});
    assert.equal(refused.status, 403, refused.text);
    await server.client().login('other', chosen); // unchanged by the refused call
  });
});
