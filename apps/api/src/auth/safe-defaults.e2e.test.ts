/**
 * Issue 14, items 4, 8 and 15 against the real Nest app on a real socket (SQLite file, argon2, helmet, the built
 * console): temporary passwords block everything but the change, weak passwords are refused, throttled logins are
 * aggregated in the audit log, lockouts stay per address (and follow X-Forwarded-For only when the proxy is trusted),
 * security headers, JSON-only login with the Origin check, Secure cookies behind a trusted TLS proxy, static caching.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import WebSocket from 'ws';
import type { AuditEntryDto, LoginResponse, Page } from '@rsynchub/contracts';
import { createApp } from '../create-app';
import { APP_CONFIG, AppConfig } from '../config/app-config';

const ADMIN_PASSWORD = 'safe-defaults-admin-password-7';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  text: string;
  body: any;
}

interface Call {
  method?: string;
  body?: unknown;
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
  /** Source address on the loopback network (127.0.0.x), to act as another client. */
  from?: string;
}

/** One app on a real port, so requests can come from several loopback addresses and open WebSockets. */
class TestServer {
  app!: INestApplication;
  port = 0;
  dataDir = '';

  async start(env: Record<string, string | undefined>): Promise<void> {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-safe-'));
    const saved: Record<string, string | undefined> = {};
    const all: Record<string, string | undefined> = {
      RSYNCHUB_DATA_DIR: this.dataDir,
      RSYNCHUB_START_DAEMON: 'false',
      RSYNCHUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
      RSYNCHUB_ALLOWED_ORIGINS: undefined,
      RSYNCHUB_TRUST_PROXY: undefined,
      ...env,
    };
    // Configuration is read while the app is created; restore the environment right after.
    for (const [k, v] of Object.entries(all)) {
      saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      this.app = await createApp({ logger: false });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    await this.app.listen(0, '127.0.0.1');
    this.port = (this.app.getHttpServer().address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await this.app?.close();
    if (this.dataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  call(url: string, opts: Call = {}): Promise<Reply> {
    const payload = opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
    const headers: Record<string, string> = {
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.headers ?? {}),
    };
    if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: this.port, path: url, method: opts.method ?? (payload !== undefined ? 'POST' : 'GET'), headers, localAddress: opts.from, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks);
            const text = raw.toString('utf8');
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, text, body });
          });
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  login(username: string, password: string, opts: Call = {}): Promise<Reply> {
    return this.call('/api/v1/auth/login', { ...opts, body: { username, password } });
  }

  async session(username: string, password: string, from?: string): Promise<string> {
    const res = await this.login(username, password, { from });
    assert.equal(res.status, 200, `login ${username}: ${res.text}`);
    return (res.body as LoginResponse).token;
  }

  /** Opens the live WebSocket; resolves with the HTTP status of a refused upgrade, or 101 when it opened. */
  wsStatus(token: string): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } });
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('error', () => resolve(-1));
    });
  }

  async auditOf(token: string, action: string): Promise<AuditEntryDto[]> {
    const res = await this.call(`/api/v1/audit?action=${encodeURIComponent(action)}&limit=500`, { token });
    assert.equal(res.status, 200, res.text);
    return (res.body as Page<AuditEntryDto>).items;
  }
}

const strong = () => `Pw-${randomBytes(12).toString('hex')}`;

/** Polls until `check` returns a truthy value (deadline, not a fixed sleep). */
async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const direct = new TestServer();
let root = '';

before(async () => {
  await direct.start({});
  root = await direct.session('admin', ADMIN_PASSWORD);
});

after(() => direct.stop());

describe('temporary passwords (item 4)', () => {
  it('an account whose password another admin set can only change it, read auth/me and log out; the WebSocket refuses it', async () => {
    const temporary = strong();
    assert.equal((await direct.call('/api/v1/admins', { token: root, body: { username: 'tempo', password: temporary, role: 'admin' } })).status, 201);
    const login = await direct.login('tempo', temporary);
    assert.equal(login.status, 200, login.text);
    assert.equal((login.body as LoginResponse).mustChangePassword, true);
    const token = (login.body as LoginResponse).token;

    for (const [method, url, body] of [
      ['GET', '/api/v1/modules', undefined],
      ['GET', '/api/v1/admins', undefined],
      ['POST', '/api/v1/tokens', { name: 'sneak' }],
      ['POST', '/api/v1/rsync-users', { name: 'sneak' }],
      ['GET', '/api/docs-json', undefined],
    ] as const) {
      const res = await direct.call(url, { method, token, body });
      assert.equal(res.status, 403, `${method} ${url}: ${res.text}`);
      assert.equal(res.body.error, 'password_change_required', `${method} ${url}`);
    }
    assert.equal(await direct.wsStatus(token), 403, 'the live stream refuses the account too');
    const me = await direct.call('/api/v1/auth/me', { token });
    assert.equal(me.status, 200);
    assert.equal(me.body.mustChangePassword, true);

    const weak = await direct.call('/api/v1/auth/password', { token, body: { currentPassword: temporary, newPassword: 'password1234' } });
    assert.equal(weak.status, 400, weak.text);
    assert.equal(weak.body.details[0].field, 'newPassword');
    assert.match(weak.body.details[0].message, /too weak \(strength [0-2] of 4/);

    const chosen = strong();
    assert.equal((await direct.call('/api/v1/auth/password', { token, body: { currentPassword: temporary, newPassword: chosen } })).status, 204);
    assert.equal((await direct.call('/api/v1/modules', { token })).status, 200, 'free once changed');
    assert.equal(await direct.wsStatus(token), 101);
    assert.equal((await direct.call('/api/v1/auth/logout', { method: 'POST', token, body: {} })).status, 204);
  });

  it('a password reset by another admin is temporary again', async () => {
    const first = strong();
    const made = await direct.call('/api/v1/admins', { token: root, body: { username: 'resetme', password: first, role: 'auditor' } });
    const session = (await direct.login('resetme', first)).body.token as string;
    const own = strong();
    assert.equal((await direct.call('/api/v1/auth/password', { token: session, body: { currentPassword: first, newPassword: own } })).status, 204);
    assert.equal((await direct.login('resetme', own)).body.mustChangePassword, false);
    const reset = strong();
    assert.equal((await direct.call(`/api/v1/admins/${made.body.id}`, { method: 'PATCH', token: root, body: { password: reset } })).status, 200);
    const again = await direct.login('resetme', reset);
    assert.equal(again.body.mustChangePassword, true);
    assert.equal((await direct.call('/api/v1/modules', { token: again.body.token })).status, 403);
  });

  it('the operator\'s strong RSYNCHUB_ADMIN_PASSWORD is not forced to change', async () => {
    assert.equal((await direct.login('admin', ADMIN_PASSWORD)).body.mustChangePassword, false);
    assert.equal((await direct.call('/api/v1/modules', { token: root })).status, 200);
  });
});

describe('strong secrets (item 4)', () => {
  it('admin passwords are scored with zxcvbn: weak ones are refused with its feedback, whoever sets them', async () => {
    for (const password of ['password1234', 'aaaaaaaaaaaaaaaa', 'qwertyuiopasdfgh', 'admin-admin-admin']) {
      const res = await direct.call('/api/v1/admins', { token: root, body: { username: 'weakling', password, role: 'admin' } });
      assert.equal(res.status, 400, `${password}: ${res.text}`);
      assert.deepEqual(res.body.details.map((d: { field: string }) => d.field), ['password'], password);
      assert.match(res.body.message, /password: is too weak \(strength \d of 4, at least 3 needed\): \S/, password);
    }
    assert.equal((await direct.call('/api/v1/admins/1', { token: root })).body.username, 'admin');
    const list = await direct.call('/api/v1/admins', { token: root });
    assert.ok(!list.body.some((a: { username: string }) => a.username === 'weakling'), 'nothing created');
    const made = await direct.call('/api/v1/admins', { token: root, body: { username: 'weakling', password: strong(), role: 'auditor' } });
    assert.equal(made.status, 201);
    const reset = await direct.call(`/api/v1/admins/${made.body.id}`, { method: 'PATCH', token: root, body: { password: 'password1234' } });
    assert.equal(reset.status, 400, 'a temporary password set by an admin is checked too');
  });

  it('rsync user passwords need 12+ characters and must not be common, unless generated', async () => {
    const refused: [string, RegExp][] = [
      ['Sh0rt-pw!', /password: must be at least 12 characters/],
      ['qwerty123456', /password: is in a list of commonly used passwords/],
      ['1Q2W3E4R5T6Y', /password: is in a list of commonly used passwords/],
    ];
    for (const [password, rule] of refused) {
      const res = await direct.call('/api/v1/rsync-users', { token: root, body: { name: 'ruser', password } });
      assert.equal(res.status, 400, `${password}: ${res.text}`);
      assert.deepEqual(res.body.details.map((d: { field: string }) => d.field), ['password']);
      assert.match(res.body.message, rule);
    }
    assert.equal((await direct.call('/api/v1/rsync-users/ruser', { token: root })).status, 404, 'nothing created');
    const generated = await direct.call('/api/v1/rsync-users', { token: root, body: { name: 'ruser' } });
    assert.equal(generated.status, 201, generated.text);
    assert.ok(generated.body.generatedPassword.length >= 12);
    const rotateWeak = await direct.call('/api/v1/rsync-users/ruser', { method: 'PATCH', token: root, body: { password: 'letmein' } });
    assert.equal(rotateWeak.status, 400);
    assert.match(rotateWeak.body.message, /at least 12 characters/);
    const rotated = await direct.call('/api/v1/rsync-users/ruser', { method: 'PATCH', token: root, body: { password: randomBytes(12).toString('hex') } });
    assert.equal(rotated.status, 200, rotated.text);
  });
});

describe('login floods (item 8)', () => {
  it('throttled logins become one audit row per address and window, with the count', async () => {
    const from = '127.0.0.2';
    for (let i = 0; i < 5; i++) assert.equal((await direct.login('flooded', `wrong-${i}`, { from })).status, 401);
    const refused = await Promise.all(Array.from({ length: 60 }, () => direct.login('flooded', 'still-wrong', { from })));
    assert.deepEqual([...new Set(refused.map((r) => r.status))], [429]);
    const rows = await waitFor('the aggregate row to count all 60', async () => {
      const mine = (await direct.auditOf(root, 'auth.login')).filter((e) => e.clientIp === from);
      const aggregate = mine.filter((e) => /throttled/.test(e.detail ?? ''));
      return aggregate.length === 1 && (aggregate[0]!.after as { throttledAttempts: number }).throttledAttempts === 60 ? mine : null;
    });
    assert.equal(rows.length, 5 + 1, `5 wrong passwords + 1 aggregate, got ${rows.map((r) => r.detail).join(' | ')}`);
    assert.match(rows.find((r) => /throttled/.test(r.detail ?? ''))!.detail!, /^throttled: 60 login attempts refused from 127\.0\.0\.2 between /);
  });

  it('several flooding addresses at once: each gets its own aggregate row with its own count, also as counts grow', async () => {
    const waves: [string, number][] = [['127.0.0.21', 7], ['127.0.0.22', 11], ['127.0.0.23', 13]];
    for (const [from] of waves) for (let i = 0; i < 5; i++) assert.equal((await direct.login('flooded2', `wrong-${i}`, { from })).status, 401);
    const counts = async () => {
      const rows = (await direct.auditOf(root, 'auth.login')).filter((e) => /^throttled/.test(e.detail ?? ''));
      return new Map(waves.map(([ip]) => [ip, rows.filter((r) => r.clientIp === ip).map((r) => (r.after as { throttledAttempts: number }).throttledAttempts)]));
    };
    const expect = (extra: number) => JSON.stringify(waves.map(([ip, n]) => [ip, [n + extra]]));
    await Promise.all(waves.flatMap(([from, n]) => Array.from({ length: n }, () => direct.login('flooded2', 'still-wrong', { from }))));
    await waitFor('one row per address with its count', async () => JSON.stringify([...(await counts())]) === expect(0));
    // More refusals after the rows exist: the counts are raised in place, each on its own row.
    await Promise.all(waves.flatMap(([from]) => [0, 1].map(() => direct.login('flooded2', 'still-wrong', { from }))));
    await waitFor('the counts raised in place', async () => JSON.stringify([...(await counts())]) === expect(2));
  });

  it('logins whose body never arrives hold no place in the password queue (a new address still logs in)', async () => {
    // 40 unfinished logins from addresses the server has never seen: headers sent, body promised, never sent.
    const stalled = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port: direct.port, localAddress: `127.0.2.${i + 1}` }, () => {
            s.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`);
            resolve(s);
          });
          s.on('error', () => undefined);
        }),
      ),
    );
    try {
      await new Promise((r) => setTimeout(r, 200)); // let the server read every request head (not a correctness wait: the login below must succeed whatever)
      const res = await direct.login('admin', ADMIN_PASSWORD, { from: '127.0.2.200' });
      assert.equal(res.status, 200, res.text);
    } finally {
      for (const s of stalled) s.destroy();
    }
  });

  it('an address locked out for "admin" does not lock out the admin at another address', async () => {
    const attacker = '127.0.0.3';
    for (let i = 0; i < 20; i++) {
      const res = await direct.login(i % 2 ? 'admin' : `user${i}`, `guess-${i}`, { from: attacker });
      assert.ok(res.status === 401 || res.status === 429, res.text);
    }
    const blocked = await direct.login('admin', ADMIN_PASSWORD, { from: attacker });
    assert.equal(blocked.status, 429, 'the attacking address is locked out, even with the right password');
    assert.ok(Number(blocked.headers['retry-after']) > 0);
    const elsewhere = await direct.login('admin', ADMIN_PASSWORD, { from: '127.0.0.4' });
    assert.equal(elsewhere.status, 200, elsewhere.text);
  });

  it('without RSYNCHUB_TRUST_PROXY, X-Forwarded-For is ignored: the throttle sees the socket address', async () => {
    const from = '127.0.0.5';
    for (let i = 0; i < 5; i++) {
      await direct.login('xff', `wrong-${i}`, { from, headers: { 'x-forwarded-for': `198.51.100.${i}` } });
    }
    const res = await direct.login('xff', 'wrong', { from, headers: { 'x-forwarded-for': '198.51.100.99' } });
    assert.equal(res.status, 429, 'a forged header does not buy a fresh address');
  });
});

describe('web hygiene (item 15)', () => {
  const webDir = () => direct.app.get<AppConfig>(APP_CONFIG).webDir;

  it('every response carries the security headers; API responses are not stored', async () => {
    const asset = fs.readdirSync(webDir()).find((f) => /^main-.*\.js$/.test(f));
    assert.ok(asset, `the console is built in ${webDir()}`);
    const cases: [string, Call, boolean][] = [
      ['/api/v1/health', {}, true],
      ['/api/v1/modules', {}, true],
      ['/api/v1/modules', { token: root }, true],
      ['/api/v1/no-such-route', { token: root }, true],
      ['/api/v1/auth/login', { body: { username: 'x', password: 'y' } }, true],
      ['/', {}, false],
      ['/modules/some/deep/link', {}, false],
      [`/${asset}`, {}, false],
    ];
    for (const [url, opts, api] of cases) {
      const res = await direct.call(url, opts);
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /default-src 'self'/, url);
      assert.match(csp, /script-src 'self'(;|$)/, `${url}: no inline script allowed`);
      assert.match(csp, /frame-ancestors 'none'/, url);
      assert.match(csp, /object-src 'none'/, url);
      assert.equal(res.headers['x-frame-options'], 'DENY', url);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
      assert.equal(res.headers['referrer-policy'], 'no-referrer', url);
      assert.equal(res.headers['x-powered-by'], undefined, url);
      if (api) assert.equal(res.headers['cache-control'], 'no-store', `${url} (${res.status})`);
      else assert.notEqual(res.headers['cache-control'], 'no-store', url);
    }
  });

  it('login accepts JSON only (415 otherwise) and refuses a foreign Origin', async () => {
    const form = await direct.call('/api/v1/auth/login', { method: 'POST', rawBody: `username=admin&password=${encodeURIComponent(ADMIN_PASSWORD)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.status, 415, form.text);
    assert.equal(form.body.error, 'unsupported_media_type');
    const text = await direct.call('/api/v1/auth/login', { method: 'POST', rawBody: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }), headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415, text.text);
    assert.equal(text.headers['set-cookie'], undefined);
    const foreign = await direct.login('admin', ADMIN_PASSWORD, { headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.status, 403, foreign.text);
    assert.equal(foreign.headers['set-cookie'], undefined, 'no session for a cross-site login');
    const same = await direct.login('admin', ADMIN_PASSWORD, { headers: { origin: `http://127.0.0.1:${direct.port}` } });
    assert.equal(same.status, 200, same.text);
  });

  it('the session cookie is not Secure over plain HTTP, and X-Forwarded-Proto is not believed without a trusted proxy', async () => {
    const res = await direct.login('admin', ADMIN_PASSWORD, { headers: { 'x-forwarded-proto': 'https' } });
    const cookie = String(res.headers['set-cookie']);
    assert.match(cookie, /rsynchub_session=/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.doesNotMatch(cookie, /;\s*Secure/i);
  });

  it('hashed assets are cached immutable, index.html revalidated, both compressed (brotli or gzip)', async () => {
    const asset = fs.readdirSync(webDir()).find((f) => /^main-.*\.js$/.test(f))!;
    const original = fs.readFileSync(path.join(webDir(), asset));
    const br = await direct.call(`/${asset}`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(br.status, 200);
    assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(br.headers['content-encoding'], 'br');
    assert.ok(zlib.brotliDecompressSync(br.raw).equals(original), 'brotli body decodes to the file');
    assert.ok(br.raw.length < original.length * 0.6, `compressed ${br.raw.length} of ${original.length}`);
    const gz = await direct.call(`/${asset}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(zlib.gunzipSync(gz.raw).equals(original));
    const styles = fs.readdirSync(webDir()).find((f) => /^styles-.*\.css$/.test(f))!;
    const css = await direct.call(`/${styles}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(css.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(css.headers['content-encoding'], 'gzip');
    // index.html names the current bundles: always revalidated; compressed like the rest once it is over the 1 KB
    // threshold (it carries the "Loading RsyncHub…" notice now).
    for (const url of ['/', '/index.html', '/modules']) {
      const index = await direct.call(url, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(index.status, 200, url);
      assert.equal(index.headers['cache-control'], 'no-cache', url);
      const html = index.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(index.raw).toString('utf8') : index.raw.toString('utf8');
      assert.match(html, /<app-root[\s>]/, url);
    }
    const api = await direct.call('/api/v1/modules', { token: root, headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(api.headers['content-encoding'], undefined, 'API answers are not compressed (BREACH)');
  });
});

describe('behind a trusted reverse proxy (RSYNCHUB_TRUST_PROXY, items 8 and 15)', () => {
  const proxied = new TestServer();
  before(() => proxied.start({ RSYNCHUB_TRUST_PROXY: 'loopback' }));
  after(() => proxied.stop());

  it('the throttle and the audit log see the client address from X-Forwarded-For', async () => {
    const a = { 'x-forwarded-for': '203.0.113.7' };
    for (let i = 0; i < 5; i++) assert.equal((await proxied.login('admin', `wrong-${i}`, { headers: a })).status, 401);
    assert.equal((await proxied.login('admin', ADMIN_PASSWORD, { headers: a })).status, 429, 'the client behind the proxy is locked out');
    const other = await proxied.login('admin', ADMIN_PASSWORD, { headers: { 'x-forwarded-for': '203.0.113.8' } });
    assert.equal(other.status, 200, 'another client behind the same proxy is not');
    const token = (other.body as LoginResponse).token;
    const rows = await proxied.auditOf(token, 'auth.login');
    assert.ok(rows.some((r) => r.clientIp === '203.0.113.7' && r.outcome === 'failure'), 'audited under the real client');
    // One hop only: an address the client put in front itself is not believed.
    for (let i = 0; i < 2; i++) await proxied.login('admin', 'x', { headers: { 'x-forwarded-for': `10.9.9.${i}, 203.0.113.7` } });
    assert.equal((await proxied.login('admin', ADMIN_PASSWORD, { headers: { 'x-forwarded-for': '10.9.9.9, 203.0.113.7' } })).status, 429);
  });

  it('the session cookie is Secure when the trusted proxy says the client used HTTPS', async () => {
    const https = await proxied.login('admin', ADMIN_PASSWORD, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.20' } });
    assert.equal(https.status, 200, https.text);
    assert.match(String(https.headers['set-cookie']), /;\s*Secure/i);
    assert.equal(https.headers['strict-transport-security'], 'max-age=15552000');
    const plain = await proxied.login('admin', ADMIN_PASSWORD, { headers: { 'x-forwarded-for': '203.0.113.20' } });
    assert.doesNotMatch(String(plain.headers['set-cookie']), /;\s*Secure/i);
    assert.equal(plain.headers['strict-transport-security'], undefined);
  });
});
