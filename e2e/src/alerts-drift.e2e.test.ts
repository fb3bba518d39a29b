/**
 * Config drift as an alert, end to end: the real server (rules every 300 ms) and its real daemon files, a real local
 * webhook receiver. The files are changed behind RsyncHub's back (chmod 644 of the secrets file, an edit of
 * rsyncd.conf); RsyncHub restores them within about a second, and the daemon rule still raises one alert saying the
 * config was changed outside RsyncHub and restored (a sysadmin wants to know about a hand edit or an intrusion even
 * after the repair). It resolves by itself after `driftHoldMinutes` (set to 0 here to see the resolution).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startWebhookReceiver } from './support/alert-receivers';
import { RunningServer, startServer, waitFor } from './support/server';

const KEY = 'daemon-config-drift';
let server: RunningServer;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
const conf = () => path.join(server.dataDir, 'rsyncd.conf');
const secrets = () => path.join(server.dataDir, 'rsyncd.secrets');
const hooks = (event: string) => hook.received.filter((r) => r.path === '/json' && r.json?.alert?.key === KEY && r.json.event === event).map((r) => r.json);

async function firing(): Promise<any | undefined> {
  return (await server.admin.get('/api/v1/alerts?state=firing&limit=500')).body.items.find((a: any) => a.key === KEY);
}

before(async () => {
  hook = await startWebhookReceiver();
  server = await startServer({ env: { RSYNCHUB_ALERT_INTERVAL_MS: '300' } });
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'drifter', password: randomBytes(12).toString('hex') })).status, 201);
  const mod = await server.admin.post('/api/v1/modules', { name: 'steady', path: path.join(server.storageRoot, 'steady'), users: [{ name: 'drifter', access: 'rw' }] });
  assert.equal(mod.status, 201, mod.text);
  const ch = await server.admin.post('/api/v1/alerts/channels', { name: 'ops hook', type: 'webhook', webhook: { url: `${hook.url}/json`, format: 'json' } });
  assert.equal(ch.status, 201, ch.text);
});

after(async () => {
  await server?.stop();
  await hook?.close();
});

test('a secrets file made world-readable: restored, and one alert says it was changed outside RsyncHub', async () => {
  assert.equal(await firing(), undefined, 'no drift alert on a fresh server');
  fs.chmodSync(secrets(), 0o644);
  await waitFor('the drift alert', async () => (await firing()) !== undefined);
  await waitFor('the secrets file back to 0600', () => (fs.statSync(secrets()).mode & 0o777) === 0o600);
  await waitFor('the webhook', () => hooks('firing').length === 1);
  // After the repair the alert stays (held for driftHoldMinutes), now as a warning that the files were restored.
  await waitFor('the alert to say restored', async () => (await firing())?.severity === 'warning');
  const alert = await firing();
  assert.equal(alert.rule, 'daemon');
  assert.match(alert.title, /changed outside RsyncHub and restored/);
  assert.match(alert.message, /rsyncd\.secrets: mode 644/);
  assert.equal(alert.details.repaired, true);
  assert.equal((await server.admin.get('/api/v1/health')).status, 200, 'health is ok again after the repair');
  const seen = Date.now();
  await waitFor('a few evaluations', async () => Date.now() - seen > 1500, 5_000);
  assert.equal(hooks('firing').length, 1, 'deduplicated: one message for the episode');
});

test('driftHoldMinutes 0: the repaired drift resolves; an edit of rsyncd.conf fires a new alert naming it', async () => {
  const put = await server.admin.put('/api/v1/alerts/rules/daemon', { driftHoldMinutes: 0 });
  assert.equal(put.status, 200, put.text);
  await waitFor('the drift alert to resolve', async () => (await firing()) === undefined);
  await waitFor('the resolved webhook', () => hooks('resolved').length === 1);

  // Back to holding repaired drifts; a hand edit of rsyncd.conf (an added module) is a new episode, a new alert.
  assert.equal((await server.admin.put('/api/v1/alerts/rules/daemon', { driftHoldMinutes: 60 })).status, 200);
  const original = fs.readFileSync(conf(), 'utf8');
  fs.appendFileSync(conf(), '\n[evil]\n    path = /\n    read only = no\n');
  await waitFor('a new drift alert', async () => /rsyncd\.conf: content changed/.test((await firing())?.message ?? ''));
  await waitFor('rsyncd.conf restored', () => fs.readFileSync(conf(), 'utf8') === original);
  await waitFor('a second firing webhook', () => hooks('firing').length === 2);
  const audit = await server.admin.get('/api/v1/audit?action=daemon.config.repair&limit=50');
  assert.ok(audit.body.items.length >= 2, 'both repairs audited');
});
