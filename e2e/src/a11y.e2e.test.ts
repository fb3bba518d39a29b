/**
 * Accessibility of the whole console (issue 13), checked with axe-core in the real Chromium against the real server:
 * every route, logged out and logged in, as an admin and as a read-only auditor, on a desktop (1440×900) and a phone
 * (390×844). Zero serious or critical violations are allowed. Also the landmarks and aids axe cannot judge by itself:
 * one <main>, a skip link that moves focus into it, a visible focus ring on nav items and filled buttons, a live
 * region for the activity list, a text alternative for the throughput chart and a live indicator that says its state
 * in words. Screenshots land in test-artifacts/screenshots/a11y-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { makeTree, passwordFile, rsync } from './support/rsync';
import { readyAuditor, RunningServer, startServer, waitFor } from './support/server';
import { PHONE, launchChromium, screenshot, watchPage, withBrowserLog } from './support/browser';
import { axeViolations, describeFindings } from './support/axe';

const DESKTOP_WIDE = { width: 1440, height: 900 };
const VIEWPORTS = { desktop: DESKTOP_WIDE, phone: PHONE } as const;
const MODULE = 'a11ymod';
const USER = 'a11yuser';
const AUDITOR = 'a11yauditor';

let server: RunningServer;
let browser: Browser;
let sessionId = 0;
let auditorPassword = '';

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  const rsyncPassword = crypto.randomBytes(12).toString('hex');
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: rsyncPassword })).status, 201);
  const made = await server.admin.post('/api/v1/modules', { name: MODULE, path: path.join(server.storageRoot, MODULE), users: [{ name: USER, access: 'rw' }] });
  assert.equal(made.status, 201, made.text);
  const pushed = await rsync(['-rt', `--password-file=${passwordFile(rsyncPassword)}`, `${makeTree(3)}/`, `${USER}@127.0.0.1::${MODULE}`, `--port=${server.rsyncPort}`]);
  assert.equal(pushed.code, 0, pushed.stderr);
  sessionId = await waitFor('the push to be in the history', async () => {
    const res = await server.admin.get(`/api/v1/transfers?module=${MODULE}&status=success`);
    return res.body.items[0]?.id as number | undefined;
  });
  // An auditor who already changed the password an admin gave it (else every page is the account page).
  auditorPassword = (await readyAuditor(server, AUDITOR)).password;
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

/** Routes of the console with what shows that each has loaded its data. */
function routes(role: 'admin' | 'auditor'): { path: string; ready: string }[] {
  const all = [
    { path: '/', ready: '[data-testid="daemon-card"] .rh-kv' },
    { path: '/modules', ready: `[data-testid="module-row-${MODULE}"]` },
    { path: '/modules/new', ready: '[data-testid="module-form"]', adminOnly: true },
    { path: `/modules/${MODULE}`, ready: 'h1' },
    { path: `/modules/${MODULE}/edit`, ready: '[data-testid="module-form"]' },
    { path: '/users', ready: `[data-testid="rsync-user-row-${USER}"]` },
    { path: '/import', ready: '[data-testid="import-form"]', adminOnly: true },
    { path: '/sources', ready: 'h1' },
    { path: '/daemon', ready: 'h1' },
    { path: '/transfers', ready: '[data-testid="transfers-table"]' },
    { path: `/transfers/${sessionId}`, ready: 'h1' },
    { path: '/alerts', ready: 'h1' },
    { path: '/audit', ready: '[data-testid="audit-table"]' },
    { path: '/admins', ready: 'h1', adminOnly: true },
    { path: '/account', ready: 'h1' },
  ];
  return all.filter((r) => role === 'admin' || !r.adminOnly);
}

async function login(page: Page, username: string, password: string): Promise<void> {
  await page.goto(server.baseUrl + '/login');
  await page.fill('[data-testid="login-username"]', username);
  await page.fill('[data-testid="login-password"]', password);
  await page.click('[data-testid="login-submit"]');
  await page.waitForSelector('[data-testid="daemon-card"]');
}

/** Waits until the page shows its data and no spinner, then until Angular has rendered a frame more. */
async function settle(page: Page, ready: string): Promise<void> {
  await page.waitForSelector(ready);
  await page.waitForLoadState('networkidle');
  await waitFor('loading indicators to go', async () => (await page.$$('mat-progress-bar, [aria-busy="true"]')).length === 0);
  await finishAnimations(page);
}

/** Waits for running transitions (a field's error fading in would be measured half-transparent); endless ones aside. */
async function finishAnimations(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const finite = document.getAnimations().filter((a) => a.effect?.getComputedTiming().iterations !== Infinity);
    await Promise.all(finite.map((a) => a.finished.catch(() => undefined)));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
}

for (const [viewportName, viewport] of Object.entries(VIEWPORTS)) {
  describe(`axe-core on every page (${viewportName} ${viewport.width}×${viewport.height})`, () => {
    test('logged out: the login page, also with an error shown', async () => {
      const ctx = await browser.newContext({ viewport });
      const page = await ctx.newPage();
      const log = watchPage(page);
      try {
        await withBrowserLog(log, async () => {
          await page.goto(server.baseUrl + '/login');
          await settle(page, '[data-testid="login-form"]');
          let found = await axeViolations(page);
          assert.equal(found.length, 0, describeFindings('/login', found));
          await page.fill('[data-testid="login-username"]', 'admin');
          await page.fill('[data-testid="login-password"]', 'not-the-password');
          await page.click('[data-testid="login-submit"]');
          await page.waitForSelector('[data-testid="login-error"]');
          await finishAnimations(page);
          found = await axeViolations(page);
          assert.equal(found.length, 0, describeFindings('/login with an error', found));
        });
      } finally {
        await ctx.close();
      }
    });

    for (const role of ['admin', 'auditor'] as const) {
      test(`${role}: every route has zero serious or critical violations`, async () => {
        const ctx = await browser.newContext({ viewport });
        const page = await ctx.newPage();
        page.setDefaultTimeout(30_000);
        const log = watchPage(page);
        try {
          await withBrowserLog(log, async () => {
            await login(page, role === 'admin' ? 'admin' : AUDITOR, role === 'admin' ? server.adminPassword : auditorPassword);
            const problems: string[] = [];
            for (const r of routes(role)) {
              await page.goto(server.baseUrl + r.path);
              await settle(page, r.ready);
              const found = await axeViolations(page);
              if (found.length) problems.push(describeFindings(`${role} ${viewportName} ${r.path}`, found));
              await screenshot(page, `a11y-${viewportName}-${role}-${r.path === '/' ? 'dashboard' : r.path.slice(1).replace(/\//g, '-')}`);
            }
            // The navigation menu of the phone layout and the account menu, open.
            if (viewportName === 'phone') {
              await page.goto(server.baseUrl + '/');
              await settle(page, '[data-testid="daemon-card"] .rh-kv');
              await page.click('[data-testid="nav-menu-button"]');
              await page.waitForSelector('.mat-mdc-menu-panel');
              // The menu opens with an animation: measured mid-way, its text would be half-transparent.
              await finishAnimations(page);
              const found = await axeViolations(page);
              if (found.length) problems.push(describeFindings(`${role} ${viewportName} navigation menu`, found));
              await page.keyboard.press('Escape');
            }
            assert.equal(problems.length, 0, `axe-core found:\n${problems.join('\n')}`);
          });
        } finally {
          await ctx.close();
        }
      });
    }
  });
}

describe('landmarks and aids', () => {
  let ctx: Awaited<ReturnType<Browser['newContext']>>;
  let page: Page;
  let log: () => string;
  before(async () => {
    ctx = await browser.newContext({ viewport: DESKTOP_WIDE });
    page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    log = watchPage(page);
    await login(page, 'admin', server.adminPassword);
  });
  after(() => ctx?.close());

  test('every page has exactly one <main>; the skip link is the first Tab stop and moves focus into it', () =>
    withBrowserLog(log, async () => {
      for (const r of routes('admin')) {
        await page.goto(server.baseUrl + r.path);
        await page.waitForSelector(r.ready);
        assert.equal(await page.locator('main').count(), 1, `${r.path}: one <main>`);
      }
      await page.goto(server.baseUrl + '/modules');
      await page.waitForSelector(`[data-testid="module-row-${MODULE}"]`);
      await page.keyboard.press('Tab');
      const first = await page.evaluate(() => ({ text: document.activeElement?.textContent?.trim(), visible: (document.activeElement as HTMLElement | null)?.getBoundingClientRect().height ?? 0 }));
      assert.match(first.text ?? '', /skip to (the )?main content/i);
      assert.ok(first.visible > 0, 'the skip link shows when focused');
      await screenshot(page, 'a11y-skip-link');
      await page.keyboard.press('Enter');
      const inMain = await page.evaluate(() => !!document.activeElement?.closest('main'));
      assert.ok(inMain, 'after the skip link, focus is in <main>');
      await page.keyboard.press('Tab');
      const next = await page.evaluate(() => ({ inMain: !!document.activeElement?.closest('main'), text: document.activeElement?.textContent?.trim() }));
      assert.ok(next.inMain, `the next Tab stays in the page content, got "${next.text}"`);
    }));

  test('nav items and filled buttons show a visible focus ring', () =>
    withBrowserLog(log, async () => {
      await page.goto(server.baseUrl + '/transfers');
      await page.waitForSelector('[data-testid="transfers-table"]');
      const ring = async (selector: string) => {
        // Keyboard focus (focus-visible) as a keyboard user gets it: Tab until the element has focus.
        for (let i = 0; i < 60; i++) {
          await page.keyboard.press('Tab');
          if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) break;
        }
        return page.evaluate((s) => {
          const el = document.activeElement as HTMLElement;
          if (!el?.matches(s)) return null;
          const st = getComputedStyle(el);
          return { outlineStyle: st.outlineStyle, outlineWidth: parseFloat(st.outlineWidth), boxShadow: st.boxShadow };
        }, selector);
      };
      const nav = await ring('[data-testid="nav-Transfers"]');
      assert.ok(nav, 'the nav item can be focused with Tab');
      assert.ok(nav.outlineStyle !== 'none' && nav.outlineWidth >= 2, `nav item focus ring: ${JSON.stringify(nav)}`);
      await screenshot(page, 'a11y-focus-nav');
      const button = await ring('[data-testid="transfers-apply"]');
      assert.ok(button, 'the filled Apply button can be focused with Tab');
      assert.ok(button.outlineStyle !== 'none' && button.outlineWidth >= 2, `filled button focus ring: ${JSON.stringify(button)}`);
      await screenshot(page, 'a11y-focus-button');
    }));

  test('the live activity list is an aria-live region, the chart has a text alternative, the live indicator has text', () =>
    withBrowserLog(log, async () => {
      for (const [name, viewport] of Object.entries(VIEWPORTS)) {
        await page.setViewportSize(viewport);
        await page.goto(server.baseUrl + '/');
        await page.waitForSelector('[data-testid="daemon-card"] .rh-kv');
        const live = await page.getAttribute('[data-testid="live-feed-list"]', 'aria-live');
        assert.ok(live === 'polite' || live === 'assertive', `${name}: live activity list aria-live=${live}`);
        await waitFor(`${name}: the chart's text alternative to list ${MODULE}`, async () => /a11ymod/.test(await page.innerText('[data-testid="throughput-table"]').catch(() => '')));
        const table = await page.$eval('[data-testid="throughput-table"]', (t) => ({ tag: t.tagName, caption: t.querySelector('caption')?.textContent ?? '' }));
        assert.equal(table.tag, 'TABLE');
        assert.match(table.caption, /throughput/i);
        // The page was just loaded: its stream may still be connecting. Wait for the indicator to say so in text.
        let indicator = '';
        await waitFor(`${name}: the indicator to say "Live" in text`, async () => {
          indicator = (await page.$eval('[data-testid="live-state"]', (el) => (el as HTMLElement).innerText)).replace(/\s+/g, ' ').trim();
          return /(^|: )Live$/.test(indicator);
        }).catch((err: Error) => assert.fail(`${err.message}; got "${indicator}"`));
      }
      await page.setViewportSize(DESKTOP_WIDE);
    }));
});
