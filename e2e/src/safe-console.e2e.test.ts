/**
 * Issue 14 in the console, in real Chromium against the real server and daemon: the New-module form starts with a
 * user grant and offers anonymous access only as an explicit choice; anonymous read-write is red in the list and on
 * the module page; stopping/restarting the daemon, deleting a module's data (type its name) and deleting an admin
 * all ask first.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { RunningServer, startServer, waitFor } from './support/server';
import { DESKTOP, launchChromium, screenshot, watchPage, withBrowserLog } from './support/browser';

let server: RunningServer;
let browser: Browser;
let page: Page;
let pageLog: () => string = () => '';
const USER = 'consoleuser';

const url = (p: string) => server.baseUrl + p;
const byTestId = (id: string) => `[data-testid="${id}"]`;

before(async () => {
  server = await startServer();
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: crypto.randomBytes(12).toString('hex') })).status, 201);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  pageLog = watchPage(page);
  await page.goto(url('/login'));
  await page.fill(byTestId('login-username'), 'admin');
  await page.fill(byTestId('login-password'), server.adminPassword);
  await page.click(byTestId('login-submit'));
  await page.waitForSelector(byTestId('daemon-card'));
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

/** Wraps a step so a failure prints what the browser said. */
const step = <T>(fn: () => Promise<T>): Promise<T> => withBrowserLog(pageLog, fn);

/** The computed text colour of an element as [r, g, b]. */
async function colourOf(selector: string): Promise<number[]> {
  const rgb = await page.$eval(selector, (el) => getComputedStyle(el).color);
  return rgb.match(/\d+/g)!.slice(0, 3).map(Number);
}

const isRed = ([r, g, b]: number[]) => r! > 120 && r! > 2 * g! && r! > 2 * b!;

describe('safe by default, in the console', () => {
  test('the New-module form pre-selects a user; anonymous read-write is an explicit choice, red in the list and on the module page', () =>
    step(async () => {
      await page.goto(url('/modules/new'));
      await page.waitForSelector(byTestId('module-form'));
      await waitFor('the users to load', async () => (await page.inputValue(byTestId('grant-user-0')).catch(() => '')) === USER);
      assert.equal(await page.$(byTestId('module-anonymous')), null, 'no anonymous choice while a user is granted');

      // A password-protected module, as pre-filled.
      await page.fill(byTestId('module-name'), 'guarded');
      // The suggested path needs the storage roots, which come on their own request: save once it is there.
      await waitFor('the suggested path', async () => (await page.inputValue(byTestId('module-path'))) === path.join(server.storageRoot, 'guarded'));
      await page.click(byTestId('module-save'));
      await page.waitForURL(/\/modules\/guarded$/);
      assert.equal(await page.$(byTestId('module-detail-anon')), null);

      // An anonymous read-write module needs the grant removed and the anonymous choice made.
      await page.goto(url('/modules/new'));
      await waitFor('the users to load', async () => (await page.inputValue(byTestId('grant-user-0')).catch(() => '')) === USER);
      await page.fill(byTestId('module-name'), 'publicdrop');
      await waitFor('the suggested path', async () => (await page.inputValue(byTestId('module-path'))) === path.join(server.storageRoot, 'publicdrop'));
      await page.click('[aria-label="Remove user 1"]');
      await page.waitForSelector(byTestId('module-no-users'));
      assert.equal(await page.inputValue(byTestId('module-anonymous')), 'none', 'nobody without a password unless chosen');
      await page.selectOption(byTestId('module-anonymous'), 'read-write');
      await page.waitForSelector(byTestId('module-anonymous-rw-warning'));
      await screenshot(page, 'module-form-anonymous-rw');
      await page.click(byTestId('module-save'));
      await page.waitForURL(/\/modules\/publicdrop$/);
      const danger = await page.waitForSelector(byTestId('module-danger'));
      assert.match(await danger.innerText(), /anonymous read-write: anyone/);
      assert.ok(isRed(await colourOf(byTestId('module-danger'))), 'the warning is red');
      assert.equal(await page.getAttribute(byTestId('module-detail-anon'), 'data-danger'), 'true');
      assert.ok(isRed(await colourOf(byTestId('module-detail-anon'))));
      await screenshot(page, 'module-detail-anonymous-rw');

      await page.goto(url('/modules'));
      await page.waitForSelector(byTestId('module-anon-publicdrop'));
      assert.equal(await page.innerText(byTestId('module-anon-publicdrop')), 'anyone: read-write');
      assert.ok(isRed(await colourOf(byTestId('module-anon-publicdrop'))), 'red in the list');
      assert.equal(await page.$(byTestId('module-anon-guarded')), null);
      await screenshot(page, 'modules-anonymous-rw');
    }));

  test('deleting a module with its data asks for the module name to be typed', () =>
    step(async () => {
      const dir = path.join(server.storageRoot, 'publicdrop');
      fs.writeFileSync(path.join(dir, 'data.txt'), 'data');
      await page.goto(url('/modules'));
      await page.click(byTestId('module-delete-publicdrop'));
      await page.click(`${byTestId('confirm-option')} input`);
      await page.waitForSelector(byTestId('confirm-type'));
      assert.equal(await page.isDisabled(byTestId('confirm-ok')), true, 'disabled until the name is typed');
      await page.fill(byTestId('confirm-type'), 'publicdro');
      assert.equal(await page.isDisabled(byTestId('confirm-ok')), true);
      await page.fill(byTestId('confirm-type'), 'publicdrop');
      await waitFor('the button to be enabled', async () => !(await page.isDisabled(byTestId('confirm-ok'))));
      await screenshot(page, 'module-delete-typed');
      // Unticking the option (keep the data) needs no typing.
      await page.click(`${byTestId('confirm-option')} input`);
      // The click returns before Angular re-renders: wait for the field to go rather than look once.
      await page.waitForSelector(byTestId('confirm-type'), { state: 'detached' });
      await page.click(`${byTestId('confirm-option')} input`);
      await page.fill(byTestId('confirm-type'), 'publicdrop');
      await page.click(byTestId('confirm-ok'));
      await page.waitForSelector(byTestId('module-notice'));
      assert.match(await page.innerText(byTestId('module-notice')), /deleted with its data/);
      assert.equal(fs.existsSync(dir), false);
    }));

  test('stopping and restarting the daemon ask first; cancelling changes nothing', () =>
    step(async () => {
      const pid = (await server.admin.get('/api/v1/daemon')).body.pid;
      await page.goto(url('/daemon'));
      await page.waitForSelector(byTestId('daemon-stop'));
      await page.click(byTestId('daemon-stop'));
      await page.waitForSelector(byTestId('confirm-message'));
      assert.match(await page.innerText(byTestId('confirm-message')), /transfers are cut off/);
      await screenshot(page, 'daemon-stop-confirm');
      await page.click(byTestId('confirm-cancel'));
      await page.waitForSelector(byTestId('confirm-message'), { state: 'detached' });
      const still = (await server.admin.get('/api/v1/daemon')).body;
      assert.equal(still.state, 'running');
      assert.equal(still.pid, pid);

      await page.click(byTestId('daemon-restart'));
      await page.waitForSelector(byTestId('confirm-message'));
      await page.click(byTestId('confirm-cancel'));
      await page.waitForSelector(byTestId('confirm-message'), { state: 'detached' });
      assert.equal((await server.admin.get('/api/v1/daemon')).body.pid, pid);

      await page.click(byTestId('daemon-restart'));
      await page.click(byTestId('confirm-ok'));
      await waitFor('a new daemon process', async () => {
        const st = (await server.admin.get('/api/v1/daemon')).body;
        return st.state === 'running' && st.pid !== pid;
      }, 20_000);
    }));

  test('deleting an admin asks first', () =>
    step(async () => {
      const other = await server.admin.post('/api/v1/admins', { username: 'colleague', password: `Zq8!${crypto.randomBytes(12).toString('hex')}`, role: 'auditor' });
      assert.equal(other.status, 201, other.text);
      await page.goto(url('/admins'));
      await page.click(byTestId('admin-delete-colleague'));
      await page.waitForSelector(byTestId('confirm-message'));
      await page.click(byTestId('confirm-cancel'));
      await page.waitForSelector(byTestId('confirm-message'), { state: 'detached' });
      assert.ok((await server.admin.get('/api/v1/admins')).body.some((a: { username: string }) => a.username === 'colleague'));
      await page.click(byTestId('admin-delete-colleague'));
      await page.click(byTestId('confirm-ok'));
      await page.waitForSelector(byTestId('admin-row-colleague'), { state: 'detached' });
    }));
});
