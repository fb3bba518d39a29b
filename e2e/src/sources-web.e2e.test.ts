/**
 * Issue 9 in a real browser: a real rsynchub-agent process, authenticated with a `source`-scoped token bound to its
 * name, pushes into a module and reports heartbeats; the Sources page shows it online with its target, and once the
 * agent is stopped the page turns it stale by itself (no reload). The module page lists the source, shows connect
 * snippets with the public host (never the browser's localhost) and runs a real Test connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { passwordFile } from './support/rsync';
import { REPO_ROOT, RunningServer, startServer, waitFor } from './support/server';
import { desktopPage, launchChromium, screenshot } from './support/browser';

const STALE_SECONDS = 3;
const AGENT = path.join(REPO_ROOT, 'apps/agent/dist/main.js');
let server: RunningServer;
let browser: Browser;
let page: Page;
let pageLog: () => string = () => '';
let agent: ChildProcess | null = null;
let agentOutput = '';
let work = '';

before(async () => {
  server = await startServer({ env: { RSYNCHUB_SOURCE_STALE_SECONDS: String(STALE_SECONDS) } });
  browser = await launchChromium();
  ({ page, log: pageLog } = await desktopPage(browser, 30_000));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-sources-web-'));
});

after(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGKILL');
    await new Promise((r) => agent!.once('exit', r));
  }
  await browser?.close().catch(() => undefined);
  await server?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

const byTestId = (id: string) => `[data-testid="${id}"]`;

test('Sources page: a real agent shows online, then stale after it is stopped; the module page links it', async () => {
  try {
    const userPassword = randomBytes(12).toString('hex');
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'edge', password: userPassword })).status, 201);
    const modulePath = path.join(server.storageRoot, 'mirror');
    assert.equal((await server.admin.post('/api/v1/modules', { name: 'mirror', path: modulePath, users: [{ name: 'edge', access: 'rw' }] })).status, 201);
    const tokenRes = await server.admin.post('/api/v1/tokens', { name: 'edge agent', scope: 'source', sourceName: 'edge-web' });
    assert.equal(tokenRes.status, 201, tokenRes.text);

    const src = path.join(work, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'hello.txt'), 'hello\n');
    const tokenFile = path.join(work, 'agent.token');
    fs.writeFileSync(tokenFile, `${tokenRes.body.secret}\n`, { mode: 0o600 });
    const configFile = path.join(work, 'agent.json');
    fs.writeFileSync(configFile, JSON.stringify({
      name: 'edge-web',
      watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: server.rsyncPort, module: 'mirror', user: 'edge', passwordFile: passwordFile(userPassword) }], rsyncParams: ['-artz'] }],
      fullSync: { onStart: true, intervalSec: 0 },
      heartbeat: { url: server.baseUrl, tokenFile, intervalSec: 1 },
    }));
    agent = spawn(process.execPath, [AGENT, 'run', '--config', configFile, '--state-dir', path.join(work, 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout!.on('data', (d: Buffer) => (agentOutput += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (agentOutput += d.toString()));
    await waitFor('the agent to push hello.txt', () => fs.existsSync(path.join(modulePath, 'hello.txt')), 20_000);

    await page.goto(server.baseUrl + '/login');
    await page.fill(byTestId('login-username'), 'admin');
    await page.fill(byTestId('login-password'), server.adminPassword);
    await page.click(byTestId('login-submit'));
    await page.waitForURL((u) => !u.pathname.startsWith('/login'));
    await page.click(byTestId('nav-Sources')).catch(() => page.goto(server.baseUrl + '/sources'));
    await page.waitForURL(/\/sources$/);

    const row = page.locator(byTestId('source-row-edge-web'));
    await row.waitFor();
    await page.locator(`${byTestId('source-row-edge-web')}[data-state="online"]`).waitFor({ timeout: 20_000 });
    assert.equal((await page.locator(byTestId('source-state-edge-web')).textContent())?.trim(), 'online');
    const rowText = await row.textContent();
    assert.match(rowText ?? '', /mirror/);
    assert.match(rowText ?? '', /127\.0\.0\.1/);
    // A heartbeat sent while the start-up sync ran may still say 1 queued: wait for the one after it.
    await waitFor('the queue of mirror to show 0', async () => (await page.locator(byTestId('source-queue-edge-web-mirror')).textContent())?.trim() === '0');
    await screenshot(page, 'sources-online');

    // Stop the agent: no more heartbeats. The open page must turn the source stale on its own.
    agent.kill('SIGTERM');
    await new Promise((r) => agent!.once('exit', r));
    await page.locator(`${byTestId('source-row-edge-web')}[data-state="stale"]`).waitFor({ timeout: 20_000 });
    const staleSeenAt = Date.now();
    assert.equal((await page.locator(byTestId('source-state-edge-web')).textContent())?.trim(), 'stale');
    // Counted from the last heartbeat the server got, not from the agent's exit: a loaded agent can take seconds to
    // exit after its last heartbeat, and then "stale" rightly comes sooner than STALE_SECONDS after the exit.
    const lastSeenAt = Date.parse((await server.admin.get('/api/v1/sources')).body.find((s: any) => s.name === 'edge-web').lastSeenAt);
    assert.ok(staleSeenAt - lastSeenAt >= (STALE_SECONDS - 1) * 1000, `not stale before the threshold: shown ${staleSeenAt - lastSeenAt} ms after the last heartbeat`);
    await screenshot(page, 'sources-stale');

    // The module page lists the source, and its connect panel uses the public host and tests for real.
    await page.goto(server.baseUrl + '/modules/mirror');
    await page.locator(byTestId('module-source-edge-web')).waitFor();
    assert.match((await page.locator(byTestId('module-source-edge-web')).textContent()) ?? '', /stale/);
    const settings = (await server.admin.get('/api/v1/daemon/settings')).body;
    const snippet = (await page.locator(byTestId('snippet-rsync')).textContent()) ?? '';
    assert.ok(snippet.includes(`edge@${settings.publicHostEffective}::mirror`), snippet);
    assert.ok(!/localhost|127\.0\.0\.1/.test(snippet), `the snippet must not point at the browser's host: ${snippet}`);
    await page.click(byTestId('connect-test'));
    const result = page.locator(byTestId('connect-test-result'));
    await result.waitFor({ timeout: 30_000 });
    assert.match((await result.textContent()) ?? '', /Connection works/);
    await screenshot(page, 'module-connect-panel');
  } catch (err) {
    (err as Error).message += `\n--- browser log ---\n${pageLog()}\n--- agent output ---\n${agentOutput.slice(-3000)}`;
    throw err;
  }
});
