/**
 * Every page recovers by itself after the server goes away and comes back (issue 9 §1), in real Chromium against
 * the real server and daemon: while the live stream is down the daemon page says the state is unknown (no stale
 * "running" with an old pid); after a restart it shows the new daemon without a browser reload; pages opened while
 * the server was away (rsync users, modules, module detail) lose their error and show data once it answers again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { DESKTOP, launchChromium, screenshot, watchPage } from './support/browser';
import { RunningServer, startServer, waitFor } from './support/server';

let server: RunningServer;
let browser: Browser;
let page: Page;
let pageLog: () => string = () => '';

const byTestId = (id: string) => `[data-testid="${id}"]`;
const text = async (selector: string) => (await page.innerText(selector)).trim();
const nav = (label: string) => page.click(`.rh-container ${byTestId(`nav-${label}`)}`);

before(async () => {
  server = await startServer();
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'keeper', password: crypto.randomBytes(12).toString('hex') })).status, 201);
  const mod = await server.admin.post('/api/v1/modules', { name: 'kept', path: path.join(server.storageRoot, 'kept'), users: [{ name: 'keeper', access: 'rw' }] });
  assert.equal(mod.status, 201, mod.text);
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: DESKTOP, timezoneId: 'UTC', locale: 'en-US' })).newPage();
  page.setDefaultTimeout(20_000);
  pageLog = watchPage(page);
  await page.goto(server.baseUrl + '/');
  await page.waitForURL(/\/login/);
  await page.fill(byTestId('login-username'), 'admin');
  await page.fill(byTestId('login-password'), server.adminPassword);
  await page.click(byTestId('login-submit'));
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

test('server restart: the daemon page shows unknown while away and the new daemon after, other pages recover, no reload', async () => {
  try {
    // Load every page's chunk while the server is up.
    for (const label of ['Modules', 'Rsync users', 'Daemon']) await nav(label);
    await waitFor('the daemon page to say running', async () => (await text(byTestId('daemon-page-state'))) === 'running', 15_000);
    const oldPid = (await server.admin.get('/api/v1/daemon')).body.pid as number;
    assert.match(await text(byTestId('daemon-page-pid')), new RegExp(`^${oldPid} ·`));
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    const { dataDir, httpPort, rsyncPort } = server;
    await server.stop();
    await waitFor('the daemon state to turn unknown', async () => (await text(byTestId('daemon-page-state'))) === 'unknown', 15_000);
    assert.equal(await text(byTestId('daemon-page-pid')), '—', 'no stale pid while the server is away');
    await page.waitForSelector(byTestId('daemon-page-unknown'));
    await screenshot(page, 'daemon-page-server-away');

    // Pages opened while the server is away show their error...
    await nav('Rsync users');
    await page.waitForSelector(byTestId('error-banner'), { timeout: 10_000 });
    await nav('Modules');
    await page.waitForSelector(byTestId('error-banner'), { timeout: 10_000 });

    server = await startServer({ dataDir, httpPort, rsyncPort });
    const newPid = (await server.admin.get('/api/v1/daemon')).body.pid as number;
    assert.notEqual(newPid, oldPid);
    // ...and lose it, with data, once the server answers again.
    await waitFor('the modules page to re-fetch by itself', async () => (await page.$(byTestId('module-link-kept'))) !== null, 45_000);
    assert.equal(await page.$(byTestId('error-banner')), null, 'the modules error is gone');

    // The daemon page, opened again, shows the new daemon.
    await nav('Daemon');
    await waitFor('the daemon page to show running with the new pid', async () =>
      (await text(byTestId('daemon-page-state'))) === 'running' && (await text(byTestId('daemon-page-pid'))).startsWith(`${newPid} ·`), 20_000);

    // The daemon page stays open across a second restart, and follows it too (reconnect → re-fetch).
    const { dataDir: d2, httpPort: h2, rsyncPort: r2 } = server;
    await server.stop();
    await waitFor('unknown again', async () => (await text(byTestId('daemon-page-state'))) === 'unknown', 15_000);
    server = await startServer({ dataDir: d2, httpPort: h2, rsyncPort: r2 });
    const thirdPid = (await server.admin.get('/api/v1/daemon')).body.pid as number;
    await waitFor('the open daemon page to show the third daemon', async () =>
      (await text(byTestId('daemon-page-state'))) === 'running' && (await text(byTestId('daemon-page-pid'))).startsWith(`${thirdPid} ·`), 45_000);
    assert.equal(await page.$(byTestId('error-banner')), null);
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');
    await screenshot(page, 'daemon-page-server-back');
  } catch (err) {
    (err as Error).message += `\n--- browser log ---\n${pageLog()}`;
    await screenshot(page, 'pages-reconnect-failure').catch(() => undefined);
    throw err;
  }
});
