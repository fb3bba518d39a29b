/**
 * The Alerts page in real Chromium against the real server and daemon: a channel added and tested through the form
 * reaches a real HTTP endpoint, a rule threshold is changed in the console, and an alert (the daemon stopped through
 * the API) appears live without a reload, is acknowledged, and moves to the history as resolved when the daemon is
 * started again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startWebhookReceiver } from './support/alert-receivers';
import { DESKTOP, launchChromium, screenshot, watchPage, withBrowserLog } from './support/browser';
import { RunningServer, startServer, waitFor } from './support/server';

let server: RunningServer;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
let browser: Browser;
let page: Page;
let pageLog: () => string = () => '';

const byTestId = (id: string) => `[data-testid="${id}"]`;

/** Wraps a step so a failure prints what the browser said. */
const step = <T>(fn: () => Promise<T>): Promise<T> => withBrowserLog(pageLog, fn);

before(async () => {
  hook = await startWebhookReceiver();
  server = await startServer({ env: { RSYNCHUB_ALERT_INTERVAL_MS: '300' } });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  pageLog = watchPage(page);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
  await hook?.close();
});

describe('alerts page', () => {
  test('opens from the navigation after login and shows nothing firing, the rules and the storage roots', () =>
    step(async () => {
      await page.goto(server.baseUrl + '/login');
      await page.fill(byTestId('login-username'), 'admin');
      await page.fill(byTestId('login-password'), server.adminPassword);
      await page.click(byTestId('login-submit'));
      await page.click(byTestId('nav-Alerts'));
      await page.waitForSelector(byTestId('alerts-none-firing'));
      for (const id of ['daemon', 'transfer-failed', 'auth-burst', 'storage-low']) await page.waitForSelector(byTestId(`rule-${id}`));
      assert.match(await page.innerText(byTestId('alerts-storage')), new RegExp(server.storageRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }));

  test('adds a webhook channel through the form; a bad URL is refused inline; Send test reaches the endpoint', () =>
    step(async () => {
      await page.fill(byTestId('channel-name'), 'browser hook');
      await page.fill(byTestId('channel-url'), 'ftp://127.0.0.1/nope');
      await page.click(byTestId('channel-save'));
      assert.match(await page.innerText(`${byTestId('channel-form')} ${byTestId('error-banner')}`), /Webhook url/);
      await page.fill(byTestId('channel-url'), `${hook.url}/browser`);
      await page.click(byTestId('channel-save'));
      await page.waitForSelector(byTestId('channel-browser hook'));
      await page.click(byTestId('channel-test-browser hook'));
      const result = await page.waitForSelector(byTestId('channel-test-result-browser hook'));
      assert.match(await result.innerText(), /accepted/);
      assert.equal(hook.received.filter((r) => r.json?.event === 'test').length, 1);
    }));

  test('a rule threshold is changed in the console', () =>
    step(async () => {
      await page.fill(byTestId('rule-daemon-downForSeconds'), '0');
      await page.click(byTestId('rule-save-daemon'));
      await waitFor('the saved setting', async () => {
        const rules = (await server.admin.get('/api/v1/alerts/rules')).body;
        return rules.find((r: any) => r.id === 'daemon').settings.downForSeconds === 0;
      });
    }));

  test('an alert appears live, is acknowledged, and resolves into the history without a reload', () =>
    step(async () => {
      await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));
      assert.equal((await server.admin.post('/api/v1/daemon/stop')).status, 200);
      const row = await page.waitForSelector(byTestId('firing-daemon-down'));
      assert.match(await row.innerText(), /rsync daemon is stopped/i);
      const id = await row.getAttribute('data-alert-id');
      await screenshot(page, 'alerts-firing');
      await page.click(byTestId(`ack-${id}`));
      await waitFor('the acknowledgement to show', async () => /admin,/.test(await page.innerText(byTestId('firing-daemon-down'))));
      await waitFor('the webhook to get the alert', () => hook.received.some((r) => r.json?.event === 'firing' && r.json.alert.key === 'daemon-down'));

      assert.equal((await server.admin.post('/api/v1/daemon/start')).status, 200);
      await page.waitForSelector(byTestId('alerts-none-firing'));
      await page.waitForSelector(`${byTestId(`history-${id}`)}[data-state="resolved"]`);
      assert.match(await page.innerText(byTestId(`history-${id}`)), /admin/);
      assert.equal(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload), true, 'the page was not reloaded');
      await screenshot(page, 'alerts-resolved');
    }));
});
