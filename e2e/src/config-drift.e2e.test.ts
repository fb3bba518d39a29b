/**
 * rsyncd.conf and the secrets file changed, re-moded or deleted behind RsyncHub's back are noticed within seconds
 * and restored from the database (audited, streamed); health says `degraded` while they are wrong; temp files of
 * failed writes do not pile up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LiveClient, rsync, RunningServer, startServer, waitFor } from './support/server';

let server: RunningServer;
let live: LiveClient;
const conf = () => path.join(server.dataDir, 'rsyncd.conf');
const secrets = () => path.join(server.dataDir, 'rsyncd.secrets');

before(async () => {
  server = await startServer();
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'drifter', password: crypto.randomBytes(12).toString('hex') })).status, 201);
  const res = await server.admin.post('/api/v1/modules', { name: 'steady', path: path.join(server.storageRoot, 'steady'), users: [{ name: 'drifter', access: 'rw' }] });
  assert.equal(res.status, 201, res.text);
  live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
});

after(async () => {
  live?.close();
  await server?.stop();
});

async function health(): Promise<{ status: number; body: { status: string; problems?: string[] } }> {
  const res = await fetch(`${server.baseUrl}/api/v1/health`);
  return { status: res.status, body: (await res.json()) as { status: string; problems?: string[] } };
}

test('an edited rsyncd.conf is restored within seconds, with an audit entry and live events', async () => {
  const original = fs.readFileSync(conf(), 'utf8');
  const repaired = live.next((m) => m.type === 'config.drift' && m.data.change === 'repaired', 30_000);
  fs.appendFileSync(conf(), '\n[evil]\n    path = /\n    read only = no\n');
  const event = await repaired;
  assert.ok(event.data.problems.includes('rsyncd.conf: content changed'), JSON.stringify(event.data));
  assert.equal(fs.readFileSync(conf(), 'utf8'), original);
  const listing = await rsync([`rsync://127.0.0.1:${server.rsyncPort}/`]);
  assert.doesNotMatch(listing.stdout, /evil/);
  const audit = (await server.admin.get('/api/v1/audit?action=daemon.config.repair')).body.items;
  assert.ok(audit.length >= 1);
  assert.match(audit[0].detail, /rsyncd\.conf: content changed/);
  assert.equal(audit[0].actorType, 'system');
  assert.equal((await health()).status, 200);
});

test('a secrets file made world-readable, or deleted, is put back with mode 0600', async () => {
  const content = fs.readFileSync(secrets(), 'utf8');
  fs.chmodSync(secrets(), 0o644);
  await waitFor('mode 0600 again', () => (fs.statSync(secrets()).mode & 0o777) === 0o600);
  fs.rmSync(secrets());
  await waitFor('the secrets file back', () => fs.existsSync(secrets()) && fs.readFileSync(secrets(), 'utf8') === content);
  assert.equal(fs.statSync(secrets()).mode & 0o777, 0o600);
});

test('health is degraded, naming the reason, for as long as the files cannot be restored', async () => {
  // A directory in the config's place cannot be replaced by a file: the repair fails until it is gone.
  const failed = live.next((m) => m.type === 'config.drift' && m.data.change === 'repair-failed', 30_000);
  fs.rmSync(conf());
  fs.mkdirSync(conf());
  fs.writeFileSync(path.join(conf(), 'blocker'), 'x');
  await failed;
  const degraded = await health();
  assert.equal(degraded.status, 503);
  assert.equal(degraded.body.status, 'degraded');
  assert.ok(degraded.body.problems?.some((p) => p.startsWith('rsyncd.conf:')), JSON.stringify(degraded.body));
  fs.rmSync(conf(), { recursive: true });
  await waitFor('health ok again', async () => (await health()).status === 200);
  assert.match(fs.readFileSync(conf(), 'utf8'), /\[steady\]/);
  // The failed writes left no temp files behind.
  assert.deepEqual(fs.readdirSync(server.dataDir).filter((f) => f.endsWith('.tmp')), []);
});

test('temp files left by an interrupted write are removed at the next start', async () => {
  const { dataDir, httpPort, rsyncPort } = server;
  live.close();
  await server.kill();
  const leftovers = ['.rsyncd.conf.0123456789ab.tmp', '.rsyncd.secrets.abcdef012345.tmp'];
  for (const f of leftovers) fs.writeFileSync(path.join(dataDir, f), 'half-written', { mode: 0o600 });
  fs.writeFileSync(path.join(dataDir, 'unrelated.tmp'), 'not ours');
  server = await startServer({ dataDir, httpPort, rsyncPort });
  live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
  for (const f of leftovers) assert.equal(fs.existsSync(path.join(dataDir, f)), false, f);
  assert.ok(fs.existsSync(path.join(dataDir, 'unrelated.tmp')));
});
