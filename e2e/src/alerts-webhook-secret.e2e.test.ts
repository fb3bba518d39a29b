/**
 * A webhook URL is a secret (review finding): it may carry a token in its path or query, or credentials. The API
 * returns it redacted, the audit log and the server's output never hold it, and editing a channel without sending
 * the URL again (or sending back the redacted form) keeps the stored one, which still receives the alerts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import sqlite3 from 'sqlite3';
import { startWebhookReceiver } from './support/alert-receivers';
import { RunningServer, startServer } from './support/server';

let server: RunningServer;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
const TOKEN = `tok${crypto.randomBytes(8).toString('hex')}`;
const PASS = `pw${crypto.randomBytes(8).toString('hex')}`;

before(async () => {
  server = await startServer();
  receiver = await startWebhookReceiver();
});

after(async () => {
  await receiver?.close();
  await server?.stop();
});

describe('webhook URLs are secrets', () => {
  test('never returned in full, audited or logged; edits without the URL keep it; the stored URL still receives the test', async () => {
    const secretUrl = `${receiver.url.replace(/\/$/, '')}/hooks/${TOKEN}?token=${TOKEN}`;
    const origin = new URL(receiver.url).host;
    const created = await server.admin.post('/api/v1/alerts/channels', { name: 'ops-hook', type: 'webhook', webhook: { url: secretUrl, format: 'json' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.webhook.url, `http://${origin}/…`);
    const id = created.body.id as number;

    // Credentials in the URL are redacted the same way.
    const withUser = await server.admin.post('/api/v1/alerts/channels', { name: 'cred-hook', type: 'webhook', webhook: { url: `https://bot:${PASS}@hooks.example.com/x`, format: 'slack' } });
    assert.equal(withUser.status, 201, withUser.text);
    assert.equal(withUser.body.webhook.url, 'https://hooks.example.com/…');

    // Edits that leave the URL out, or send back what the API showed, keep the stored URL.
    const renamed = await server.admin.patch(`/api/v1/alerts/channels/${id}`, { name: 'ops-hook-2' });
    assert.equal(renamed.status, 200, renamed.text);
    const formatOnly = await server.admin.patch(`/api/v1/alerts/channels/${id}`, { webhook: { format: 'json' } });
    assert.equal(formatOnly.status, 200, formatOnly.text);
    const echoed = await server.admin.patch(`/api/v1/alerts/channels/${id}`, { webhook: { url: formatOnly.body.webhook.url, format: 'json' } });
    assert.equal(echoed.status, 200, echoed.text);

    const test = await server.admin.post(`/api/v1/alerts/channels/${id}/test`, {});
    assert.equal(test.status, 200, test.text);
    assert.deepEqual(test.body, { ok: true, error: null });
    assert.equal(receiver.received.length, 1);
    assert.equal(receiver.received[0]!.path, `/hooks/${TOKEN}?token=${TOKEN}`, 'the full stored URL was used');

    // Nothing the API, the audit log or the server's output gives out holds the token or the password.
    const seen = JSON.stringify([
      created.body, withUser.body, renamed.body, formatOnly.body, echoed.body, test.body,
      (await server.admin.get('/api/v1/alerts/channels')).body,
      (await server.admin.get(`/api/v1/alerts/channels/${id}`)).body,
      (await server.admin.get('/api/v1/audit?limit=200')).body,
      (await server.admin.get('/api/v1/audit?format=csv&limit=500')).text ?? '',
    ]);
    assert.ok(!seen.includes(TOKEN), 'the webhook token leaked through the API or the audit log');
    assert.ok(!seen.includes(PASS), 'the webhook password leaked through the API or the audit log');
    assert.ok(!server.output().includes(TOKEN) && !server.output().includes(PASS), 'the server logged a webhook secret');

    // A new URL replaces it.
    const moved = await server.admin.patch(`/api/v1/alerts/channels/${id}`, { webhook: { url: `${receiver.url.replace(/\/$/, '')}/other`, format: 'json' } });
    assert.equal(moved.status, 200, moved.text);
    assert.equal((await server.admin.post(`/api/v1/alerts/channels/${id}/test`, {})).body.ok, true);
    assert.equal(receiver.received[1]!.path, '/other');
  });

  test('a webhook row stored before URLs were sealed is sealed at the next start and still delivers', async () => {
    const { dataDir, httpPort, rsyncPort } = server;
    await server.stop();
    const legacyUrl = `${receiver.url.replace(/\/$/, '')}/legacy?token=${TOKEN}`;
    const db = new sqlite3.Database(path.join(dataDir, 'rsynchub.sqlite'));
    const now = new Date().toISOString();
    await new Promise<void>((resolve, reject) =>
      db.run(
        `INSERT INTO alert_channels (name, type, enabled, min_severity, send_resolved, config_json, secret_enc, created_at, updated_at) VALUES ('legacy', 'webhook', 1, 'warning', 1, ?, NULL, ?, ?)`,
        [JSON.stringify({ url: legacyUrl, format: 'json' }), now, now],
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    await new Promise<void>((r) => db.close(() => r()));
    server = await startServer({ dataDir, httpPort, rsyncPort });
    const check = new sqlite3.Database(path.join(dataDir, 'rsynchub.sqlite'), sqlite3.OPEN_READONLY);
    const row = await new Promise<{ id: number; config_json: string; secret_enc: string | null }>((resolve, reject) =>
      check.get(`SELECT id, config_json, secret_enc FROM alert_channels WHERE name = 'legacy'`, (err, r) => (err ? reject(err) : resolve(r as never))),
    );
    await new Promise<void>((r) => check.close(() => r()));
    assert.ok(!row.config_json.includes(TOKEN), `config_json still holds the token: ${row.config_json}`);
    assert.ok(row.secret_enc && !row.secret_enc.includes(TOKEN));
    assert.equal((await server.admin.get(`/api/v1/alerts/channels/${row.id}`)).body.webhook.url, `http://${new URL(receiver.url).host}/…`);
    assert.equal((await server.admin.post(`/api/v1/alerts/channels/${row.id}/test`, {})).body.ok, true);
    assert.equal(receiver.received.at(-1)!.path, `/legacy?token=${TOKEN}`);
  });
});
