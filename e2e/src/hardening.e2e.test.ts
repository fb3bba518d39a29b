/**
 * Failure modes a production target must survive: unsafe purges, a missing rsync, a busy port, revoked credentials on
 * open sockets, odd query strings, and passwords typed into the username field.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { LiveClient, RunningServer, startServer, waitFor } from '@rsynchub/testing';

let server: RunningServer;

before(async () => {
  server = await startServer({ pinListen: false });
});

after(async () => {
  await server?.stop();
});

describe('purge', () => {
  test('a purge whose path now leads outside the roots through a symlink is refused, and nothing changes', async () => {
    const root = server.storageRoot;
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'purger', password: 'purger-password-7f3a9c2e' })).status, 201);
    assert.equal((await server.admin.post('/api/v1/modules', { name: 'inner', path: `${root}/x/y/inner`, users: [{ name: 'purger', access: 'rw' }] })).status, 201);
    // A writer into the storage swaps a parent directory for a link to somewhere else.
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-outside-'));
    fs.mkdirSync(path.join(outside, 'inner'));
    fs.writeFileSync(path.join(outside, 'inner', 'precious.txt'), 'keep me');
    fs.rmSync(`${root}/x/y`, { recursive: true });
    fs.symlinkSync(outside, `${root}/x/y`);
    const res = await server.admin.delete('/api/v1/modules/inner?purge=true');
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.message, /not purged: .* resolves to .*outside the storage roots/);
    assert.equal(fs.readFileSync(path.join(outside, 'inner', 'precious.txt'), 'utf8'), 'keep me');
    assert.equal((await server.admin.get('/api/v1/modules/inner')).status, 200, 'the module is still there');
    // Without purge, the module can still be removed (its data is left alone).
    assert.equal((await server.admin.delete('/api/v1/modules/inner')).status, 200);
    assert.ok(fs.existsSync(path.join(outside, 'inner', 'precious.txt')));
  });
});

describe('daemon settings', () => {
  test('a port already in use is refused before anything changes; the daemon keeps running', async () => {
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', () => r()));
    const busy = (squatter.address() as net.AddressInfo).port;
    try {
      const res = await server.admin.put('/api/v1/daemon/settings', { port: busy });
      assert.equal(res.status, 400, res.text);
      assert.match(res.body.message, /already in use/);
      const st = (await server.admin.get('/api/v1/daemon')).body;
      assert.equal(st.state, 'running');
      assert.equal(st.port, server.rsyncPort);
      assert.equal((await server.admin.get('/api/v1/daemon/settings')).body.port, server.rsyncPort);
    } finally {
      squatter.close();
    }
  });
});

describe('live stream', () => {
  test('logging out closes the sockets opened with that session', async () => {
    const c = server.client();
    await c.login('admin', server.adminPassword);
    const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${c.token}` });
    const closed = new Promise<number>((resolve) => live.ws.once('close', (code) => resolve(code)));
    assert.equal((await c.post('/api/v1/auth/logout')).status, 204);
    assert.equal(await closed, 4401);
  });
});

describe('queries and audit', () => {
  test('a repeated or unknown query parameter is a 400, not a 500', async () => {
    for (const q of ['/api/v1/transfers?path=a&path=b', '/api/v1/transfers?bogus=1', '/api/v1/audit?actor=a&actor=b', '/api/v1/transfers/1/files?op=nope']) {
      const res = await server.admin.get(q);
      assert.equal(res.status, 400, `${q}: ${res.status} ${res.text}`);
    }
  });

  test('a password typed into the username field never reaches the audit log', async () => {
    const typo = 'Correct-Horse-Battery-9';
    assert.equal((await server.client().request('POST', '/api/v1/auth/login', { username: typo, password: 'whatever-else' })).status, 401);
    const entry = (await server.admin.get('/api/v1/audit?action=auth.login&outcome=failure')).body.items[0];
    assert.equal(entry.actor, '(unknown username)');
    assert.ok(!JSON.stringify((await server.admin.get('/api/v1/audit?limit=500')).body).includes(typo));
    // A real account name is kept, so failed logins against it can be reviewed.
    await server.client().request('POST', '/api/v1/auth/login', { username: 'admin', password: 'wrong-password-1' });
    assert.equal((await server.admin.get('/api/v1/audit?action=auth.login&outcome=failure')).body.items[0].actor, 'admin');
  });

  test('anonymous refusals are audited, but not without bound', async () => {
    const before = (await server.admin.get('/api/v1/audit?actor=anonymous&limit=500')).body.items.length;
    for (let i = 0; i < 40; i++) assert.equal((await server.client().post('/api/v1/modules', { name: `n${i}`, path: '/x' })).status, 401);
    const after = (await server.admin.get('/api/v1/audit?actor=anonymous&limit=500')).body.items.length;
    assert.ok(after - before >= 1 && after - before <= 20, `recorded ${after - before} of 40`);
  });
});

describe('without rsync', () => {
  test('the server still starts, says what to install, and the console works', async () => {
    const bare = await startServer({ env: { RSYNCHUB_RSYNC_BINARY: '/nonexistent/rsync' }, waitForDaemon: false });
    try {
      const health = await bare.client().get('/api/v1/health');
      assert.equal(health.status, 503);
      const st = (await bare.admin.get('/api/v1/daemon')).body;
      assert.notEqual(st.state, 'running');
      assert.match(st.lastError, /install rsync >= 3\.5\.0/);
      assert.equal((await bare.admin.get('/api/v1/modules')).status, 200);
      // Explicitly anonymous so the request is valid on its own: without rsync even an rsync user cannot be created.
      const refused = await bare.admin.post('/api/v1/modules', { name: 'm', path: `${bare.storageRoot}/m`, anonymous: 'read-write' });
      assert.equal(refused.status, 400, 'no change can be proven without rsync');
    } finally {
      await bare.stop();
    }
  });
});
