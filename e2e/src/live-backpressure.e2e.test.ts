/**
 * A client that stops reading must not hold up ingestion or other clients: every event still reaches the others and
 * the database, and the server keeps answering. (The server also drops a client whose backlog in Node stays over
 * 4 MiB for 3 s; how much backlog stays in Node depends on the kernel's socket buffers, so that is not asserted.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { LiveClient, RunningServer, startServer, waitFor } from '@rsynchub/testing';

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

test('a client that stopped reading does not hold up ingestion or another client, which receives every file event', async () => {
  const headers = { authorization: `Bearer ${server.admin.token}` };
  // The stalled client is a raw socket that completes the WebSocket handshake and then never reads. (Pausing a ws
  // client's socket is not enough: ws resumes its own socket when its parser drains, and with large kernel receive
  // buffers the whole flood then lands in the client and the server never sees a backlog.)
  const stalled = await stalledWebSocket(server.httpPort, headers.authorization);
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
  // Whether the server dropped the stalled client depends on how much of the backlog the kernel's socket buffers
  // absorbed (they can hold tens of MB on loopback): the server drops a client whose own backlog stays over 4 MiB for
  // 3 s. Not asserted here.
  stalled.destroy();
  healthy.close();
});

/** A WebSocket upgrade on a raw TCP socket that is then paused for good: a client that stopped reading. */
function stalledWebSocket(port: number, authorization: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        `GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: ${authorization}\r\n\r\n`,
      );
    });
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      else resolve(socket);
    };
    socket.on('data', onData);
  });
}
