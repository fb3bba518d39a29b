/**
 * Lists that keep state (issue 13): the transfers and audit filters live in the URL (reload, back/forward and a
 * shared link show the same list), module and user filters match by prefix in the API, the transfer list shows new
 * sessions live, and on a phone the filters fold behind a button while the status column stays on screen.
 * Real server, real daemon, real rsync pushes, real Chromium. Screenshots: test-artifacts/screenshots/filters-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { makeTree, passwordFile, rsync } from './support/rsync';
import { RunningServer, startServer, waitFor } from './support/server';
import { PHONE, launchChromium, screenshot, watchPage, withBrowserLog } from './support/browser';

const USER = 'alice';
const MODULES = ['web', 'webshop', 'other'];
let server: RunningServer;
let browser: Browser;
let pwFile = '';

async function push(module: string): Promise<number> {
  const before = await ids(`module=${module}`);
  const res = await rsync(['-rt', `--password-file=${pwFile}`, `${makeTree(2)}/`, `${USER}@127.0.0.1::${module}`, `--port=${server.rsyncPort}`]);
  assert.equal(res.code, 0, res.stderr);
  return waitFor(`the push into ${module} to be in the history`, async () => {
    const now = await ids(`module=${module}&status=success`);
    return now.find((id) => !before.includes(id));
  });
}

async function ids(query: string): Promise<number[]> {
  const res = await server.admin.get(`/api/v1/transfers?${query}`);
  assert.equal(res.status, 200, res.text);
  return (res.body.items as { id: number }[]).map((s) => s.id);
}

async function modulesOf(query: string): Promise<string[]> {
  const res = await server.admin.get(`/api/v1/transfers?${query}`);
  assert.equal(res.status, 200, res.text);
  return [...new Set((res.body.items as { module: string }[]).map((s) => s.module))].sort();
}

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  const password = crypto.randomBytes(12).toString('hex');
  pwFile = passwordFile(password);
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password })).status, 201);
  for (const m of MODULES) {
    const res = await server.admin.post('/api/v1/modules', { name: m, path: path.join(server.storageRoot, m), users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
  }
  for (const m of MODULES) await push(m);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

describe('prefix filters in the API', () => {
  test('transfers: module and user match by prefix, case-insensitive, with LIKE wildcards taken literally', async () => {
    assert.deepEqual(await modulesOf('module=web'), ['web', 'webshop']);
    assert.deepEqual(await modulesOf('module=WEBs'), ['webshop']);
    assert.deepEqual(await modulesOf('module=webshop'), ['webshop']);
    assert.deepEqual(await modulesOf('module=eb'), [], 'a prefix, not a substring');
    assert.deepEqual(await modulesOf('module=%25'), [], '% is a character, not a wildcard');
    assert.deepEqual(await modulesOf('module=w_b'), [], '_ is a character, not a wildcard');
    assert.deepEqual(await modulesOf('user=ali'), ['other', 'web', 'webshop']);
    assert.deepEqual(await modulesOf('user=lice'), []);
    assert.deepEqual(await modulesOf('user=ali&module=oth'), ['other']);
  });

  test('audit log: actor and target match by prefix', async () => {
    const audit = async (q: string) => (await server.admin.get(`/api/v1/audit?limit=500&${q}`)).body.items as { actor: string; action: string; target: string | null }[];
    const created = (await audit('action=module.create&target=web')).map((e) => e.target).sort();
    assert.deepEqual(created, ['web', 'webshop']);
    assert.deepEqual((await audit('action=module.create&target=%25')).length, 0);
    const byAdm = await audit('actor=adm');
    assert.ok(byAdm.length > 0 && byAdm.every((e) => e.actor.toLowerCase().startsWith('adm')), JSON.stringify(byAdm.slice(0, 3)));
    assert.equal((await audit('actor=_dmin')).length, 0);
  });
});

describe('transfers and audit filters in the browser', () => {
  let ctx: BrowserContext;
  let page: Page;
  let log: () => string;
  before(async () => {
    ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    log = watchPage(page);
    await page.goto(server.baseUrl + '/login');
    await page.fill('[data-testid="login-username"]', 'admin');
    await page.fill('[data-testid="login-password"]', server.adminPassword);
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="daemon-card"]');
  });
  after(() => ctx?.close());

  /** The modules of the rows shown, once the table shows exactly the sessions the API gives for `query`. */
  async function rowsMatch(query: string): Promise<string[]> {
    const want = await ids(query);
    return waitFor(`the table to show the sessions of ?${query}`, async () => {
      const shown = await page.$$eval('[data-testid^="transfer-row-"]', (rows) => rows.map((r) => Number(r.getAttribute('data-testid')!.replace('transfer-row-', ''))));
      if (JSON.stringify(shown) !== JSON.stringify(want)) return null;
      return page.$$eval('[data-testid^="transfer-row-"] td:nth-child(3)', (tds) => [...new Set(tds.map((t) => t.textContent!.trim()))].sort());
    });
  }
  const formModule = () => page.inputValue('[data-testid="filter-module"]');

  test('a link with filters opens the filtered list; Apply puts the filters in the URL; back/forward and reload restore them', () =>
    withBrowserLog(log, async () => {
      // A shared link.
      await page.goto(`${server.baseUrl}/transfers?module=web&status=success`);
      assert.deepEqual(await rowsMatch('module=web&status=success'), ['web', 'webshop']);
      assert.equal(await formModule(), 'web');
      assert.equal(await page.inputValue('[data-testid="filter-status"]'), 'success');
      await screenshot(page, 'filters-transfers-from-link');

      // Apply: the URL follows the form.
      await page.fill('[data-testid="filter-module"]', 'oth');
      await page.click('[data-testid="transfers-apply"]');
      await page.waitForURL((u) => u.searchParams.get('module') === 'oth' && u.searchParams.get('status') === 'success');
      assert.deepEqual(await rowsMatch('module=oth&status=success'), ['other']);

      // Back: the previous filters, in the form and in the list.
      await page.goBack();
      await page.waitForURL((u) => u.searchParams.get('module') === 'web');
      assert.deepEqual(await rowsMatch('module=web&status=success'), ['web', 'webshop']);
      assert.equal(await formModule(), 'web');

      // Forward, then reload: still "oth".
      await page.goForward();
      await page.waitForURL((u) => u.searchParams.get('module') === 'oth');
      assert.deepEqual(await rowsMatch('module=oth&status=success'), ['other']);
      await page.reload();
      assert.deepEqual(await rowsMatch('module=oth&status=success'), ['other']);
      assert.equal(await formModule(), 'oth');

      // Clear: no filters in the URL, every session listed.
      await page.click('[data-testid="transfers-clear"]');
      await page.waitForURL((u) => u.pathname === '/transfers' && u.search === '');
      assert.deepEqual(await rowsMatch(''), ['other', 'web', 'webshop']);
      // The CSV export follows the filters shown.
      await page.fill('[data-testid="filter-module"]', 'webs');
      await page.click('[data-testid="transfers-apply"]');
      await page.waitForURL((u) => u.searchParams.get('module') === 'webs');
      // The URL changes before Angular re-renders the link: poll for the href rather than read it once.
      await waitFor('the CSV link to follow the filters', async () => /module=webs/.test((await page.getAttribute('[data-testid="transfers-csv"]', 'href')) ?? ''));
    }));

  test('new sessions appear in the list live, only when they match the filters', () =>
    withBrowserLog(log, async () => {
      await page.goto(`${server.baseUrl}/transfers?module=web`);
      await rowsMatch('module=web');
      const requestsBefore = await page.evaluate(() => performance.getEntriesByType('navigation').length);
      const fresh = await push('webshop');
      await page.waitForSelector(`[data-testid="transfer-row-${fresh}"]`);
      const other = await push('other');
      // The webshop push above proves the list refreshes; "other" is refreshed in the same way but filtered out.
      const fresh2 = await push('web');
      await page.waitForSelector(`[data-testid="transfer-row-${fresh2}"]`);
      assert.equal(await page.$(`[data-testid="transfer-row-${other}"]`), null, 'a session of another module is not shown');
      assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), requestsBefore, 'no page reload');
      const top = await page.$eval('[data-testid^="transfer-row-"]', (r) => r.getAttribute('data-testid'));
      assert.equal(top, `transfer-row-${fresh2}`, 'the newest session is on top');
      await screenshot(page, 'filters-transfers-live');
    }));

  test('audit log filters live in the URL too', () =>
    withBrowserLog(log, async () => {
      await page.goto(`${server.baseUrl}/audit?action=module.create&target=web`);
      const targets = () => page.$$eval('[data-testid^="audit-row-"] td:nth-child(4)', (tds) => tds.map((t) => t.textContent!.trim()).sort());
      await waitFor('the audit rows of web*', async () => JSON.stringify(await targets()) === JSON.stringify(['web', 'webshop']));
      assert.equal(await page.inputValue('[data-testid="filter-target"]'), 'web');
      await page.fill('[data-testid="filter-target"]', 'oth');
      await page.click('[data-testid="audit-apply"]');
      await page.waitForURL((u) => u.searchParams.get('target') === 'oth' && u.searchParams.get('action') === 'module.create');
      await waitFor('the audit rows of oth*', async () => JSON.stringify(await targets()) === JSON.stringify(['other']));
      await page.goBack();
      await waitFor('the audit rows of web* again', async () => JSON.stringify(await targets()) === JSON.stringify(['web', 'webshop']));
      assert.equal(await page.inputValue('[data-testid="filter-target"]'), 'web');
      await page.reload();
      await waitFor('the audit rows of web* after a reload', async () => JSON.stringify(await targets()) === JSON.stringify(['web', 'webshop']));
      await screenshot(page, 'filters-audit');
    }));

  test('on a phone the filters fold behind a button and the status column stays on screen', () =>
    withBrowserLog(log, async () => {
      await page.setViewportSize(PHONE);
      try {
        for (const [route, table] of [['/transfers', 'transfers-table'], ['/audit', 'audit-table']] as const) {
          await page.goto(`${server.baseUrl}${route}?${route === '/transfers' ? 'module=web&status=success' : 'action=module.create'}`);
          await page.waitForSelector(`[data-testid="${table}"]`);
          const toggle = page.locator('[data-testid="filters-toggle"]');
          const panel = page.locator('[data-testid="filters-panel"]');
          // isVisible() does not wait: a locator wait, then the folded state as the page settles on it.
          await toggle.waitFor({ state: 'visible' });
          await waitFor(`${route}: the filters folded behind the button`, async () => (await toggle.getAttribute('aria-expanded')) === 'false' && !(await panel.isVisible()));
          assert.match(await toggle.innerText(), route === '/transfers' ? /2 set/ : /1 set/, 'the button says how many filters are set');
          await screenshot(page, `filters-phone-${route.slice(1)}-folded`);
          await toggle.click();
          // The click returns before Angular re-renders.
          await waitFor(`${route}: the filters to unfold`, async () => (await toggle.getAttribute('aria-expanded')) === 'true');
          await panel.waitFor({ state: 'visible' });
          await screenshot(page, `filters-phone-${route.slice(1)}-open`);
        }
        // The status of every transfer is on screen without scrolling sideways.
        await page.goto(`${server.baseUrl}/transfers`);
        await page.waitForSelector('[data-testid="transfers-table"]');
        const boxes = await page.$$eval('[data-testid="transfer-status"] .rh-status', (els) => els.map((e) => { const r = e.getBoundingClientRect(); return { left: r.left, right: r.right, width: r.width }; }));
        assert.ok(boxes.length >= 3, `${boxes.length} status badges`);
        for (const b of boxes) assert.ok(b.width > 0 && b.left >= 0 && b.right <= PHONE.width, `status badge on screen: ${JSON.stringify(b)}`);
        const scrolls = await page.$eval('[data-testid="transfers-table"]', (t) => t.parentElement!.scrollWidth > t.parentElement!.clientWidth);
        assert.equal(scrolls, false, 'the transfer table fits the phone screen');
        await screenshot(page, 'filters-phone-transfers-status');
      } finally {
        await page.setViewportSize({ width: 1440, height: 900 });
      }
    }));
});
