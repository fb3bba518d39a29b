/**
 * The README's five-minute tour, keyboard only (issue 13): the browser is driven with nothing but
 * `keyboard.press` and `keyboard.type` (plus typing the start address), against the real server, daemon and rsync
 * client. Each control is reached with Tab (at most a page's worth of presses) — reading the DOM only tells the test
 * where focus is, it never clicks. Screenshots: test-artifacts/screenshots/keyboard-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { makeTree, passwordFile, rsync } from './support/rsync';
import { RunningServer, startServer, waitFor } from './support/server';
import { launchChromium, screenshot, watchPage, withBrowserLog } from './support/browser';
import { startWebhookReceiver } from './support/alert-receivers';

let server: RunningServer;
let browser: Browser;
let page: Page;
let log: () => string;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
let generatedPassword = '';

before(async () => {
  hook = await startWebhookReceiver();
  server = await startServer();
  browser = await launchChromium();
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await ctx.newPage();
  page.setDefaultTimeout(30_000);
  log = watchPage(page);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
  await hook?.close();
});

const byTestId = (id: string) => `[data-testid="${id}"]`;

const focused = (selector: string) => page.evaluate((s) => !!document.activeElement?.matches(s), selector);

/**
 * Moves focus with the keyboard until the focused element matches `selector`: Tab forward first, then (the control
 * is before the focus, e.g. a nav item while focus is in the page) Shift+Tab back. `key` replaces both (menus).
 */
async function tabTo(selector: string, max = 150, key?: string): Promise<void> {
  for (const k of key ? [key] : ['Tab', 'Shift+Tab']) {
    for (let i = 0; i < max; i++) {
      if (await focused(selector)) return;
      await page.keyboard.press(k);
    }
  }
  const at = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 160));
  assert.fail(`${selector} was not reached with the keyboard; focus is on ${at}`);
}

/** Reaches a control with Tab and activates it with Enter. */
async function activate(selector: string): Promise<void> {
  await tabTo(selector);
  await page.keyboard.press('Enter');
}

/** Reaches a field with Tab and types into it (replacing what is there). */
async function typeInto(selector: string, text: string): Promise<void> {
  await tabTo(selector);
  await page.keyboard.press('Control+A');
  await page.keyboard.type(text);
}

/** A page of the side navigation. */
async function nav(label: string): Promise<void> {
  await activate(byTestId(`nav-${label}`));
}

describe('the README tour with the keyboard only', () => {
  test('log in', () =>
    withBrowserLog(log, async () => {
      await page.goto(server.baseUrl + '/');
      await page.waitForSelector(byTestId('login-form'));
      await typeInto(byTestId('login-username'), 'admin');
      await typeInto(byTestId('login-password'), server.adminPassword);
      await page.keyboard.press('Enter');
      await page.waitForSelector(byTestId('daemon-card'));
    }));

  test('Rsync users: create admin1 with a generated password, shown once', () =>
    withBrowserLog(log, async () => {
      await nav('Rsync users');
      await page.waitForSelector(byTestId('rsync-user-form'));
      await typeInto(byTestId('rsync-user-name'), 'admin1');
      await activate(byTestId('rsync-user-create'));
      generatedPassword = (await page.innerText(byTestId('generated-password'))).trim();
      assert.ok(generatedPassword.length >= 20, `a generated password is shown: "${generatedPassword}"`);
      await screenshot(page, 'keyboard-rsync-user');
      await activate(byTestId('secret-dismiss'));
      await page.waitForSelector(byTestId('generated-password'), { state: 'detached' });
    }));

  test('Modules → New module: myhub1 with the suggested path and admin1 read-write', () =>
    withBrowserLog(log, async () => {
      await nav('Modules');
      await activate(byTestId('module-create'));
      await page.waitForSelector(byTestId('module-form'));
      await typeInto(byTestId('module-name'), 'myhub1');
      await waitFor('the suggested path', async () => (await page.inputValue(byTestId('module-path'))).endsWith('/myhub1'));
      // The users list loads on its own request: wait for the grant row to be filled rather than read it once.
      await waitFor('the grant row to offer admin1', async () => (await page.inputValue(byTestId('grant-user-0')).catch(() => '')) === 'admin1');
      assert.equal(await page.inputValue(byTestId('grant-access-0')), 'rw');
      await screenshot(page, 'keyboard-module-form');
      await activate(byTestId('module-save'));
      await page.waitForURL(/\/modules\/myhub1$/);
      await page.waitForSelector(byTestId('connect-panel'));
      const connect = await page.innerText(byTestId('connect-panel'));
      assert.match(connect, /admin1@[^:]+::myhub1/);
      await screenshot(page, 'keyboard-module-connect');
    }));

  test('push with the rsync client; the session arrives live on the Dashboard', () =>
    withBrowserLog(log, async () => {
      await nav('Dashboard');
      await page.waitForSelector(byTestId('daemon-card'));
      const res = await rsync(['-artuz', `--password-file=${passwordFile(generatedPassword)}`, `${makeTree(3)}/`, 'admin1@127.0.0.1::myhub1', `--port=${server.rsyncPort}`]);
      assert.equal(res.code, 0, res.stderr);
      await page.waitForSelector('[data-module="myhub1"][data-status="success"]');
      await screenshot(page, 'keyboard-dashboard');
    }));

  test('Transfers: filter by module prefix, open the session', () =>
    withBrowserLog(log, async () => {
      await nav('Transfers');
      await page.waitForSelector(byTestId('transfers-table'));
      await typeInto(byTestId('filter-module'), 'myh');
      await page.keyboard.press('Enter');
      await page.waitForURL((u) => u.searchParams.get('module') === 'myh');
      await tabTo('[data-testid^="transfer-row-"]');
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/transfers\/\d+$/);
      await waitFor('the session page to name the module', async () => /myhub1/.test(await page.innerText('main')));
      await screenshot(page, 'keyboard-transfer');
    }));

  test('Audit log: the module creation is there', () =>
    withBrowserLog(log, async () => {
      await nav('Audit log');
      await page.waitForSelector(byTestId('audit-table'));
      await typeInto(byTestId('filter-target'), 'myhub');
      await page.keyboard.press('Enter');
      await page.waitForURL((u) => u.searchParams.get('target') === 'myhub');
      await waitFor('module.create myhub1 in the audit log', async () => /module\.create/.test(await page.innerText(byTestId('audit-table'))));
    }));

  test('Alerts: add a webhook channel and press Send test', () =>
    withBrowserLog(log, async () => {
      await nav('Alerts');
      await page.waitForSelector(byTestId('channel-form'));
      await typeInto(byTestId('channel-name'), 'kbhook');
      await typeInto(byTestId('channel-url'), `${hook.url}/keyboard`);
      await activate(byTestId('channel-save'));
      await page.waitForSelector(byTestId('channel-kbhook'));
      await activate(byTestId('channel-test-kbhook'));
      const result = await page.waitForSelector(byTestId('channel-test-result-kbhook'));
      assert.match(await result.innerText(), /accepted/);
      await waitFor('the webhook to arrive', () => hook.received.some((r) => r.json?.event === 'test'));
      await screenshot(page, 'keyboard-alerts');
    }));

  test('log out from the account menu', () =>
    withBrowserLog(log, async () => {
      await activate(byTestId('account-menu'));
      await page.waitForSelector(byTestId('logout'));
      await tabTo(byTestId('logout'), 5, 'ArrowDown');
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/login/);
    }));
});
