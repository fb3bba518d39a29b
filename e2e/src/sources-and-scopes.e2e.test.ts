/**
 * Issue 9, sources and scoped tokens, against the real server process (real daemon, real rsync client):
 * every scope boundary over REST and the WebSocket, source state going online -> stale -> offline, the module link,
 * the publicHost setting and the connect panel's server-side "Test connection".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { ApiClient, LiveClient, readyAuditor, RunningServer, startServer, waitFor } from '@rsynchub/testing';

const STALE_SECONDS = 1;
let server: RunningServer;
const pw = () => randomBytes(12).toString('hex');

const heartbeat = (name: string, module = 'mirror') => ({
  name,
  hostname: `${name}.example`,
  version: '1.2.3',
  targets: [{ host: '127.0.0.1', port: server.rsyncPort, module, queueLength: 7, lagMs: 1500, lastSuccessAt: null, lastError: 'rsync exited 23' }],
});

async function tokenClient(scope: string | undefined, extra: Record<string, unknown> = {}, creator: ApiClient = server.admin): Promise<ApiClient> {
  const res = await creator.post('/api/v1/tokens', { name: `t-${scope}-${pw().slice(0, 6)}`, ...(scope ? { scope } : {}), ...extra });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.token.scope, scope ?? 'admin');
  return new ApiClient(server.baseUrl, res.body.secret);
}

before(async () => {
  server = await startServer({ env: { RSYNCHUB_SOURCE_STALE_SECONDS: String(STALE_SECONDS) } });
  const userPw = pw();
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'edge', password: userPw })).status, 201);
  assert.equal((await server.admin.post('/api/v1/modules', { name: 'mirror', path: path.join(server.storageRoot, 'mirror'), users: [{ name: 'edge', access: 'rw' }] })).status, 201);
});

after(async () => {
  await server?.stop();
});

describe('scoped API tokens', () => {
  it('a read token may GET routes and /metrics and open the live stream, and nothing else', async () => {
    const read = await tokenClient('read');
    assert.equal((await read.get('/api/v1/modules')).status, 200);
    assert.equal((await read.get('/api/v1/sources')).status, 200);
    assert.equal((await read.get('/api/v1/daemon/settings')).status, 200);
    const metrics = await read.get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /# TYPE/);
    // admin-only reads stay closed even though the token's creator is an admin
    assert.equal((await read.get('/api/v1/tokens')).status, 403);
    assert.equal((await read.get('/api/v1/admins')).status, 403);
    // no writes of any kind
    const refused: [string, string, unknown][] = [
      ['POST', '/api/v1/modules', { name: 'nope', path: path.join(server.storageRoot, 'nope'), users: [{ name: 'edge', access: 'rw' }] }],
      ['PUT', '/api/v1/daemon/settings', { motd: 'x' }],
      ['POST', '/api/v1/daemon/restart', {}],
      ['POST', '/api/v1/tokens', { name: 'more', scope: 'read' }],
      ['POST', '/api/v1/sources/heartbeat', heartbeat('read-src')],
      ['POST', '/api/v1/modules/mirror/test-connection', { user: 'edge' }],
      ['DELETE', '/api/v1/modules/mirror', undefined],
    ];
    for (const [method, url, body] of refused) {
      const res = await read.request(method, url, body);
      assert.equal(res.status, 403, `${method} ${url} -> ${res.status} ${res.text}`);
      assert.match(res.body.message, /read-scoped token|admin role/);
    }
    assert.equal((await server.admin.get('/api/v1/modules/nope')).status, 404, 'the refused create changed nothing');
    const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${read.token}` });
    live.ws.close();
  });

  it('a source token may send heartbeats and nothing else: no reads, no metrics, no live stream', async () => {
    const source = await tokenClient('source');
    const hb = await source.post('/api/v1/sources/heartbeat', heartbeat('any-src'));
    assert.equal(hb.status, 200, hb.text);
    assert.equal(hb.body.state, 'online');
    for (const url of ['/api/v1/modules', '/api/v1/sources', '/api/v1/daemon', '/api/v1/auth/me', '/api/v1/tokens', '/metrics', '/api/docs-json', '/api/docs']) {
      const res = await source.get(url);
      assert.equal(res.status, 403, `GET ${url} -> ${res.status}`);
      assert.match(res.body.message, /source-scoped token may only send heartbeats/);
    }
    assert.equal((await source.post('/api/v1/tokens', { name: 'x', scope: 'source' })).status, 403);
    assert.equal((await source.post('/api/v1/daemon/stop', {})).status, 403);
    await assert.rejects(LiveClient.connect(server.baseUrl, { authorization: `Bearer ${source.token}` }), (e: any) => e.statusCode === 403);
  });

  it('a source token bound to a name reports only as that name', async () => {
    const bound = await tokenClient('source', { sourceName: 'edge-bound' });
    assert.equal((await bound.post('/api/v1/sources/heartbeat', heartbeat('edge-bound'))).status, 200);
    const other = await bound.post('/api/v1/sources/heartbeat', heartbeat('someone-else'));
    assert.equal(other.status, 403);
    assert.match(other.body.message, /only send heartbeats as source "edge-bound"/);
    const names = (await server.admin.get('/api/v1/sources')).body.map((s: any) => s.name);
    assert.ok(names.includes('edge-bound') && !names.includes('someone-else'));
  });

  it('an admin token (the default scope) keeps today\'s behaviour; the token list shows scopes', async () => {
    const full = await tokenClient(undefined);
    assert.equal((await full.get('/api/v1/tokens')).status, 200);
    assert.equal((await full.post('/api/v1/sources/heartbeat', heartbeat('admin-src'))).status, 200);
    const list = (await server.admin.get('/api/v1/tokens')).body as any[];
    assert.ok(list.some((t) => t.scope === 'read') && list.some((t) => t.scope === 'source' && t.sourceName === 'edge-bound'));
    assert.ok(list.every((t) => !('tokenHash' in t) && !('secret' in t)));
  });

  it('bad scope input is a 400 naming the field, and creates nothing', async () => {
    const before = (await server.admin.get('/api/v1/tokens')).body.length;
    const bad = await server.admin.post('/api/v1/tokens', { name: 'bad', scope: 'root' });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /scope.*must be one of: admin, read, source/);
    const boundAdmin = await server.admin.post('/api/v1/tokens', { name: 'bad', scope: 'admin', sourceName: 'x' });
    assert.equal(boundAdmin.status, 400);
    assert.match(boundAdmin.text, /sourceName/);
    const ctrl = await server.admin.post('/api/v1/tokens', { name: 'bad', scope: 'source', sourceName: 'a\nb' });
    assert.equal(ctrl.status, 400);
    assert.equal((await server.admin.get('/api/v1/tokens')).body.length, before);
  });

  it('auditors may create read tokens only', async () => {
    const auditor = (await readyAuditor(server, 'auditor1')).client;
    const read = await tokenClient('read', {}, auditor);
    assert.equal((await read.get('/api/v1/modules')).status, 200);
    for (const scope of ['admin', 'source', undefined]) {
      const res = await auditor.post('/api/v1/tokens', { name: 'escalate', ...(scope ? { scope } : {}) });
      assert.equal(res.status, 403, `auditor creating scope ${scope}: ${res.status}`);
    }
    assert.equal((await auditor.get('/api/v1/tokens')).status, 403, 'listing tokens stays admin-only');
  });
});

describe('sources', () => {
  it('state goes online -> stale -> offline without heartbeats; queue, lag and module link are reported', async () => {
    const source = await tokenClient('source', { sourceName: 'edge-state' });
    assert.equal((await source.post('/api/v1/sources/heartbeat', heartbeat('edge-state'))).status, 200);
    const find = async () => ((await server.admin.get('/api/v1/sources')).body as any[]).find((s) => s.name === 'edge-state');
    const fresh = await find();
    assert.equal(fresh.state, 'online');
    assert.equal(fresh.staleAfterSeconds, STALE_SECONDS);
    assert.deepEqual(fresh.modules, ['mirror']);
    assert.equal(fresh.queueTotal, 7);
    assert.equal(fresh.maxLagSeconds, 2);
    assert.equal(fresh.targets[0].lagSeconds, 2);
    assert.equal(fresh.targets[0].lastError, 'rsync exited 23');
    assert.equal(fresh.version, '1.2.3');
    assert.equal(fresh.clientIp?.replace('::ffff:', ''), '127.0.0.1');
    await waitFor('the source to turn stale', async () => (await find()).state === 'stale', 10_000);
    await waitFor('the source to turn offline (10x)', async () => (await find()).state === 'offline', 20_000);
    // A new heartbeat brings it back.
    assert.equal((await source.post('/api/v1/sources/heartbeat', heartbeat('edge-state'))).status, 200);
    assert.equal((await find()).state, 'online');
  });

  it('hostile heartbeats are refused with a 400 naming the field and record nothing', async () => {
    const source = await tokenClient('source');
    const base = heartbeat('hostile');
    const bad: [string, unknown][] = [
      ['name', { ...base, name: 'evil\nname' }],
      ['hostname', { ...base, hostname: 'h\u0000' }],
      ['queueLength', { ...base, targets: [{ ...base.targets[0], queueLength: 1e300 }] }],
      ['queueLength', { ...base, targets: [{ ...base.targets[0], queueLength: -1 }] }],
      ['lagMs', { ...base, targets: [{ ...base.targets[0], lagMs: -5 }] }],
      ['lastSuccessAt', { ...base, targets: [{ ...base.targets[0], lastSuccessAt: 'yesterday' }] }],
      ['targets', { ...base, targets: Array.from({ length: 101 }, () => base.targets[0]) }],
    ];
    for (const [field, body] of bad) {
      const res = await source.post('/api/v1/sources/heartbeat', body);
      assert.equal(res.status, 400, `${field}: ${res.status} ${res.text}`);
      assert.match(res.text, new RegExp(field));
    }
    assert.ok(!(await server.admin.get('/api/v1/sources')).body.some((s: any) => s.name.startsWith('evil') || s.name === 'hostile'));
  });

  it('?module= lists the sources pushing into one module, with only that module\'s targets', async () => {
    const source = await tokenClient('source');
    const two = heartbeat('edge-two');
    two.targets.push({ ...two.targets[0], module: 'elsewhere', queueLength: 100 });
    assert.equal((await source.post('/api/v1/sources/heartbeat', two)).status, 200);
    const forMirror = (await server.admin.get('/api/v1/sources?module=mirror')).body as any[];
    const mine = forMirror.find((s) => s.name === 'edge-two');
    assert.ok(mine);
    assert.deepEqual(mine.targets.map((t: any) => t.module), ['mirror']);
    assert.equal(mine.queueTotal, 7);
    assert.ok(!(await server.admin.get('/api/v1/sources?module=nothing-here')).body.some((s: any) => s.name === 'edge-two'));
  });
});

describe('publicHost and the connect panel\'s Test connection', () => {
  it('publicHost defaults to a non-loopback address, can be set, and bad values are refused naming the field', async () => {
    const initial = (await server.admin.get('/api/v1/daemon/settings')).body;
    assert.equal(initial.publicHost, '');
    assert.ok(initial.publicHostEffective && !/^127\.|^::1$|^localhost$/.test(initial.publicHostEffective), initial.publicHostEffective);
    for (const bad of ['https://hub.example.com', 'hub.example.com:873', 'hub; rm -rf /', ' hub', 'a\nb']) {
      const res = await server.admin.put('/api/v1/daemon/settings', { publicHost: bad });
      assert.equal(res.status, 400, `${JSON.stringify(bad)} -> ${res.status}`);
      assert.match(res.text, /publicHost/);
    }
    const set = await server.admin.put('/api/v1/daemon/settings', { publicHost: 'hub.example.com' });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.body.publicHostEffective, 'hub.example.com');
    assert.equal((await server.admin.get('/api/v1/daemon/settings')).body.publicHost, 'hub.example.com');
    assert.equal((await server.admin.put('/api/v1/daemon/settings', { publicHost: '' })).body.publicHostEffective, initial.publicHostEffective);
  });

  it('runs a real rsync listing and says what failed: ok, auth failed, unknown user, host denied, daemon stopped', async () => {
    const ok = await server.admin.post('/api/v1/modules/mirror/test-connection', { user: 'edge' });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.ok, true, ok.text);
    assert.equal(ok.body.problem, null);
    assert.match(ok.body.command, /^rsync --list-only rsync:\/\/edge@127\.0\.0\.1:\d+\/mirror\/$/);

    // A user that exists but is not granted on the module: the daemon refuses the login.
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'stranger', password: pw() })).status, 201);
    const denied = (await server.admin.post('/api/v1/modules/mirror/test-connection', { user: 'stranger' })).body;
    assert.equal(denied.ok, false);
    assert.equal(denied.problem, 'auth_failed');
    assert.match(denied.message, /user "stranger"/);
    assert.equal(denied.exitCode, 5);

    const unknownUser = await server.admin.post('/api/v1/modules/mirror/test-connection', { user: 'ghost' });
    assert.equal(unknownUser.status, 400);
    assert.match(unknownUser.text, /user/);
    assert.equal((await server.admin.post('/api/v1/modules/ghost/test-connection', { user: 'edge' })).status, 404);

    assert.equal((await server.admin.patch('/api/v1/modules/mirror', { hostsAllow: ['192.0.2.200'] })).status, 200);
    const hostDenied = (await server.admin.post('/api/v1/modules/mirror/test-connection', { user: 'edge' })).body;
    assert.equal(hostDenied.problem, 'host_denied', JSON.stringify(hostDenied));
    assert.equal((await server.admin.patch('/api/v1/modules/mirror', { hostsAllow: [] })).status, 200);

    assert.equal((await server.admin.post('/api/v1/daemon/stop', {})).status, 200);
    const stopped = (await server.admin.post('/api/v1/modules/mirror/test-connection', { user: 'edge' })).body;
    assert.equal(stopped.problem, 'daemon_not_running');
    assert.equal((await server.admin.post('/api/v1/daemon/start', {})).status, 200);
    await waitFor('the daemon to run again', async () => (await server.admin.get('/api/v1/daemon')).body.state === 'running');
    assert.equal((await server.admin.post('/api/v1/modules/mirror/test-connection', { user: 'edge' })).body.ok, true);
    // The password never comes back.
    const audit = await server.admin.get('/api/v1/audit?limit=50');
    assert.ok(!JSON.stringify([ok.body, denied, audit.body]).includes('RSYNC_PASSWORD'));
  });
});
