/**
 * Transfer activity and audit, proven with the real daemon, real rsync clients and the real SQLite file: what the
 * daemon logs becomes sessions and file events, live on the WebSocket, and every admin action is audited.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LiveClient } from './support/live';
import { makeTree, passwordFile, rsync } from './support/rsync';
import { readyAuditor, RunningServer, sleep, startServer, waitFor } from './support/server';

const PASSWORD = 'transfer-password-1';
let server: RunningServer;
let pw: string;
/** The password the 'watcher' auditor chose (the audit tests log in as it again). */
let watcherPassword = '';

/** Relative paths of the regular files under `root`. */
function filesOf(root: string, rel = ''): string[] {
  return fs.readdirSync(path.join(root, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? filesOf(root, r) : [r];
  });
}

async function allFiles(sessionId: number): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const res: any = await server.admin.get(`/api/v1/transfers/${sessionId}/files?limit=5000${cursor ? `&cursor=${cursor}` : ''}`);
    out.push(...res.body.items);
    cursor = res.body.nextCursor;
  } while (cursor);
  return out;
}

async function sessions(query = ''): Promise<any[]> {
  return (await server.admin.get(`/api/v1/transfers?limit=500${query}`)).body.items;
}

function push(src: string, module: string, extra: string[] = [], port = server.rsyncPort) {
  return rsync(['-rt', `--password-file=${pw}`, ...extra, `${src}/`, `alice@127.0.0.1::${module}`, `--port=${port}`]);
}

before(async () => {
  server = await startServer();
  pw = passwordFile(PASSWORD);
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'alice', password: PASSWORD })).status, 201);
  for (const m of ['one', 'two']) {
    const res = await server.admin.post('/api/v1/modules', { name: m, path: path.join(server.storageRoot, m), users: [{ name: 'alice', access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
  }
});

after(async () => {
  await server?.stop();
});

describe('sessions and file events from the daemon log', () => {
  test('a push of a known tree gives one session with the right module, user, ip, bytes and one event per file', async () => {
    const src = makeTree(9);
    const res = await push(src, 'one');
    assert.equal(res.code, 0, res.stderr);
    const [s] = await waitFor('the session to end', async () => {
      const list = await sessions('&module=one');
      return list.length === 1 && list[0].status !== 'active' ? list : null;
    });
    assert.equal(s.module, 'one');
    assert.equal(s.user, 'alice');
    assert.equal(s.clientIp, '127.0.0.1');
    assert.equal(s.direction, 'push');
    assert.equal(s.status, 'success');
    const expected = filesOf(src).sort();
    const totalBytes = expected.reduce((n, f) => n + fs.statSync(path.join(src, f)).size, 0);
    assert.ok(s.bytesReceived >= totalBytes * 0.9, `received ${s.bytesReceived} for ${totalBytes} bytes of files`);
    assert.equal(s.totalSize, totalBytes);
    // The one definition of files: regular files; directories are counted apart.
    const stored = await allFiles(s.id);
    assert.equal(s.fileCount, expected.length);
    assert.equal(s.dirCount, stored.filter((f) => f.itemize[1] === 'd').length);
    assert.equal(s.fileCount + s.dirCount, stored.length);
    const events = (await allFiles(s.id)).filter((f) => f.op === 'recv' && f.itemize[1] === 'f');
    assert.deepEqual(events.map((f) => f.path).sort(), expected, 'exactly one recv event per regular file');
    for (const e of events) assert.equal(e.size, fs.statSync(path.join(src, e.path)).size);
  });

  test('a --delete push records the deletions', async () => {
    const src = makeTree(4);
    assert.equal((await push(src, 'two')).code, 0);
    const victims = filesOf(src).slice(0, 3);
    for (const v of victims) fs.rmSync(path.join(src, v));
    assert.equal((await push(src, 'two', ['--delete'])).code, 0);
    const s = await waitFor('the delete session', async () => {
      const list = await sessions('&module=two');
      return list.length === 2 && list[0].status === 'success' ? list[0] : null;
    });
    assert.equal(s.deletedCount, victims.length);
    const deleted = (await allFiles(s.id)).filter((f) => f.op === 'del').map((f) => f.path).sort();
    assert.deepEqual(deleted, victims.sort());
  });

  test('a failed auth shows up as such, with its reason', async () => {
    const res = await rsync(['-rt', `--password-file=${passwordFile('wrong-password')}`, `${makeTree(1)}/`, `alice@127.0.0.1::one`, `--port=${server.rsyncPort}`]);
    assert.equal(res.code, 5);
    const s = await waitFor('the auth failure', async () => (await sessions('&status=auth_failed'))[0]);
    assert.equal(s.module, 'one');
    assert.equal(s.user, 'alice');
    assert.equal(s.error, 'password mismatch');
    const stats = (await server.admin.get('/api/v1/stats')).body;
    assert.ok(stats.today.authFailures >= 1);
  });

  test('filters: path substring, ip, time range; CSV export', async () => {
    const src = makeTree(2);
    fs.writeFileSync(path.join(src, 'needle-in-a-haystack.txt'), 'x');
    assert.equal((await push(src, 'two')).code, 0);
    const found = await waitFor('the needle session', async () => {
      const l = await sessions('&path=needle-in');
      return l.length === 1 ? l : null;
    });
    assert.equal(found[0].module, 'two');
    assert.equal((await sessions('&ip=10.9.9.9')).length, 0);
    assert.equal((await sessions(`&from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`)).length, 0);
    const csv = await server.admin.get('/api/v1/transfers?format=csv&module=two');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    assert.equal(csv.text.trim().split('\r\n').length, 1 + (await sessions('&module=two')).length);
    const bad = await server.admin.get('/api/v1/transfers?status=bogus');
    assert.equal(bad.status, 400);
  });
});

describe('live stream', () => {
  test('an unauthenticated WebSocket is refused, and so is a foreign Origin', async () => {
    await assert.rejects(LiveClient.connect(server.baseUrl, {}), (err: any) => err.statusCode === 401);
    await assert.rejects(LiveClient.connect(server.baseUrl, { authorization: 'Bearer rhs_forged' }), (err: any) => err.statusCode === 401);
    await assert.rejects(
      LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}`, origin: 'https://evil.example' }),
      (err: any) => err.statusCode === 403,
    );
  });

  test('a client connected before a push receives session.started, the file events and session.ended, in order', async () => {
    const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
    try {
      live.send({ type: 'subscribe', modules: ['one'] });
      await sleep(100);
      const src = makeTree(6);
      assert.equal((await push(src, 'one')).code, 0);
      // A push into another module must not reach a client that subscribed to 'one' only.
      assert.equal((await push(makeTree(1), 'two')).code, 0);
      const msgs = await waitFor('session.ended on the socket', () => {
        const m = live.messages.filter((x) => x.type.startsWith('session.'));
        return m.some((x) => x.type === 'session.ended') ? m : null;
      });
      const types = msgs.map((m) => m.type);
      assert.equal(types[0], 'session.started');
      assert.equal(types[types.length - 1], 'session.ended');
      const files = msgs.filter((m) => m.type === 'session.file').flatMap((m) => m.data);
      const sessionId = msgs[0]!.data.id;
      assert.ok(files.every((f: any) => f.sessionId === sessionId));
      assert.deepEqual(files.filter((f: any) => f.itemize[1] === 'f').map((f: any) => f.path).sort(), filesOf(src).sort());
      assert.ok(msgs.every((m) => (m.type === 'session.file' ? true : m.data.module === 'one')), 'only the subscribed module');
      assert.equal(msgs[msgs.length - 1]!.data.status, 'success');
    } finally {
      live.close();
    }
  });

  test('an auditor may watch the stream (read-only)', async () => {
    const watcher = await readyAuditor(server, 'watcher');
    const auditor = watcher.client;
    watcherPassword = watcher.password;
    const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${auditor.token}` });
    await waitFor('hello', () => live.messages.find((m) => m.type === 'hello'));
    live.close();
  });
});

describe('concurrency, rotation and restart', () => {
  test('20 concurrent clients pushing into two modules: every file recorded exactly once, in the right session', async () => {
    const before = new Set((await sessions()).map((s) => s.id));
    const trees = Array.from({ length: 20 }, (_, i) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rh-c${i}-`));
      for (let f = 0; f < 15; f++) fs.writeFileSync(path.join(dir, `client${i}-file${f}.dat`), `client ${i} file ${f}\n`.repeat(50 + f));
      return dir;
    });
    const results = await Promise.all(trees.map((t, i) => push(t, i % 2 ? 'two' : 'one')));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const fresh = await waitFor('20 ended sessions', async () => {
      const l = (await sessions()).filter((s) => !before.has(s.id));
      return l.length === 20 && l.every((s) => s.status !== 'active') ? l : null;
    });
    for (const s of fresh) {
      const files = (await allFiles(s.id)).filter((f) => f.itemize[1] === 'f');
      const client = /^client(\d+)-/.exec(files[0].path)![1];
      assert.deepEqual(files.map((f) => f.path).sort(), filesOf(trees[Number(client)]!).sort(), `session ${s.id} holds exactly client ${client}'s files`);
      assert.equal(s.module, Number(client) % 2 ? 'two' : 'one');
    }
  });

  test('log rotated mid-run and server killed mid-run: no line lost or duplicated', async () => {
    const before = new Set((await sessions()).map((s) => s.id));
    const pushed: { module: string; files: string[] }[] = [];
    const pushTree = async (tag: string, module: string, extra: string[] = [], port?: number) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rh-${tag}-`));
      for (let f = 0; f < 8; f++) fs.writeFileSync(path.join(dir, `${tag}-f${f}.dat`), `${tag}\n`.repeat(100));
      pushed.push({ module, files: filesOf(dir) });
      const res = await push(dir, module, extra, port);
      assert.equal(res.code, 0, res.stderr);
    };
    await pushTree('a1', 'one');
    await pushTree('a2', 'two');
    // A slow push spans the rotation: it keeps writing to the renamed file while new connections use the new one.
    const slowDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-slow-'));
    for (let f = 0; f < 6; f++) fs.writeFileSync(path.join(slowDir, `slow-f${f}.dat`), Buffer.alloc(40_000, f));
    pushed.push({ module: 'one', files: filesOf(slowDir) });
    const slow = push(slowDir, 'one', ['--bwlimit=50']);
    // Rotate once the slow push is logging (not after a fixed 500 ms, which a loaded machine can spend starting rsync).
    await waitFor('the slow push to be under way', () => fs.readFileSync(path.join(server.dataDir, 'rsyncd.log'), 'latin1').includes('slow-f'));
    fs.renameSync(path.join(server.dataDir, 'rsyncd.log'), path.join(server.dataDir, 'rsyncd.log.1'));
    await pushTree('b1', 'two');
    assert.equal((await slow).code, 0);
    await pushTree('b2', 'one');

    // Killed without shutdown hooks; its daemon lives on and keeps logging while nobody ingests.
    const { dataDir, rsyncPort, httpPort } = server;
    await server.kill();
    await pushTree('c1', 'one', [], rsyncPort);
    await pushTree('c2', 'two', [], rsyncPort);
    server = await startServer({ dataDir, rsyncPort, httpPort });
    await pushTree('d1', 'two');

    const fresh = await waitFor('every pushed session ingested', async () => {
      // Only the pushes' modules: the restarted server's own readiness probe of its daemon is now and then logged by
      // rsync as a failed connection without a module (a product issue, see the flake-audit report), not a push.
      const l = (await sessions()).filter((s) => !before.has(s.id) && (s.module === 'one' || s.module === 'two'));
      return l.length >= pushed.length && l.every((s) => s.status !== 'active') ? l : null;
    }, 30_000);
    const described = async () =>
      JSON.stringify(
        await Promise.all(
          fresh.map(async (s) => {
            const files = (await allFiles(s.id)).filter((f) => f.itemize[1] === 'f').map((f) => f.path);
            return { id: s.id, pid: s.daemonPid, module: s.module, status: s.status, error: s.error, startedAt: s.startedAt, endedAt: s.endedAt, files: files.length, first: files[0] ?? null };
          }),
        ),
      );
    assert.equal(fresh.length, pushed.length, `one session per push, none duplicated: ${fresh.length === pushed.length ? '' : await described()}`);
    const seen = new Map<string, number>();
    for (const s of fresh) {
      const files = (await allFiles(s.id)).filter((f) => f.itemize[1] === 'f').map((f) => f.path);
      for (const f of files) seen.set(f, (seen.get(f) ?? 0) + 1);
      const tag = files[0]!.split('-f')[0]!;
      const expected = pushed.find((p) => p.files[0]!.startsWith(`${tag}-f`))!;
      assert.deepEqual(files.sort(), expected.files.sort(), `session ${s.id} (${tag})`);
      assert.equal(s.module, expected.module);
    }
    for (const p of pushed) for (const f of p.files) assert.equal(seen.get(f), 1, `${f} recorded exactly once`);
  });
});

describe('audit', () => {
  test('every mutating endpoint in the OpenAPI spec leaves an audit entry with its action', async () => {
    const spec = (await server.admin.get('/api/docs-json')).body;
    const mutating: string[] = [];
    for (const [p, methods] of Object.entries<any>(spec.paths)) {
      for (const m of Object.keys(methods)) if (['post', 'put', 'patch', 'delete'].includes(m)) mutating.push(`${m.toUpperCase()} ${p}`);
    }
    const root = server.storageRoot;
    // One real call per mutating route; [route, call, expected action]
    const calls: [string, () => Promise<unknown>, string][] = [
      ['POST /api/v1/rsync-users', () => server.admin.post('/api/v1/rsync-users', { name: 'audited', password: 'audited-secret-77' }), 'rsync-user.create'],
      ['PATCH /api/v1/rsync-users/{name}', () => server.admin.patch('/api/v1/rsync-users/audited', { password: 'audited-secret-88' }), 'rsync-user.password.rotate'],
      ['POST /api/v1/modules', () => server.admin.post('/api/v1/modules', { name: 'aud', path: `${root}/aud`, users: [{ name: 'audited', access: 'ro' }] }), 'module.create'],
      ['PATCH /api/v1/modules/{name}', () => server.admin.patch('/api/v1/modules/aud', { comment: 'changed' }), 'module.update'],
      ['POST /api/v1/modules/{name}/test-connection', () => server.admin.post('/api/v1/modules/aud/test-connection', { user: 'audited' }), 'module.connection.test'],
      ['DELETE /api/v1/modules/{name}', () => server.admin.delete('/api/v1/modules/aud'), 'module.delete'],
      ['DELETE /api/v1/rsync-users/{name}', () => server.admin.delete('/api/v1/rsync-users/audited'), 'rsync-user.delete'],
      ['PUT /api/v1/daemon/settings', () => server.admin.put('/api/v1/daemon/settings', { motd: 'audited motd' }), 'daemon.settings.update'],
      ['POST /api/v1/daemon/restart', () => server.admin.post('/api/v1/daemon/restart'), 'daemon.restart'],
      ['POST /api/v1/daemon/stop', () => server.admin.post('/api/v1/daemon/stop'), 'daemon.stop'],
      ['POST /api/v1/daemon/start', () => server.admin.post('/api/v1/daemon/start'), 'daemon.start'],
      ['POST /api/v1/import', () => server.admin.post('/api/v1/import', { config: `[imp]\npath = ${root}/imp\n` }), 'config.import'],
      ['POST /api/v1/admins', () => server.admin.post('/api/v1/admins', { username: 'temp', password: 'temp-password-123', role: 'admin' }), 'admin.create'],
      ['PATCH /api/v1/admins/{id}', async () => server.admin.patch(`/api/v1/admins/${await adminId('temp')}`, { role: 'auditor' }), 'admin.update'],
      ['POST /api/v1/admins/{id}/password', async () => server.admin.post(`/api/v1/admins/${await adminId('temp')}/password`, {}), 'admin.password.reset'],
      ['DELETE /api/v1/admins/{id}', async () => server.admin.delete(`/api/v1/admins/${await adminId('temp')}`), 'admin.delete'],
      ['PUT /api/v1/tls', () => server.admin.put('/api/v1/tls', { enabled: true }), 'tls.settings.update'],
      ['POST /api/v1/tls/client-certs', () => server.admin.post('/api/v1/tls/client-certs', { name: 'audited-source' }), 'tls.client-cert.issue'],
      ['DELETE /api/v1/tls/client-certs/{id}', async () => server.admin.delete(`/api/v1/tls/client-certs/${(await server.admin.get('/api/v1/tls/client-certs')).body.find((c: any) => c.name === 'audited-source').id}`), 'tls.client-cert.revoke'],
      ['POST /api/v1/tokens', () => server.admin.post('/api/v1/tokens', { name: 'ci' }), 'token.create'],
      ['DELETE /api/v1/tokens/{id}', async () => server.admin.delete(`/api/v1/tokens/${(await server.admin.get('/api/v1/tokens')).body[0].id}`), 'token.revoke'],
      ['POST /api/v1/auth/login', () => server.client().login('admin', server.adminPassword), 'auth.login'],
      ['POST /api/v1/auth/password', () => server.admin.post('/api/v1/auth/password', { currentPassword: 'wrong-current-pw', newPassword: 'whatever-new-pw-1' }), 'auth.password.change'],
      ['POST /api/v1/auth/logout', async () => { const c = server.client(); await c.login('admin', server.adminPassword); return c.post('/api/v1/auth/logout'); }, 'auth.logout'],
      ['DELETE /api/v1/bans/{address}', () => server.admin.delete('/api/v1/bans/10.9.8.7'), 'ban.lift'],
      ['POST /api/v1/sources/heartbeat', () => server.admin.post('/api/v1/sources/heartbeat', { name: 'src1', hostname: 'h', version: '1', targets: [] }), ''],
      ['POST /api/v1/alerts/channels', () => server.admin.post('/api/v1/alerts/channels', { name: 'aud', type: 'webhook', webhook: { url: 'http://127.0.0.1:9/x', format: 'json' } }), 'alert.channel.create'],
      ['PATCH /api/v1/alerts/channels/{id}', async () => server.admin.patch(`/api/v1/alerts/channels/${await channelId()}`, { enabled: false }), 'alert.channel.update'],
      ['POST /api/v1/alerts/channels/{id}/test', async () => server.admin.post(`/api/v1/alerts/channels/${await channelId()}/test`), 'alert.channel.test'],
      ['DELETE /api/v1/alerts/channels/{id}', async () => server.admin.delete(`/api/v1/alerts/channels/${await channelId()}`), 'alert.channel.delete'],
      ['PUT /api/v1/alerts/rules/{id}', () => server.admin.put('/api/v1/alerts/rules/auth-burst', { threshold: 10 }), 'alert.rule.update'],
      ['POST /api/v1/alerts/{id}/ack', () => server.admin.post('/api/v1/alerts/999999/ack'), 'alert.acknowledge'],
    ];
    async function channelId(): Promise<number> {
      return (await server.admin.get('/api/v1/alerts/channels')).body.find((c: any) => c.name === 'aud').id;
    }
    async function adminId(username: string): Promise<number> {
      return (await server.admin.get('/api/v1/admins')).body.find((a: any) => a.username === username).id;
    }
    assert.deepEqual([...new Set(calls.map((c) => c[0]))].sort(), mutating.sort(), 'the table covers every mutating route of the API');
    for (const [route, call, action] of calls) {
      const lastId = (await server.admin.get('/api/v1/audit?limit=1')).body.items[0]?.id ?? 0;
      await call();
      const entries = (await server.admin.get('/api/v1/audit?limit=20')).body.items.filter((e: any) => e.id > lastId);
      if (action === '') {
        assert.equal(entries.length, 0, `${route} (heartbeats are not audited one by one)`);
        continue;
      }
      assert.ok(entries.some((e: any) => e.action === action), `${route} -> ${action}; got ${entries.map((e: any) => e.action).join(', ')}`);
    }
    const update = (await server.admin.get('/api/v1/audit?action=module.update')).body.items[0];
    assert.equal(update.before.comment, '');
    assert.equal(update.after.comment, 'changed');
    assert.equal(update.actor, 'admin');
    assert.equal(update.outcome, 'success');
  });

  test('failed logins and refused auditor mutations are audited too; auditors can read the log', async () => {
    const failed = await server.client().request('POST', '/api/v1/auth/login', { username: 'admin', password: 'not-it-at-all' });
    assert.equal(failed.status, 401);
    const entry = (await server.admin.get('/api/v1/audit?action=auth.login&outcome=failure')).body.items[0];
    assert.equal(entry.actor, 'admin');
    assert.equal(entry.actorType, 'anonymous');
    const auditor = server.client();
    await auditor.login('watcher', watcherPassword);
    const refused = await auditor.post('/api/v1/modules', { name: 'nope', path: `${server.storageRoot}/nope` });
    assert.equal(refused.status, 403);
    const denied = (await auditor.get('/api/v1/audit?action=module.create&outcome=failure')).body.items[0];
    assert.equal(denied.actor, 'watcher');
    assert.equal(denied.role, 'auditor');
    const csv = await auditor.get('/api/v1/audit?format=csv');
    assert.equal(csv.status, 200);
    assert.match(csv.text.split('\r\n')[0]!, /^id,at,actor/);
    // append-only: no route changes or removes an entry
    for (const m of ['DELETE', 'PATCH', 'PUT']) assert.equal((await server.admin.request(m, `/api/v1/audit/${entry.id}`, m === 'DELETE' ? undefined : {})).status, 404);
  });

  test('no secret appears in any audit entry, server log line or API response', async () => {
    const secrets = [PASSWORD, 'audited-secret-77', 'audited-secret-88', 'watcher-password-1', 'temp-password-123', server.adminPassword, 'not-it-at-all'];
    const csv = (await server.admin.get('/api/v1/audit?format=csv&limit=500')).text;
    const everything = [
      csv,
      server.output(),
      (await server.admin.get('/api/v1/rsync-users')).text,
      (await server.admin.get('/api/v1/daemon/config')).text,
      (await server.admin.get('/api/v1/admins')).text,
      (await server.admin.get('/api/v1/tokens')).text,
      fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8'),
      fs.readFileSync(path.join(server.dataDir, 'rsyncd.log'), 'latin1'),
    ].join('\n');
    for (const s of secrets) assert.ok(!everything.includes(s), `secret ${s.slice(0, 3)}… leaked`);
    assert.match(csv, /\[redacted\]/, 'password fields are shown as redacted');
  });

  test('metrics, stats and sources', async () => {
    const metrics = await server.admin.get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^rsynchub_daemon_up 1$/m);
    assert.match(metrics.text, /^rsynchub_sessions_total\{module="one",status="success"\} \d+$/m);
    assert.match(metrics.text, /^rsynchub_auth_failures_total\{module="one"\} [1-9]/m);
    assert.equal((await server.client().get('/metrics')).status, 401, 'metrics need auth');
    const stats = (await server.admin.get('/api/v1/stats')).body;
    assert.ok(stats.series.length > 0);
    assert.ok(stats.today.sessions > 20);
    const sources = (await server.admin.get('/api/v1/sources')).body;
    assert.equal(sources[0].name, 'src1');
    const activity = (await server.admin.get('/api/v1/transfers/by-module')).body;
    const one = activity.find((a: any) => a.module === 'one');
    const newestPush = (await sessions('&module=one&status=success')).find((s) => s.direction === 'push');
    assert.equal(one.lastPushAt, newestPush.startedAt);
    assert.equal(one.lastPushSize, newestPush.totalSize);
    assert.equal(one.lastPushFiles, newestPush.fileCount);
  });
});
