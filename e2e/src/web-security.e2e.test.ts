/**
 * Issue 14 items 4 and 15 in a real browser (Chromium): the console works under the Content-Security-Policy with no
 * violation on any page, and an account with a temporary password is kept on the change-password page until it is
 * changed (the server answers 403 password_change_required to everything else).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { DESKTOP, launchChromium, screenshot, watchPage } from './support/browser';
import { RunningServer, startServer } from './support/server';

let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

const url = (p: string) => server.baseUrl + p;
const byTestId = (id: string) => `[data-testid="${id}"]`;

/** Records every CSP violation the page reports (the browser fires securitypolicyviolation for each). */
async function watchCsp(page: Page): Promise<() => Promise<string[]>> {
  const fromConsole: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) fromConsole.push(m.text());
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return async () => [...fromConsole, ...(await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []))];
}

async function login(page: Page, username: string, password: string): Promise<void> {
  await page.goto(url('/login'));
  await page.fill(byTestId('login-username'), username);
  await page.fill(byTestId('login-password'), password);
  await page.click(byTestId('login-submit'));
}

describe('console under the Content-Security-Policy', () => {
  test('every page renders styled and without a single CSP violation', async () => {
    const ctx = await browser.newContext({ viewport: DESKTOP });
    const page = await ctx.newPage();
    const log = watchPage(page);
    const violations = await watchCsp(page);
    try {
      const first = await page.goto(url('/login'));
      assert.match(String(first?.headers()['content-security-policy']), /script-src 'self'/);
      await login(page, 'admin', server.adminPassword);
      await page.waitForSelector(byTestId('daemon-card'));
      const pages: [string, string][] = [
        ['/modules', 'module-create'],
        ['/modules/new', 'module-form'],
        ['/users', 'rsync-users-table'],
        ['/daemon', 'daemon-settings-form'],
        ['/transfers', 'transfers-page'],
        ['/audit', 'audit-table'],
        ['/admins', 'admins-table'],
        ['/import', 'import-form'],
        ['/account', 'password-form'],
        ['/', 'daemon-card'],
      ];
      for (const [path, testId] of pages) {
        await page.goto(url(path));
        await page.waitForSelector(byTestId(testId), { timeout: 15_000 });
        await page.waitForLoadState('networkidle');
      }
      // The stylesheet applied (it would stay media=print if an inline onload handler were needed and blocked).
      const font = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
      assert.match(font, /Roboto|Liberation/, `body font ${font}`);
      const matToolbar = await page.evaluate(() => {
        const el = document.querySelector('mat-toolbar');
        return el ? getComputedStyle(el).display : 'missing';
      });
      assert.notEqual(matToolbar, 'inline', 'Angular Material styles applied');
      await screenshot(page, 'csp-dashboard');
      // The live stream (WebSocket, connect-src 'self') connects under the policy too.
      await page.waitForFunction(() => !document.body.innerText.match(/live updates (paused|disconnected)/i), null, { timeout: 10_000 }).catch(() => undefined);
      assert.deepEqual(await violations(), [], log());
      // The API description (Swagger UI, same session) works under the same policy.
      await page.goto(url('/api/docs'));
      await page.waitForSelector('.swagger-ui .opblock', { timeout: 20_000 });
      assert.deepEqual(await violations(), [], log());
    } finally {
      await ctx.close();
    }
  });
});

describe('temporary passwords in the console', () => {
  test('an account an admin made is kept on the account page until it chooses its own password', async () => {
    const temporary = `tmp-${randomBytes(9).toString('hex')}`;
    const made = await server.admin.post('/api/v1/admins', { username: 'newcomer', password: temporary, role: 'admin' });
    assert.equal(made.status, 201, made.text);
    const ctx = await browser.newContext({ viewport: DESKTOP });
    const page = await ctx.newPage();
    const log = watchPage(page);
    const violations = await watchCsp(page);
    try {
      await login(page, 'newcomer', temporary);
      await page.waitForURL(/\/account$/);
      await page.waitForSelector(byTestId('first-run-prompt'));
      for (const path of ['/modules', '/admins', '/']) {
        await page.goto(url(path));
        await page.waitForURL(/\/account$/);
      }
      // What the server says to a page that tries anyway.
      const status = await page.evaluate(async () => {
        const r = await fetch('/api/v1/modules');
        return { status: r.status, body: await r.json() };
      });
      assert.equal(status.status, 403);
      assert.equal(status.body.error, 'password_change_required');

      // A weak choice is refused with zxcvbn's reason, shown on the form.
      await page.fill(byTestId('current-password'), temporary);
      await page.fill(byTestId('new-password'), 'password1234');
      await page.fill(byTestId('repeat-password'), 'password1234');
      await page.click(byTestId('password-submit'));
      await page.waitForSelector('text=/too weak/');
      await screenshot(page, 'password-too-weak');

      const chosen = `own-${randomBytes(9).toString('hex')}`;
      await page.fill(byTestId('new-password'), chosen);
      await page.fill(byTestId('repeat-password'), chosen);
      await page.click(byTestId('password-submit'));
      await page.waitForSelector(byTestId('daemon-card'));
      await page.goto(url('/modules'));
      await page.waitForSelector(byTestId('module-create'));
      assert.deepEqual(await violations(), [], log());
    } finally {
      await ctx.close();
    }
  });
});
