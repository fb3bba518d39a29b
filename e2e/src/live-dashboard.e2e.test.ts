/**
 * The dashboard tells the truth live, in real Chromium against the real server, daemon and rsync pushes: active
 * sessions, bytes so far and file counts of running pushes, refused sessions and today's figures move without a
 * reload; the daemon's uptime runs on; when the server goes away its state is unknown (not a stale green), and when
 * it returns every page recovers by itself.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { DESKTOP, launchChromium, screenshot, watchPage } from './support/browser';
import { passwordFile, rsync } from './support/rsync';
import { RunningServer, startServer, waitFor } from './support/server';

const USER = 'dashuser';
const PASSWORD = crypto.randomBytes(12).toString('hex');
let server: RunningServer;
let browser: Browser;
let page: Page;
let pageLog: () => string = () => '';
let pw: string;

const byTestId = (id: string) => `[data-testid="${id}"]`;
const sessionEl = (module: string) => `[data-testid^="live-session-"][data-module="${module}"]`;
const text = async (selector: string) => (await page.innerText(selector)).trim();

function push(src: string, module: string, extra: string[] = []) {
  return rsync(['-rt', `--password-file=${pw}`, ...extra, `${src}/`, `${USER}@127.0.0.1::${module}`, `--port=${server.rsyncPort}`]);
}

function tree(count: number, size: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-dash-'));
  for (let i = 0; i < count; i++) {
    const sub = path.join(dir, `part${i % 3}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f-${i}.bin`), crypto.randomBytes(size));
  }
  return dir;
}

async function step<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const log = pageLog();
    if (log) (err as Error).message += `\n--- browser log ---\n${log}`;
    await screenshot(page, 'live-dashboard-failure').catch(() => undefined);
    throw err;
  }
}

before(async () => {
  server = await startServer();
  pw = passwordFile(PASSWORD);
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
  for (const m of ['slowa', 'slowb', 'many']) {
    const res = await server.admin.post('/api/v1/modules', { name: m, path: path.join(server.storageRoot, m), users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
  }
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: DESKTOP, timezoneId: 'UTC', locale: 'en-US' });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  pageLog = watchPage(page);
  await page.goto(server.baseUrl + '/');
  await page.waitForURL(/\/login/);
  await page.fill(byTestId('login-username'), 'admin');
  await page.fill(byTestId('login-password'), server.adminPassword);
  await page.click(byTestId('login-submit'));
  await page.waitForSelector(byTestId('daemon-card'));
  await waitFor('the live connection', async () => (await text(byTestId('feed-state'))) === 'live', 15_000);
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

const notReloaded = async () => assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'the page was not reloaded');

describe('dashboard, live', () => {
  test('two running pushes: active sessions, bytes and rate so far, then the same file count as history', () =>
    step(async () => {
      // ~8 s each: both must be seen running at once, with bytes so far, and the tile must say 2 before either ends.
      // (4 s was a fixed window a loaded machine could miss between starting the two clients and rendering.)
      const a = push(tree(8, 256 * 1024), 'slowa', ['--bwlimit=256']);
      const b = push(tree(8, 256 * 1024), 'slowb', ['--bwlimit=256']);
      await waitFor('the server to count 2 active sessions', async () => (await server.admin.get('/api/v1/stats')).body.activeSessions === 2, 15_000);
      await waitFor('the active-sessions tile to say 2', async () => (await text(byTestId('count-active'))) === '2', 10_000);
      // Bytes so far of a running session, not "0 B" until it ends.
      const running = await waitFor(
        'a running session with bytes so far',
        async () => {
          for (const m of ['slowa', 'slowb']) {
            const el = await page.$(sessionEl(m));
            if (!el || (await el.getAttribute('data-status')) !== 'active') continue;
            const bytes = (await el.$eval(byTestId('live-session-bytes'), (e) => e.textContent ?? '')).trim();
            const rate = (await el.$eval(byTestId('live-session-rate'), (e) => e.textContent ?? '')).trim();
            if (bytes !== '0 B' && /\/s$/.test(rate)) return { m, bytes, rate };
          }
          return null;
        },
        15_000,
      );
      assert.match(running.bytes, /KiB|MiB/);
      await screenshot(page, 'dashboard-running-pushes');
      const [ra, rb] = await Promise.all([a, b]);
      assert.equal(ra.code, 0, ra.stderr);
      assert.equal(rb.code, 0, rb.stderr);
      for (const m of ['slowa', 'slowb']) {
        await waitFor(`${m} to end`, async () => (await page.getAttribute(sessionEl(m), 'data-status')) === 'success', 15_000);
        const history = (await server.admin.get(`/api/v1/transfers?module=${m}`)).body.items[0];
        assert.equal(history.fileCount, 8, 'history counts the 8 regular files');
        assert.equal(await page.$eval(`${sessionEl(m)} ${byTestId('live-session-files')}`, (e) => (e.textContent ?? '').trim()), '8 file(s)');
        assert.equal(await page.$eval(`${sessionEl(m)} ${byTestId('live-session-dirs')}`, (e) => (e.textContent ?? '').trim()), '· 4 dir(s)');
      }
      await waitFor('the active-sessions tile to go back to 0', async () => (await text(byTestId('count-active'))) === '0', 10_000);
      await notReloaded();
    }));

  test('a refused session appears live and today\'s figures move, with thousands separators and time zones', () =>
    step(async () => {
      const refused = await rsync(['-rt', `--password-file=${pw}`, `${tree(1, 10)}/`, `${USER}@127.0.0.1::nope`, `--port=${server.rsyncPort}`]);
      assert.notEqual(refused.code, 0);
      await page.waitForSelector(`${sessionEl('nope')}[data-status="refused"]`, { timeout: 15_000 });
      const res = await push(tree(1200, 1), 'many');
      assert.equal(res.code, 0, res.stderr);
      await waitFor('the feed to show the big push ended', async () => (await page.getAttribute(sessionEl('many'), 'data-status')) === 'success', 20_000);
      const stats = await waitFor('the stats to include it', async () => {
        const s = (await server.admin.get('/api/v1/stats')).body;
        return s.today.files === 8 + 8 + 1200 ? s : null;
      });
      await waitFor('sessions today to match the server', async () => (await text(byTestId('count-sessions'))) === String(stats.today.sessions), 10_000);
      await waitFor('files today with a thousands separator', async () => (await text(byTestId('count-files'))) === '1,216', 10_000);
      assert.equal(await page.$eval(`${sessionEl('many')} ${byTestId('live-session-files')}`, (e) => (e.textContent ?? '').trim()), '1,200 file(s)');
      assert.match(await page.innerText(`${sessionEl('many')} .head`), /\d{2}:\d{2}:\d{2} (AM |PM )?UTC/, 'times name their zone');
      await notReloaded();
    }));

  test('daemon uptime runs on between events', () =>
    step(async () => {
      const first = await text(byTestId('daemon-uptime'));
      await waitFor('the uptime to move on', async () => (await text(byTestId('daemon-uptime'))) !== first, 5_000);
    }));

  test('server restart: unknown while away, every page recovers without a reload', () =>
    step(async () => {
      const { dataDir, httpPort, rsyncPort } = server;
      const oldPid = (await server.admin.get('/api/v1/daemon')).body.pid;
      // The transfers page chunk is loaded while the server is up.
      await page.click(`.rh-container ${byTestId('nav-Transfers')}`);
      await page.waitForSelector(byTestId('transfers-table'));
      await page.click(`.rh-container ${byTestId('nav-Dashboard')}`);
      await page.waitForSelector(byTestId('daemon-card'));

      await server.stop();
      await waitFor('the dashboard to notice', async () => (await text(byTestId('feed-state'))) !== 'live', 15_000);
      await waitFor('the daemon state to be unknown', async () => (await text(byTestId('daemon-state'))) === 'unknown', 5_000);
      assert.equal(await page.$(byTestId('daemon-pid')), null, 'no stale pid');
      await screenshot(page, 'dashboard-server-away');
      // A page opened while the server is away shows its error...
      await page.click(`.rh-container ${byTestId('nav-Transfers')}`);
      await page.waitForSelector(byTestId('error-banner'), { timeout: 10_000 });

      server = await startServer({ dataDir, httpPort, rsyncPort });
      const newPid = (await server.admin.get('/api/v1/daemon')).body.pid;
      assert.notEqual(newPid, oldPid);
      // ...and loses it, with fresh data, once the server is back.
      await waitFor('the transfers page to re-fetch by itself', async () => (await page.$(byTestId('transfers-table'))) !== null, 45_000);
      assert.equal(await page.$(byTestId('error-banner')), null, 'the error is gone');
      await page.click(`.rh-container ${byTestId('nav-Dashboard')}`);
      await waitFor('the daemon to show running with its new pid', async () => (await text(byTestId('daemon-state'))) === 'running' && (await page.$(byTestId('daemon-pid'))) !== null && (await text(byTestId('daemon-pid'))) === String(newPid), 15_000);
      await notReloaded();
      await screenshot(page, 'dashboard-server-back');
    }));
});
