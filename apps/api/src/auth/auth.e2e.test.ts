import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import * as argon2 from 'argon2';
import sqlite3 from 'sqlite3';
import request from 'supertest';
import { DataSource } from 'typeorm';
import type { Subscription } from 'rxjs';
import type { AdminDto, CreateApiTokenResponse, LoginResponse, MeResponse } from '@rsynchub/contracts';
import { createApp } from '../create-app';
import { AuthEvent, AuthEvents } from './auth-events';
import { LoginThrottle } from './login-throttle';
import { AuthService } from './auth.service';

// Configuration is read when the app is created; set it before that.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-auth-e2e-'));
const ADMIN_PASSWORD = 'initial-admin-password-42';
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = ADMIN_PASSWORD;
delete process.env.RSYNCHUB_ALLOWED_ORIGINS;

const dbFile = path.join(dataDir, 'rsynchub.sqlite');
const API = '/api/v1';

let app: INestApplication;
let server: Parameters<typeof request>[0];
/** Every response body seen, to prove no password or hash ever leaves the API. */
const bodies: string[] = [];
/** Every password used in these tests. */
const passwords = new Set<string>([ADMIN_PASSWORD]);
const events: AuthEvent[] = [];
let eventSub: Subscription;

interface CallOptions {
  token?: string;
  cookie?: string;
  body?: object;
  headers?: Record<string, string>;
}

async function call(method: 'get' | 'post' | 'patch' | 'delete' | 'head', url: string, opts: CallOptions = {}): Promise<request.Response> {
  let req = request(server)[method](url.startsWith('/') ? url : `${API}/${url}`);
  if (opts.token) req = req.set('Authorization', `Bearer ${opts.token}`);
  if (opts.cookie) req = req.set('Cookie', `rsynchub_session=${opts.cookie}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) req = req.set(k, v);
  const res = opts.body !== undefined ? await req.send(opts.body) : await req;
  bodies.push(res.text ?? '');
  return res;
}

async function login(username: string, password: string): Promise<LoginResponse> {
  const res = await call('post', 'auth/login', { body: { username, password } });
  assert.equal(res.status, 200, `login ${username}: ${res.text}`);
  return res.body as LoginResponse;
}

function sqliteAll<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(dbFile, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      db.all(sql, params, (e, rows) => {
        db.close();
        if (e) reject(e);
        else resolve(rows as T[]);
      });
    });
  });
}

async function createAdmin(adminToken: string, username: string, role: 'admin' | 'auditor'): Promise<{ admin: AdminDto; password: string }> {
  const password = `${username}-password-0123`;
  passwords.add(password);
  const res = await call('post', 'admins', { token: adminToken, body: { username, password, role } });
  assert.equal(res.status, 201, res.text);
  return { admin: res.body as AdminDto, password };
}

/** An account made by another admin, which has already replaced its temporary password (so it may act). */
async function createActiveAdmin(adminToken: string, username: string, role: 'admin' | 'auditor'): Promise<{ admin: AdminDto; password: string; session: string }> {
  const made = await createAdmin(adminToken, username, role);
  const session = (await login(username, made.password)).token;
  const password = `${username}-own-password-4567`;
  passwords.add(password);
  const changed = await call('post', 'auth/password', { token: session, body: { currentPassword: made.password, newPassword: password } });
  assert.equal(changed.status, 204, changed.text);
  return { admin: made.admin, password, session };
}

function assertUnauthorized(res: request.Response, what: string): void {
  assert.equal(res.status, 401, `${what}: ${res.status} ${res.text}`);
  assert.deepEqual(res.body, { statusCode: 401, error: 'unauthorized', message: 'authentication required' }, what);
}

before(async () => {
  app = await createApp({ logger: false });
  eventSub = app.get(AuthEvents).events$.subscribe((e) => events.push(e));
  await app.init();
  server = app.getHttpServer();
});

after(async () => {
  eventSub?.unsubscribe();
  await app?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('login and sessions', () => {
  beforeEach(() => app.get(LoginThrottle).clear());

  it('sets an HttpOnly SameSite=Strict session cookie and returns a bearer-usable token', async () => {
    const res = await call('post', 'auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD } });
    assert.equal(res.status, 200, res.text);
    const body = res.body as LoginResponse;
    assert.match(body.token, /^rhs_[A-Za-z0-9_-]{43}$/);
    assert.equal(body.admin.username, 'admin');
    assert.equal(body.admin.role, 'admin');
    assert.equal(body.mustChangePassword, false);
    assert.ok(body.admin.lastLoginAt, 'last login recorded');
    const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    const cookie = setCookie.find((c) => c.startsWith('rsynchub_session='));
    assert.ok(cookie, `cookie set: ${setCookie.join(' | ')}`);
    assert.ok(cookie.startsWith(`rsynchub_session=${body.token};`), 'cookie carries the same token');
    assert.match(cookie, /;\s*HttpOnly/i);
    assert.match(cookie, /;\s*SameSite=Strict/i);
    assert.match(cookie, /;\s*Path=\/(;|$)/);
    assert.doesNotMatch(cookie, /;\s*Secure/i, 'plain http: no Secure flag');
  });

  it('GET /auth/me works with the cookie and with the bearer token', async () => {
    const { token } = await login('admin', ADMIN_PASSWORD);
    for (const opts of [{ cookie: token }, { token }]) {
      const res = await call('get', 'auth/me', opts);
      assert.equal(res.status, 200, res.text);
      const me = res.body as MeResponse;
      assert.equal(me.admin.username, 'admin');
      assert.equal(me.via, 'session');
      assert.equal(me.mustChangePassword, false);
    }
  });

  it('AuthService.authenticate (for WebSocket upgrades) reads the cookie header or the bearer header', async () => {
    const auth = app.get(AuthService);
    const { token, admin } = await login('admin', ADMIN_PASSWORD);
    const byCookie = await auth.authenticate({ cookieHeader: `theme=dark; rsynchub_session=${token}` });
    assert.deepEqual(byCookie && { ...byCookie, credentialId: 0 }, { adminId: admin.id, username: 'admin', role: 'admin', via: 'session', credentialId: 0, mustChangePassword: false });
    assert.equal((await auth.authenticate({ authorization: `Bearer ${token}` }))?.adminId, admin.id);
    assert.equal(await auth.authenticate({ cookieHeader: 'rsynchub_session=rhs_forged' }), null);
    assert.equal(await auth.authenticate({ authorization: 'Bearer nope', cookieHeader: `rsynchub_session=${token}` }), null, 'a bad header does not fall back');
    assert.equal(await auth.authenticate({}), null);
  });

  it('logout with a bearer session token kills that token only', async () => {
    const first = await login('admin', ADMIN_PASSWORD);
    const second = await login('admin', ADMIN_PASSWORD);
    const res = await call('post', 'auth/logout', { token: first.token });
    assert.equal(res.status, 204, res.text);
    assertUnauthorized(await call('get', 'auth/me', { token: first.token }), 'me after logout');
    assertUnauthorized(await call('get', 'auth/me', { cookie: first.token }), 'me by cookie after logout');
    assert.equal((await call('get', 'auth/me', { token: second.token })).status, 200, 'other session lives');
    const rows = await sqliteAll<{ revoked_at: string | null }>('SELECT revoked_at FROM admin_sessions WHERE token_hash = ?', [sha256(first.token)]);
    assert.equal(rows.length, 1);
    assert.ok(rows[0].revoked_at, 'revoked in the database');
  });

  it('logout with the cookie revokes the session and clears the cookie', async () => {
    const { token } = await login('admin', ADMIN_PASSWORD);
    const res = await call('post', 'auth/logout', { cookie: token });
    assert.equal(res.status, 204, res.text);
    const cleared = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('rsynchub_session='));
    assert.ok(cleared, 'cookie cleared');
    assert.match(cleared, /^rsynchub_session=;/);
    assert.match(cleared, /Expires=Thu, 01 Jan 1970/);
    assertUnauthorized(await call('get', 'auth/me', { cookie: token }), 'me after cookie logout');
  });

  it('sessions expire after 12 h unused; use slides the expiry, written at most once a minute', async () => {
    const db = app.get(DataSource);
    const sqlTime = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    const expiresAt = async (token: string): Promise<number> => {
      const rows = await sqliteAll<{ e: string }>('SELECT expires_at AS e FROM admin_sessions WHERE token_hash = ?', [sha256(token)]);
      return Date.parse(`${rows[0].e.replace(' ', 'T')}Z`);
    };
    const expired = (await login('admin', ADMIN_PASSWORD)).token;
    const initial = await expiresAt(expired);
    assert.ok(Math.abs(initial - (Date.now() + 12 * 3_600_000)) < 60_000, 'expires 12 h after login');
    await db.query('UPDATE admin_sessions SET expires_at = ? WHERE token_hash = ?', [sqlTime(Date.now() - 1000), sha256(expired)]);
    assertUnauthorized(await call('get', 'auth/me', { token: expired }), 'expired session');

    const idle = (await login('admin', ADMIN_PASSWORD)).token;
    // Last used 2 minutes ago, about to expire: this use extends it to 12 h from now.
    await db.query('UPDATE admin_sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?', [sqlTime(Date.now() - 120_000), sqlTime(Date.now() + 60_000), sha256(idle)]);
    assert.equal((await call('get', 'auth/me', { token: idle })).status, 200);
    assert.ok((await expiresAt(idle)) > Date.now() + 11 * 3_600_000, 'slid to 12 h');
    // Used moments ago: no write, the (artificially short) expiry stays as it is.
    const soon = Date.now() + 60_000;
    await db.query('UPDATE admin_sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?', [sqlTime(Date.now() - 1000), sqlTime(soon), sha256(idle)]);
    assert.equal((await call('get', 'auth/me', { token: idle })).status, 200);
    assert.ok(Math.abs((await expiresAt(idle)) - soon) < 5, 'not rewritten within a minute');
  });

  it('a wrong password and an unknown user both get 401 with the same message', async () => {
    const wrong = await call('post', 'auth/login', { body: { username: 'admin', password: 'not-the-password' } });
    const unknown = await call('post', 'auth/login', { body: { username: 'nobody-here', password: 'whatever-password' } });
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 401, res.text);
      assert.deepEqual(res.body, { statusCode: 401, error: 'unauthorized', message: 'invalid username or password' });
      assert.equal(res.headers['set-cookie'], undefined, 'no cookie on failure');
    }
  });

  it('an unknown user costs an argon2 verification too (no username oracle by timing)', async () => {
    const hash = await argon2.hash('some password', { type: argon2.argon2id });
    await call('post', 'auth/login', { body: { username: 'ghost', password: 'warm-up-password' } }); // dummy hash is made lazily
    // Interleaved rounds, so machine load hits both measurements alike.
    let verifyMs = 0;
    let unknownMs = 0;
    for (let i = 0; i < 3; i++) {
      let t0 = performance.now();
      await argon2.verify(hash, 'other password');
      verifyMs += performance.now() - t0;
      t0 = performance.now();
      const res = await call('post', 'auth/login', { body: { username: 'ghost', password: `guess-password-${i}` } });
      unknownMs += performance.now() - t0;
      assert.equal(res.status, 401);
    }
    // Without the dummy verification an unknown user answers in well under a millisecond of hashing work.
    assert.ok(unknownMs >= verifyMs * 0.5, `unknown user took ${unknownMs.toFixed(1)} ms in total, argon2 verifies ${verifyMs.toFixed(1)} ms`);
  });

  it('validates the login body', async () => {
    const res = await call('post', 'auth/login', { body: { username: 'admin' } });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error, 'validation');
    const extra = await call('post', 'auth/login', { body: { username: 'admin', password: 'x', remember: true } });
    assert.equal(extra.status, 400, extra.text);
  });
});

describe('failed-login throttling', () => {
  beforeEach(() => app.get(LoginThrottle).clear());

  it('answers 429 with Retry-After after 5 failures for a user, even with the right password', async () => {
    const { token } = await login('admin', ADMIN_PASSWORD);
    const victim = await createAdmin(token, 'victim', 'auditor');
    for (let i = 0; i < 5; i++) {
      const res = await call('post', 'auth/login', { body: { username: 'victim', password: `wrong-${i}` } });
      assert.equal(res.status, 401, `attempt ${i + 1}: ${res.text}`);
    }
    const blocked = await call('post', 'auth/login', { body: { username: 'victim', password: victim.password } });
    assert.equal(blocked.status, 429, blocked.text);
    const retryAfter = Number(blocked.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 900, `Retry-After ${blocked.headers['retry-after']}`);
    assert.equal(blocked.body.error, 'too_many_requests');
    assert.match(blocked.body.message, /^too many failed logins; try again in \d+ seconds$/);
    // Other accounts from the same client are not locked out by it.
    assert.equal((await call('post', 'auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD } })).status, 200);
    assert.ok(events.some((e) => e.type === 'login.failed' && e.reason === 'throttled' && e.actor?.username === 'victim'));
  });

  it('a successful login resets the count', async () => {
    const { token } = await login('admin', ADMIN_PASSWORD);
    const user = await createAdmin(token, 'resetter', 'auditor');
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 4; i++) {
        assert.equal((await call('post', 'auth/login', { body: { username: 'resetter', password: `bad-${i}` } })).status, 401);
      }
      assert.equal((await call('post', 'auth/login', { body: { username: 'resetter', password: user.password } })).status, 200, `round ${round}`);
    }
  });

  it('parallel guesses cannot slip past the limit', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call('post', 'auth/login', { body: { username: 'admin', password: `parallel-guess-${i}` } })),
    );
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((st) => st === 401).length, 5, statuses.join(','));
    assert.equal(statuses.filter((st) => st === 429).length, 7, statuses.join(','));
  });

  it('throttles a client that sprays many usernames', async () => {
    for (let i = 0; i < 20; i++) {
      assert.equal((await call('post', 'auth/login', { body: { username: `spray${i}`, password: 'guess-guess' } })).status, 401);
    }
    const res = await call('post', 'auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD } });
    assert.equal(res.status, 429, res.text);
  });
});

describe('API tokens', () => {
  beforeEach(() => app.get(LoginThrottle).clear());

  it('create shows the secret once; list never does; the token works until revoked', async () => {
    const { token: session } = await login('admin', ADMIN_PASSWORD);
    const created = await call('post', 'tokens', { token: session, body: { name: 'provisioning', expiresInDays: 30 } });
    assert.equal(created.status, 201, created.text);
    const { token, secret } = created.body as CreateApiTokenResponse;
    assert.match(secret, /^rh_[A-Za-z0-9_-]{43}$/);
    assert.equal(token.prefix, secret.slice(0, 10));
    assert.equal(token.name, 'provisioning');
    assert.ok(token.expiresAt && Date.parse(token.expiresAt) > Date.now() + 29 * 86_400_000);

    const list = await call('get', 'tokens', { token: session });
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(secret), 'list does not contain the secret');
    const listed = (list.body as { id: number; name: string }[]).find((t) => t.id === token.id);
    assert.deepEqual(Object.keys(listed ?? {}).sort(), ['adminId', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'prefix', 'scope', 'sourceName']);

    // Stored as SHA-256 hex, the secret itself nowhere in the database files.
    const rows = await sqliteAll<{ token_hash: string; prefix: string }>('SELECT token_hash, prefix FROM api_tokens WHERE id = ?', [token.id]);
    assert.equal(rows[0].token_hash, sha256(secret));
    for (const file of [dbFile, `${dbFile}-wal`].filter((f) => fs.existsSync(f))) {
      assert.ok(!fs.readFileSync(file).includes(secret), `${path.basename(file)} does not hold the secret`);
    }

    const me = await call('get', 'auth/me', { token: secret });
    assert.equal(me.status, 200, me.text);
    assert.equal((me.body as MeResponse).via, 'token');
    assert.equal((await call('get', 'admins', { token: secret })).status, 200, 'acts with the admin role');

    const expiring = ((await call('post', 'tokens', { token: session, body: { name: 'short-lived', expiresInDays: 1 } })).body as CreateApiTokenResponse);
    assert.equal((await call('get', 'auth/me', { token: expiring.secret })).status, 200);
    await app.get(DataSource).query('UPDATE api_tokens SET expires_at = ? WHERE id = ?', ['2000-01-01 00:00:00.000', expiring.token.id]);
    assertUnauthorized(await call('get', 'auth/me', { token: expiring.secret }), 'expired token');

    const revoked = await call('delete', `tokens/${token.id}`, { token: session });
    assert.equal(revoked.status, 204, revoked.text);
    assertUnauthorized(await call('get', 'auth/me', { token: secret }), 'revoked token');
    const after = await call('get', 'tokens', { token: session });
    assert.ok(!(after.body as { id: number }[]).some((t) => t.id === token.id), 'revoked token not listed');
    assert.equal((await call('delete', `tokens/${token.id}`, { token: session })).status, 404);
    assert.ok(events.some((e) => e.type === 'token.created' && e.target?.id === token.id));
    assert.ok(events.some((e) => e.type === 'token.revoked' && e.target?.id === token.id));
  });

  it('rejects unknown fields and blank names', async () => {
    const { token } = await login('admin', ADMIN_PASSWORD);
    const blank = await call('post', 'tokens', { token, body: { name: '  ' } });
    assert.equal(blank.status, 400, blank.text);
    assert.deepEqual(blank.body.details, [{ field: 'name', message: 'must not be blank', path: ['name'] }]);
    assert.equal((await call('post', 'tokens', { token, body: { name: 'x', secret: 'mine' } })).status, 400);
  });
});

describe('roles', () => {
  beforeEach(() => app.get(LoginThrottle).clear());

  it('an auditor can read but not change anything, and cannot read admin-only routes', async () => {
    const { token: adminSession } = await login('admin', ADMIN_PASSWORD);
    const { admin: auditor, password } = await createAdmin(adminSession, 'audra', 'auditor');
    const session = await login('audra', password);
    assert.equal(session.mustChangePassword, true, 'accounts made by another admin must change their password');
    const token = session.token;

    // The writes an auditor may do: change the own password (first, since nothing else is allowed before), log out.
    const newPassword = 'audra-new-password-99';
    passwords.add(newPassword);
    const changed = await call('post', 'auth/password', { token, body: { currentPassword: password, newPassword } });
    assert.equal(changed.status, 204, changed.text);
    assert.equal(((await call('get', 'auth/me', { token })).body as MeResponse).mustChangePassword, false, 'flag cleared');

    const me = await call('get', 'auth/me', { token });
    assert.equal(me.status, 200);
    assert.equal((me.body as MeResponse).admin.role, 'auditor');
    assert.equal((await call('head', 'auth/me', { token })).status, 200);

    for (const url of ['admins', `admins/${auditor.id}`, 'tokens']) {
      const res = await call('get', url, { token });
      assert.equal(res.status, 403, `GET ${url}: ${res.text}`);
      assert.equal(res.body.error, 'forbidden');
    }
    const writes: [('post' | 'patch' | 'delete'), string, object | undefined][] = [
      ['post', 'admins', { username: 'sneaky', password: 'sneaky-password-1', role: 'admin' }],
      ['patch', `admins/${auditor.id}`, { role: 'admin' }],
      ['delete', 'admins/1', undefined],
      ['post', 'tokens', { name: 'mine' }],
      ['delete', 'tokens/1', undefined],
    ];
    for (const [method, url, body] of writes) {
      const res = await call(method, url, { token, body });
      assert.equal(res.status, 403, `${method} ${url}: ${res.text}`);
      assert.deepEqual(res.body, { statusCode: 403, error: 'forbidden', message: 'auditor accounts are read-only' });
    }
    assert.equal((await call('get', `admins/${auditor.id}`, { token: adminSession })).body.role, 'auditor', 'nothing changed');

    assert.equal((await call('post', 'auth/logout', { token })).status, 204);
  });
});

describe('admin accounts', () => {
  beforeEach(() => app.get(LoginThrottle).clear());

  it('stores passwords as argon2id', async () => {
    const rows = await sqliteAll<{ username: string; password_hash: string }>('SELECT username, password_hash FROM admins');
    assert.ok(rows.length >= 1);
    for (const row of rows) assert.match(row.password_hash, /^\$argon2id\$/, row.username);
  });

  it('validates usernames and passwords, and refuses duplicates case-insensitively', async () => {
    const { token } = await login('admin', ADMIN_PASSWORD);
    const cases: [object, string][] = [
      [{ username: 'Bad Name', password: 'long-enough-password', role: 'admin' }, 'username'],
      [{ username: '9starts-with-digit', password: 'long-enough-password', role: 'admin' }, 'username'],
      [{ username: 'a'.repeat(33), password: 'long-enough-password', role: 'admin' }, 'username'],
      [{ username: 'shorty', password: 'short', role: 'admin' }, 'password'],
      [{ username: 'roleless', password: 'long-enough-password', role: 'root' }, 'role'],
    ];
    for (const [body, field] of cases) {
      const res = await call('post', 'admins', { token, body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok((res.body.details as { field: string }[]).some((d) => d.field === field), `${field}: ${res.text}`);
    }
    await createAdmin(token, 'carol', 'auditor');
    const dup = await call('post', 'admins', { token, body: { username: 'carol', password: 'another-password-1', role: 'admin' } });
    assert.equal(dup.status, 409, dup.text);
    // The column is COLLATE NOCASE, so "CAROL" is the same account at login.
    assert.equal((await call('post', 'auth/login', { body: { username: 'CAROL', password: 'carol-password-0123' } })).status, 200);
    assert.equal((await call('get', 'admins/999999', { token })).status, 404);
    // A non-numeric id names no account: a 404 like any unknown id (not Nest's "numeric string is expected" 400).
    assert.equal((await call('get', 'admins/abc', { token })).status, 404);
  });

  it('you cannot delete or demote yourself, nor set your own password without the current one', async () => {
    const { token, admin } = await login('admin', ADMIN_PASSWORD);
    const del = await call('delete', `admins/${admin.id}`, { token });
    assert.equal(del.status, 409);
    assert.equal(del.body.message, 'you cannot delete your own account');
    const demote = await call('patch', `admins/${admin.id}`, { token, body: { role: 'auditor' } });
    assert.equal(demote.status, 409);
    assert.equal(demote.body.message, 'you cannot demote yourself');
    const pw = await call('patch', `admins/${admin.id}`, { token, body: { password: 'sneaky-new-password' } });
    assert.equal(pw.status, 409);
  });

  it('changing role or password revokes the account\'s sessions and tokens; deleting cascades', async () => {
    const { token: rootToken } = await login('admin', ADMIN_PASSWORD);
    const { admin: dave, session: daveSession } = await createActiveAdmin(rootToken, 'dave', 'admin');
    const daveToken = ((await call('post', 'tokens', { token: daveSession, body: { name: 'dave-ci' } })).body as CreateApiTokenResponse).secret;
    assert.equal((await call('get', 'auth/me', { token: daveToken })).status, 200);

    const newPassword = 'dave-reset-password-1';
    passwords.add(newPassword);
    const updated = await call('patch', `admins/${dave.id}`, { token: rootToken, body: { password: newPassword } });
    assert.equal(updated.status, 200, updated.text);
    assertUnauthorized(await call('get', 'auth/me', { token: daveSession }), 'session after password reset');
    assertUnauthorized(await call('get', 'auth/me', { token: daveToken }), 'token after password reset');

    const reset = await login('dave', newPassword);
    assert.equal(reset.mustChangePassword, true, 'a password set by another admin is temporary');
    const finalPassword = 'dave-chosen-password-2';
    passwords.add(finalPassword);
    const session2 = reset.token;
    assert.equal((await call('post', 'auth/password', { token: session2, body: { currentPassword: newPassword, newPassword: finalPassword } })).status, 204);
    const token2 = ((await call('post', 'tokens', { token: session2, body: { name: 'dave-ci-2' } })).body as CreateApiTokenResponse).secret;
    const demoted = await call('patch', `admins/${dave.id}`, { token: rootToken, body: { role: 'auditor' } });
    assert.equal(demoted.status, 200);
    assert.equal((demoted.body as AdminDto).role, 'auditor');
    assertUnauthorized(await call('get', 'auth/me', { token: session2 }), 'session after demotion');
    assertUnauthorized(await call('get', 'auth/me', { token: token2 }), 'token after demotion');

    await login('dave', finalPassword);
    const del = await call('delete', `admins/${dave.id}`, { token: rootToken });
    assert.equal(del.status, 204, del.text);
    const left = await sqliteAll<{ n: number }>(
      'SELECT (SELECT COUNT(*) FROM admin_sessions WHERE admin_id = ?) + (SELECT COUNT(*) FROM api_tokens WHERE admin_id = ?) AS n',
      [dave.id, dave.id],
    );
    assert.equal(left[0].n, 0, 'sessions and tokens deleted with the account');
    assert.equal((await call('get', `admins/${dave.id}`, { token: rootToken })).status, 404);
    assert.ok(events.some((e) => e.type === 'admin.deleted' && e.target?.name === 'dave'));
  });

  it('changing the own password keeps this session, revokes the others and the API tokens, and needs the current password', async () => {
    const { token: rootToken } = await login('admin', ADMIN_PASSWORD);
    const { password } = await createActiveAdmin(rootToken, 'erin', 'admin');
    const mine = (await login('erin', password)).token;
    const other = (await login('erin', password)).token;
    const erinToken = ((await call('post', 'tokens', { token: mine, body: { name: 'erin-ci' } })).body as CreateApiTokenResponse).secret;
    assert.equal((await call('get', 'auth/me', { token: erinToken })).status, 200);

    const wrong = await call('post', 'auth/password', { token: mine, body: { currentPassword: 'not-it-at-all', newPassword: 'erin-brand-new-pass' } });
    assert.equal(wrong.status, 400, wrong.text);
    assert.equal(wrong.body.details[0].field, 'currentPassword');
    const short = await call('post', 'auth/password', { token: mine, body: { currentPassword: password, newPassword: 'short' } });
    assert.equal(short.status, 400);
    assert.equal(short.body.details[0].field, 'newPassword');

    const newPassword = 'erin-brand-new-pass';
    passwords.add(newPassword);
    assert.equal((await call('post', 'auth/password', { token: mine, body: { currentPassword: password, newPassword } })).status, 204);
    assert.equal((await call('get', 'auth/me', { token: mine })).status, 200, 'this session stays');
    assertUnauthorized(await call('get', 'auth/me', { token: other }), 'other session revoked');
    assertUnauthorized(await call('get', 'auth/me', { token: erinToken }), 'API token made before the change revoked');
    assert.equal((await call('post', 'auth/login', { body: { username: 'erin', password } })).status, 401, 'old password dead');
    await login('erin', newPassword);
    assert.ok(events.some((e) => e.type === 'password.changed' && e.target?.name === 'erin'));
  });
});

describe('authentication is required everywhere but login and health', () => {
  it('answers 401 without credentials, with bad credentials, and for unknown routes', async () => {
    const routes: [('get' | 'post' | 'patch' | 'delete'), string][] = [
      ['get', 'auth/me'],
      ['post', 'auth/logout'],
      ['post', 'auth/password'],
      ['get', 'admins'],
      ['get', 'admins/1'],
      ['post', 'admins'],
      ['patch', 'admins/1'],
      ['delete', 'admins/1'],
      ['get', 'tokens'],
      ['post', 'tokens'],
      ['delete', 'tokens/1'],
      ['get', 'modules'],
      ['post', 'modules'],
      ['get', 'rsync-users'],
      ['get', 'daemon/status'],
      ['get', 'no-such-route'],
      ['delete', 'made/up/route'],
    ];
    const credentials: [string, CallOptions][] = [
      ['none', {}],
      ['garbage cookie', { cookie: 'rhs_garbage' }],
      ['garbage bearer', { token: 'rhs_garbage' }],
      ['garbage api token', { token: 'rh_garbage' }],
      ['basic auth', { headers: { Authorization: 'Basic YWRtaW46YWRtaW4=' } }],
    ];
    for (const [method, url] of routes) {
      for (const [name, opts] of credentials) {
        assertUnauthorized(await call(method, url, { ...opts, body: method === 'get' || method === 'delete' ? undefined : {} }), `${method} ${url} (${name})`);
      }
    }
  });

  it('login and health answer without credentials', async () => {
    const health = await call('get', 'health');
    assert.ok(health.status === 200 || health.status === 503, `health: ${health.status} ${health.text}`);
    app.get(LoginThrottle).clear();
    assert.equal((await call('post', 'auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD } })).status, 200);
  });

  it('an authenticated request to an unknown route gets 404', async () => {
    app.get(LoginThrottle).clear();
    const { token } = await login('admin', ADMIN_PASSWORD);
    assert.equal((await call('get', 'no-such-route', { token })).status, 404);
  });

  it('refuses cookie-authenticated writes from a cross-site Origin', async () => {
    app.get(LoginThrottle).clear();
    const { token } = await login('admin', ADMIN_PASSWORD);
    const evil = await call('post', 'tokens', { cookie: token, body: { name: 'csrf' }, headers: { Origin: 'http://evil.example' } });
    assert.equal(evil.status, 403, evil.text);
    assert.match(evil.body.message, /cross-site request refused/);
    const host = await call('get', 'auth/me', { cookie: token, headers: { Origin: 'http://evil.example' } });
    assert.equal(host.status, 200, 'reads are not state-changing');
    const sameOrigin = await call('post', 'tokens', { cookie: token, body: { name: 'same-origin' }, headers: { Host: 'hub.example:3000', Origin: 'http://hub.example:3000' } });
    assert.equal(sameOrigin.status, 201, sameOrigin.text);
    const noOrigin = await call('post', 'tokens', { cookie: token, body: { name: 'no-origin' } });
    assert.equal(noOrigin.status, 201, 'non-browser clients send no Origin');
    const bearer = await call('post', 'tokens', { token, body: { name: 'bearer' }, headers: { Origin: 'http://evil.example' } });
    assert.equal(bearer.status, 201, 'a bearer token is never sent by a browser on its own');
  });
});

describe('secrets never leave the API', () => {
  it('no response body contains a password or a hash', async () => {
    const hashes = (await sqliteAll<{ h: string }>('SELECT password_hash AS h FROM admins UNION ALL SELECT token_hash FROM admin_sessions UNION ALL SELECT token_hash FROM api_tokens')).map((r) => r.h);
    assert.ok(bodies.length > 50 && hashes.length > 5);
    for (const body of bodies) {
      assert.ok(!/\$argon2/.test(body), `argon2 hash in ${body.slice(0, 200)}`);
      assert.ok(!/password_?hash|tokenHash|token_hash/i.test(body), `hash field in ${body.slice(0, 200)}`);
      for (const pw of passwords) assert.ok(!body.includes(pw), `password in ${body.slice(0, 200)}`);
      for (const h of hashes) assert.ok(!body.includes(h), `stored hash in ${body.slice(0, 200)}`);
    }
  });

  it('auth events carry no passwords or tokens', () => {
    assert.ok(events.some((e) => e.type === 'login.succeeded'));
    assert.ok(events.some((e) => e.type === 'login.failed' && e.reason === 'invalid_credentials'));
    const text = JSON.stringify(events);
    for (const pw of passwords) assert.ok(!text.includes(pw), 'password in events');
    assert.doesNotMatch(text, /rhs?_[A-Za-z0-9_-]{43}|\$argon2/);
  });
});

describe('first start without RSYNCHUB_ADMIN_PASSWORD', () => {
  it('prints a generated admin password once, which logs in and must be changed', { timeout: 60_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-auth-first-'));
    const mainJs = path.resolve(__dirname, '../main.js');
    try {
      const port = await freePort();
      const first = await startServer(mainJs, dir, port);
      let firstOutput: string;
      try {
        firstOutput = await first.waitFor(/RsyncHub console at/);
      } finally {
        await first.stop();
      }
      const matches = [...firstOutput.matchAll(/Generated admin password for "admin": (\S+)/g)];
      assert.equal(matches.length, 1, `banner once in:\n${firstOutput}`);
      const generated = matches[0][1];
      assert.ok(generated.length >= 20, 'strong password');

      // Restart on the same data: the account exists, so no banner; the printed password logs in.
      const second = await startServer(mainJs, dir, port);
      try {
        const output = await second.waitFor(/RsyncHub console at/);
        assert.doesNotMatch(output, /Generated admin password/);
        const res = await request(`http://127.0.0.1:${port}`).post(`${API}/auth/login`).send({ username: 'admin', password: generated });
        assert.equal(res.status, 200, res.text);
        assert.equal((res.body as LoginResponse).mustChangePassword, true);
        assert.ok(!res.text.includes(generated));
      } finally {
        await second.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

interface RunningServer {
  waitFor(pattern: RegExp): Promise<string>;
  stop(): Promise<void>;
}

async function startServer(mainJs: string, dir: string, port: number): Promise<RunningServer> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RSYNCHUB_DATA_DIR: dir,
    RSYNCHUB_HTTP_PORT: String(port),
    RSYNCHUB_HTTP_HOST: '127.0.0.1',
    RSYNCHUB_START_DAEMON: 'false',
  };
  delete env.RSYNCHUB_ADMIN_PASSWORD;
  delete env.NODE_TEST_CONTEXT; // the child is a server, not a test file
  const child: ChildProcess = spawn(process.execPath, [mainJs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const deadline = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`)); }, 30_000);
        const check = (): void => {
          if (pattern.test(output)) { cleanup(); resolve(output); }
        };
        const onExit = (): void => { cleanup(); reject(new Error(`server exited early; output:\n${output}`)); };
        function cleanup(): void {
          clearTimeout(deadline);
          child.stdout?.off('data', check);
          child.off('exit', onExit);
        }
        child.stdout?.on('data', check);
        child.once('exit', onExit);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
