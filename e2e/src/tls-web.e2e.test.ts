/**
 * Issue 11 in a real browser: the Encryption page shows the listener, the CA's fingerprint and a working download;
 * its switch turns the listener off and on; the module page's connect panel offers rsync-ssl and the agent's TLS
 * config first, with the TLS port and the server certificate's fingerprint filled in.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { RunningServer, startServer, waitFor } from './support/server';
import { desktopPage, launchChromium, screenshot, withBrowserLog } from './support/browser';

let server: RunningServer;
let browser: Browser;
let page: Page;
let pageLog: () => string = () => '';
const byTestId = (id: string) => `[data-testid="${id}"]`;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  ({ page, log: pageLog } = await desktopPage(browser));
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'edge', password: randomBytes(12).toString('hex') })).status, 201);
  const res = await server.admin.post('/api/v1/modules', { name: 'vault', path: path.join(server.storageRoot, 'vault'), users: [{ name: 'edge', access: 'rw' }] });
  assert.equal(res.status, 201, res.text);
  await waitFor('the TLS listener', async () => (await server.admin.get('/api/v1/tls')).body.listening, 60_000);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

test('Encryption page and the TLS-first connect panel', async () => {
  await withBrowserLog(pageLog, async () => {
    const status = (await server.admin.get('/api/v1/tls')).body;
    await page.goto(server.baseUrl + '/login');
    await page.fill(byTestId('login-username'), 'admin');
    await page.fill(byTestId('login-password'), server.adminPassword);
    await page.click(byTestId('login-submit'));
    await page.waitForURL((u) => !u.pathname.startsWith('/login'));

    await page.goto(server.baseUrl + '/tls');
    await page.waitForSelector(`${byTestId('tls-state')}:has-text("listening")`);
    assert.equal((await page.textContent(byTestId('tls-port')))?.trim(), `127.0.0.1:${server.rsyncTlsPort}`);
    assert.equal((await page.textContent(byTestId('tls-ca-fingerprint')))?.trim(), status.ca.fingerprint256);
    assert.equal((await page.textContent(byTestId('tls-fingerprint')))?.trim(), status.certificate.fingerprint);
    // What terminates TLS: the native front by default (RSYNCHUB_TLS_FRONT=node npm test runs the fallback, with its reason).
    const front = (await page.textContent(byTestId('tls-front')))?.trim() ?? '';
    if (status.front.kind === 'native') assert.match(front, /^native \(rsynchub-tls-front\)/);
    else assert.equal(front, `Node.js fallback — ${status.front.why}`);
    // The download link serves the CA itself (with the browser's session cookie).
    const href = await page.getAttribute(byTestId('tls-ca-download'), 'href');
    const download = await page.request.get(new URL(href!, server.baseUrl).toString());
    assert.equal(download.status(), 200);
    assert.equal(new X509Certificate(await download.text()).fingerprint256, status.ca.fingerprint256);
    assert.match((await page.textContent(byTestId('snippet-ca-file'))) ?? '', /BEGIN CERTIFICATE/);
    await screenshot(page, 'tls-page');

    // The switch: off (nothing listens), then on again.
    await page.click(`${byTestId('tls-enabled')} button`);
    await page.waitForSelector(`${byTestId('tls-state')}:has-text("off")`);
    assert.equal((await server.admin.get('/api/v1/tls')).body.enabled, false);
    await page.click(`${byTestId('tls-enabled')} button`);
    await page.waitForSelector(`${byTestId('tls-state')}:has-text("listening")`);

    await page.goto(server.baseUrl + '/modules/vault');
    await page.waitForSelector(byTestId('snippet-agent-tls'));
    const current = (await server.admin.get('/api/v1/tls')).body;
    const agent = JSON.parse((await page.textContent(byTestId('snippet-agent-tls'))) ?? '');
    assert.deepEqual(
      { port: agent.watches[0].remotes[0].port, tls: agent.watches[0].remotes[0].tls, fingerprint: agent.watches[0].remotes[0].fingerprint, module: agent.watches[0].remotes[0].module },
      { port: server.rsyncTlsPort, tls: true, fingerprint: current.certificate.fingerprint, module: 'vault' },
    );
    const ssl = (await page.textContent(byTestId('snippet-rsync-ssl'))) ?? '';
    assert.match(ssl, new RegExp(`RSYNC_SSL_CA_CERT=/etc/rsynchub-ca.pem RSYNC_SSL_PORT=${server.rsyncTlsPort} rsync-ssl -artuz `));
    assert.match(ssl, /edge@\S+::vault/);
    // TLS first: the encrypted snippets come before the plaintext push in the panel.
    const order = await page.$$eval(`${byTestId('connect-panel')} [data-testid^="snippet-"]`, (els) => els.map((e) => e.getAttribute('data-testid')));
    assert.ok(order.indexOf('snippet-rsync-ssl') < order.indexOf('snippet-rsync'), order.join(','));
    assert.ok(order.indexOf('snippet-agent-tls') < order.indexOf('snippet-agent'), order.join(','));
    await screenshot(page, 'tls-connect-panel');
  });
});
