/**
 * A client that stops reading must not hold up ingestion or other clients: the server drops that client (which can
 * reconnect) and keeps every event for the others and in the database.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LiveClient, RunningServer, startServer, waitFor } from '@rsynchub/testing';

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

test('a stalled WebSocket client is dropped while another receives every file event', async () => {
  const headers = { authorization: `Bearer ${server.admin.token}` };
  const stalled = await LiveClient.connect(server.baseUrl, headers);
  const healthy = await LiveClient.connect(server.baseUrl, headers);
  // Stop reading: the server's send buffer for this client grows until it gives up on it.
  (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const stalledClosed = new Promise<void>((resolve) => stalled.ws.once('close', () => resolve()));

  const pid = 4_000_001;
  const files = 80_000;
  const at = new Date().toISOString().replace('T', ' ').replace(/-/g, '/').slice(0, 19);
  const lines = [`${at} [${pid}] rsync to flood/ from alice@client (10.2.0.1)`];
  for (let i = 0; i < files; i++) lines.push(`${at} [${pid}] recv|10.2.0.1|client|flood|alice|100|100|>f+++++++++|2026/11/25-10:00:00|dir${i % 50}/a-rather-long-file-name-to-fill-the-buffer-${i}.dat`);
  lines.push(`${at} [${pid}] sent 10 bytes  received ${files * 100} bytes  total size ${files * 100}`);
  fs.appendFileSync(path.join(server.dataDir, 'rsyncd.log'), lines.join('\n') + '\n');

  await waitFor('the healthy client to see the session end', () => healthy.messages.find((m) => m.type === 'session.ended' && m.data.daemonPid === pid), 60_000);
  const received = healthy.messages.filter((m) => m.type === 'session.file').reduce((n, m) => n + m.data.length, 0);
  assert.equal(received, files, 'the healthy client got every file event');
  const stored = (await server.admin.get('/api/v1/transfers?module=flood')).body.items[0];
  assert.equal(stored.fileCount, files, 'ingestion kept every event');

  (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  await stalledClosed;
  const stalledGot = stalled.messages.filter((m) => m.type === 'session.file').reduce((n, m) => n + m.data.length, 0);
  assert.ok(stalledGot < files, `the stalled client was dropped (it got ${stalledGot} of ${files})`);
  healthy.close();
});
