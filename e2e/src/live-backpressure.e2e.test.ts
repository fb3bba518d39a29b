/**
 * A client that stops reading must not hold up ingestion or other clients: every event still reaches the others and
 * the database, the server keeps answering, and the server drops the stalled client once its backlog in Node stays
 * over 4 MiB for 3 s. The stalled client's receive buffer is made tiny (see slowReader in libs/testing): with Linux's
 * default loopback buffers the kernel would absorb the whole flood and the server would never see a backlog.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LiveClient, RunningServer, startServer, waitFor } from '@rsynchub/testing';
import { slowReader } from '@rsynchub/testing';

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

const DROPPED = 'dropping a live-events client that does not keep up';

test('a client that stopped reading is dropped and does not hold up ingestion or another client, which receives every file event', async () => {
  const headers = { authorization: `Bearer ${server.admin.token}` };
  // The stalled client completes the WebSocket handshake and then never reads, with a 4 KiB receive window. (Pausing
  // a ws client's socket is not enough: ws resumes its own socket when its parser drains.)
  const stalled = await slowReader(server.httpPort, '/api/v1/events', headers.authorization);
  assert.match(stalled.status, /^HTTP\/1\.1 101/);
  const healthy = await LiveClient.connect(server.baseUrl, headers);

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

  // The server answers while the stalled client still holds its backlog.
  const t0 = Date.now();
  assert.equal((await server.admin.get('/api/v1/health')).status, 200);
  assert.ok(Date.now() - t0 < 2000, 'the server is not blocked by the stalled client');
  assert.equal(healthy.ws.readyState, healthy.ws.OPEN, 'the healthy client is still connected');
  // About 20 MB went to each client: far more than the stalled one's kernel buffers hold, so its backlog stayed in
  // Node and the server dropped it (after 3 s over 4 MiB); the healthy one took its copy and was not dropped.
  await waitFor('the server to drop the stalled client', () => server.output().includes(DROPPED), 30_000);
  assert.equal(server.output().split(DROPPED).length - 1, 1, 'exactly one client was dropped');
  assert.equal(healthy.ws.readyState, healthy.ws.OPEN, 'the healthy client was not dropped');
  stalled.close();
  healthy.close();
});

test('odd client messages get an error and never stop the server (a JSON null used to crash it)', async () => {
  const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
  const odd = ['null', '1', '"subscribe"', '[]', 'not json', '{"type":null}', 'x'.repeat(1024 * 1024)];
  for (const text of odd) live.ws.send(text);
  // A subscribe with wrong field types is taken as "everything" for those fields, not an error.
  live.send({ type: 'subscribe', events: 'session.file', modules: [1, null, 'FLOOD'] });
  await waitFor('an error for every odd message', () => live.messages.filter((m) => m.type === 'error').length === odd.length);
  assert.equal((await server.admin.get('/api/v1/health')).status, 200, 'the server still answers');
  assert.equal(live.ws.readyState, live.ws.OPEN, 'the socket is still open');
  live.close();
});

test('a client message over 1 MiB closes that socket (1009) before it is parsed; the server and other clients go on', async () => {
  const headers = { authorization: `Bearer ${server.admin.token}` };
  const big = await LiveClient.connect(server.baseUrl, headers);
  const other = await LiveClient.connect(server.baseUrl, headers);
  const closed = new Promise<number>((resolve) => big.ws.once('close', (code) => resolve(code)));
  big.ws.send(JSON.stringify({ type: 'subscribe', modules: ['m'.repeat(1024 * 1024)] }));
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still open after 15 s'), 15_000).unref());
  assert.equal(await Promise.race([closed, timeout]), 1009);
  assert.equal((await server.admin.get('/api/v1/health')).status, 200, 'the server still answers');
  assert.equal(other.ws.readyState, other.ws.OPEN);
  other.close();
});
