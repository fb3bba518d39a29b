/**
 * The live stream with permessage-deflate, through the real gateway (Nest's WsAdapter and its own ws), the real
 * daemon's log and real Chromium. A client that negotiates deflate and one that does not get the same events. The
 * deflating one gets far fewer bytes. Chromium negotiates deflate on its own, and the console still shows live events.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { DESKTOP, launchChromium, watchPage, withBrowserLog } from './support/browser';
import { passwordFile, rsync } from './support/rsync';
import { RunningServer, startServer, waitFor } from './support/server';

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** A ws client that keeps every message's text and counts the bytes its TCP socket read. */
function streamClient(perMessageDeflate: boolean): Promise<{ ws: WebSocket; texts: string[]; bytesRead: () => number }> {
  return new Promise((resolve, reject) => {
    let socket: net.Socket | null = null;
    const ws = new WebSocket(server.baseUrl.replace(/^http/, 'ws') + '/api/v1/events', {
      headers: { authorization: `Bearer ${server.admin.token}` },
      perMessageDeflate,
      // ws's hook for the TCP connection (typed by @types/ws as net.createConnection's overloads): keeps the socket
      createConnection: ((opts: net.NetConnectOpts) => (socket = net.connect(opts))) as typeof net.createConnection,
    });
    const texts: string[] = [];
    ws.on('message', (raw: Buffer) => texts.push(raw.toString()));
    ws.once('open', () => resolve({ ws, texts, bytesRead: () => socket?.bytesRead ?? 0 }));
    ws.once('error', reject);
  });
}

test('the gateway negotiates deflate: a deflating and a plain client get the same messages, the deflating one far fewer bytes', async () => {
  const deflating = await streamClient(true);
  const plain = await streamClient(false);
  assert.equal(deflating.ws.extensions, 'permessage-deflate', 'the gateway agreed to deflate');
  assert.equal(plain.ws.extensions, '', 'and does not force it on a client that did not offer it');
  const start = [deflating.bytesRead(), plain.bytesRead()];

  const pid = 4_100_001;
  const files = 3_000;
  const at = new Date().toISOString().replace('T', ' ').replace(/-/g, '/').slice(0, 19);
  const lines = [`${at} [${pid}] rsync to squeeze/ from alice@client (10.3.0.1)`];
  for (let i = 0; i < files; i++) lines.push(`${at} [${pid}] recv|10.3.0.1|client|squeeze|alice|100|100|>f+++++++++|2026/11/25-10:00:00|dir${i % 30}/file-${i}.dat`);
  lines.push(`${at} [${pid}] sent 10 bytes  received ${files * 100} bytes  total size ${files * 100}`);
  fs.appendFileSync(path.join(server.dataDir, 'rsyncd.log'), lines.join('\n') + '\n');

  const ended = (texts: string[]) => texts.some((t) => t.includes('"type":"session.ended"') && t.includes(`"daemonPid":${pid}`));
  await waitFor('both clients to see the session end', () => ended(deflating.texts) && ended(plain.texts), 60_000);
  assert.deepEqual(deflating.texts.slice(1), plain.texts.slice(1), 'the same messages after hello');
  const paths = deflating.texts.flatMap((t) => {
    const m = JSON.parse(t);
    return m.type === 'session.file' ? m.data.map((f: { path: string }) => f.path) : [];
  });
  assert.deepEqual(paths, Array.from({ length: files }, (_, i) => `dir${i % 30}/file-${i}.dat`), 'every file once, in order');
  const [deflatedBytes, plainBytes] = [deflating.bytesRead() - start[0]!, plain.bytesRead() - start[1]!];
  assert.ok(deflatedBytes * 4 < plainBytes, `compressed on the wire: ${deflatedBytes} B vs ${plainBytes} B plain`);
  deflating.ws.close();
  plain.ws.close();
});

test('Chromium negotiates deflate with the console, and the console shows a push live', async () => {
  const user = 'deflateuser';
  const password = crypto.randomBytes(12).toString('hex');
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: user, password })).status, 201);
  const res = await server.admin.post('/api/v1/modules', { name: 'squeezeweb', path: path.join(server.storageRoot, 'squeezeweb'), users: [{ name: user, access: 'rw' }] });
  assert.equal(res.status, 201, res.text);
  const browser: Browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: DESKTOP, timezoneId: 'UTC', locale: 'en-US' })).newPage();
    page.setDefaultTimeout(20_000);
    const log = watchPage(page);
    await withBrowserLog(log, async () => {
      // What Chromium offered and what the server answered, as Chromium's own network layer saw them.
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Network.enable');
      const handshakes: { offered: string; agreed: string }[] = [];
      const offers = new Map<string, string>();
      const header = (headers: Record<string, string>, name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1] ?? '';
      cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => offers.set(e.requestId, header(e.request.headers, 'sec-websocket-extensions')));
      cdp.on('Network.webSocketHandshakeResponseReceived', (e) =>
        handshakes.push({ offered: offers.get(e.requestId) ?? '', agreed: header(e.response.headers, 'sec-websocket-extensions') }),
      );
      await page.goto(server.baseUrl + '/');
      await page.waitForURL(/\/login/);
      await page.fill('[data-testid="login-username"]', 'admin');
      await page.fill('[data-testid="login-password"]', server.adminPassword);
      await page.click('[data-testid="login-submit"]');
      await page.waitForSelector('[data-testid="daemon-card"]');
      await waitFor('the live connection', async () => (await page.innerText('[data-testid="feed-state"]')).trim() === 'live', 15_000);
      const handshake = await waitFor('the live stream handshake', () => handshakes.at(-1));
      assert.match(handshake.offered, /permessage-deflate/, 'Chromium offered deflate');
      assert.match(handshake.agreed, /^permessage-deflate; server_no_context_takeover/, 'the server agreed, without context takeover');

      const src = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-deflate-'));
      for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(src, `f-${i}.bin`), crypto.randomBytes(16));
      const pw = passwordFile(password);
      const pushed = await rsync(['-rt', `--password-file=${pw}`, `${src}/`, `${user}@127.0.0.1::squeezeweb`, `--port=${server.rsyncPort}`]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const session = '[data-testid^="live-session-"][data-module="squeezeweb"]';
      await waitFor('the console to show the push ended', async () => (await page.getAttribute(session, 'data-status')) === 'success', 20_000);
      assert.equal(await page.$eval(`${session} [data-testid="live-session-files"]`, (e) => (e.textContent ?? '').trim()), '300 file(s)');
      fs.rmSync(src, { recursive: true, force: true });
    });
  } finally {
    await browser.close().catch(() => undefined);
  }
});
