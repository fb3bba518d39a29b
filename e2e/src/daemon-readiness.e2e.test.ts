/**
 * The server's own readiness check of the daemon it starts is not a transfer: after many daemon starts (API
 * restarts and a server restart), the history holds exactly the sessions clients made, none "from 127.0.0.1 without
 * a module, error in rsync protocol data stream". (The old check connected and hung up at once, racing the daemon's
 * greeting: rsync logged code 12 for about one start in three under load.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTree, passwordFile, rsync } from './support/rsync';
import { RunningServer, startServer, waitFor } from './support/server';

const RESTARTS = 12;
let server: RunningServer | null = null;

after(async () => {
  await server?.stop();
});

interface Session { module: string | null; status: string; error: string | null; clientIp: string | null }

async function sessions(s: RunningServer): Promise<Session[]> {
  const res = await s.admin.get('/api/v1/transfers?limit=500');
  assert.equal(res.status, 200, res.text);
  return res.body.items as Session[];
}

test('daemon starts leave no session of their own in the history', async () => {
  server = await startServer();
  const password = crypto.randomBytes(12).toString('hex');
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'probe', password })).status, 201);
  const created = await server.admin.post('/api/v1/modules', { name: 'ready', path: path.join(server.storageRoot, 'ready'), users: [{ name: 'probe', access: 'rw' }] });
  assert.equal(created.status, 201, created.text);
  const current = server;
  for (let i = 0; i < RESTARTS; i++) {
    const res = await current.admin.post('/api/v1/daemon/restart');
    assert.ok(res.status < 300, res.text);
    await waitFor(`the daemon running again (restart ${i + 1})`, async () => (await current.admin.get('/api/v1/daemon')).body.state === 'running', 60_000);
  }
  const { dataDir, httpPort, rsyncPort } = server;
  await server.stop();
  server = await startServer({ dataDir, httpPort, rsyncPort });
  // A real push after all the starts: once its session is in, everything the daemon logged before it is too.
  const push = await rsync(['-rt', `--password-file=${passwordFile(password)}`, `${makeTree(2)}/`, `probe@127.0.0.1::ready`, `--port=${rsyncPort}`]);
  assert.equal(push.code, 0, push.stderr);
  const s = server;
  await waitFor('the push recorded', async () => (await sessions(s)).some((x) => x.module === 'ready' && x.status === 'success'), 60_000);
  const all = await sessions(s);
  assert.deepEqual(
    all.map((x) => ({ module: x.module, status: x.status, error: x.error })),
    [{ module: 'ready', status: 'success', error: null }],
    'the only session is the client push',
  );
  // The mechanism, whatever the machine's speed: no start made a connection of its own (rsync logs each connection).
  const connections = fs.readFileSync(path.join(dataDir, 'rsyncd.log'), 'latin1').split('\n').filter((l) => / connect from /.test(l));
  assert.equal(connections.length, 1, connections.join('\n'));
});
