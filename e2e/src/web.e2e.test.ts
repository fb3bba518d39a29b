/**
 * The web console in a real browser (Debian's Chromium via playwright-core) against the real server, the real rsync
 * daemon it supervises and the real rsync client: log in, create an rsync user and a module through the UI (its path
 * suggested from the storage root), import an existing rsyncd.conf, push files and watch them arrive live, delete the
 * module and see rsync refused, and check an auditor gets a read-only console.
 * Screenshots of every page land in test-artifacts/screenshots/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { makeTree, passwordFile, rsync } from './support/rsync';
import { REPO_ROOT, RunningServer, startServer, waitFor } from './support/server';

function agentCli(args: string[]) {
  return spawnSync(process.execPath, [path.join(REPO_ROOT, 'apps/agent/dist/main.js'), ...args], { encoding: 'utf8' });
}
import { DESKTOP, PHONE, launchChromium, screenshot, watchPage, withBrowserLog } from './support/browser';

let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let pageLog: () => string = () => '';

const USER = 'webuser';
const MODULE = 'webmod';
const IMPORTED = 'imported';
const IMPORTED_USER = 'impuser';
const IMPORTED_SECRET = 'imported-secret-42';
let generatedPassword = '';

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  pageLog = watchPage(page);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

const url = (p: string) => server.baseUrl + p;
const byTestId = (id: string) => `[data-testid="${id}"]`;

function push(src: string, module: string, pwFile: string) {
  return rsync(['-artuz', `--password-file=${pwFile}`, `${src}/`, `${USER}@127.0.0.1::${module}`, `--port=${server.rsyncPort}`]);
}

/** Wraps a step so a failure prints what the browser said. */
const step = <T>(fn: () => Promise<T>): Promise<T> => withBrowserLog(pageLog, fn);

async function login(p: Page, username: string, password: string): Promise<void> {
  await p.fill(byTestId('login-username'), username);
  await p.fill(byTestId('login-password'), password);
  await p.click(byTestId('login-submit'));
}

describe('web console', () => {
  test('the console is served at / and asks to log in; wrong passwords are explained', () =>
    step(async () => {
      const res = await page.goto(url('/'));
      assert.equal(res?.status(), 200);
      await page.waitForURL(/\/login/);
      await screenshot(page, 'login');
      await login(page, 'admin', 'not-the-password');
      const err = await page.waitForSelector(byTestId('login-error'));
      assert.match(await err.innerText(), /wrong username or password/i);
      await screenshot(page, 'login-error');
    }));

  test('logs in through the form and lands on the dashboard', () =>
    step(async () => {
      await login(page, 'admin', server.adminPassword);
      await page.waitForSelector(byTestId('daemon-card'));
      await waitFor('the daemon card to show the state', async () => /running/.test(await page.innerText(byTestId('daemon-card'))));
      assert.match(await page.innerText(byTestId('daemon-port')), new RegExp(`:${server.rsyncPort}$`));
    }));

  test('creates an rsync user and shows the generated password once', () =>
    step(async () => {
      await page.click(byTestId('nav-Rsync users'));
      await page.waitForSelector(byTestId('rsync-user-form'));
      await page.fill(byTestId('rsync-user-name'), USER);
      await page.fill(byTestId('rsync-user-comment'), 'made in the browser');
      await page.click(byTestId('rsync-user-create'));
      generatedPassword = (await page.innerText(byTestId('generated-password'))).trim();
      assert.ok(generatedPassword.length >= 20, `a strong generated password is shown, got "${generatedPassword}"`);
      await page.waitForSelector(byTestId(`rsync-user-row-${USER}`));
      await screenshot(page, 'rsync-users');
      await page.click(byTestId('secret-dismiss'));
      await page.reload();
      await page.waitForSelector(byTestId(`rsync-user-row-${USER}`));
      assert.ok(!(await page.content()).includes(generatedPassword), 'the password is not shown again');
    }));

  test('creates a module granting the user rw; the server refusal is shown inline first', () =>
    step(async () => {
      await page.goto(url('/modules'));
      await page.click(byTestId('module-create'));
      await page.waitForSelector(byTestId('module-form'));
      await page.fill(byTestId('module-name'), 'bad name!');
      await page.fill(byTestId('module-path'), 'relative/path');
      await page.click(byTestId('module-save'));
      assert.match(await page.innerText(byTestId('module-name-error')), /letters, digits/);
      assert.match(await page.innerText(byTestId('module-path-error')), /absolute/);

      // Valid to the client, refused by the server (outside the module roots): the server's words appear under the field.
      await page.fill(byTestId('module-name'), MODULE);
      await page.fill(byTestId('module-path'), '/etc/not-a-module-root');
      // Safe by default: the form starts with a grant for an existing user, never with an anonymous module.
      // (The users list loads on its own request: wait for the grant row to be filled rather than read it once.)
      await waitFor('the grant row to offer the user', async () => (await page.inputValue(byTestId('grant-user-0')).catch(() => '')) === USER);
      await page.selectOption(byTestId('grant-user-0'), USER);
      await page.selectOption(byTestId('grant-access-0'), 'rw');
      await page.click(byTestId('module-save'));
      // Said once, on the field (issue 13): no banner repeating it in API wording. The server's answer comes after
      // the click returns: wait for its words (the element itself may still be the client's "absolute" error).
      await waitFor('the server refusal under Path', async () => /module root/.test(await page.innerText(byTestId('module-path-error'))));
      assert.equal(await page.$(byTestId('error-banner')), null);
      await screenshot(page, 'module-form');

      // A fresh form suggests the path: <first storage root>/<name>, updated as the name is typed.
      await page.goto(url('/modules/new'));
      await page.waitForSelector(byTestId('module-form'));
      await waitFor('the path hint to name the storage root', async () => (await page.innerText(byTestId('module-path-hint'))).includes(server.storageRoot));
      await page.fill(byTestId('module-name'), MODULE);
      const suggested = path.join(server.storageRoot, MODULE);
      await waitFor('the path to be prefilled from the storage root', async () => (await page.inputValue(byTestId('module-path'))) === suggested);
      await page.selectOption(byTestId('grant-user-0'), USER);
      await page.selectOption(byTestId('grant-access-0'), 'rw');
      await screenshot(page, 'module-form-suggested-path');
      await page.click(byTestId('module-save'));
      await page.waitForURL(new RegExp(`/modules/${MODULE}$`));
      // Snippets name the public host (never the browser's localhost): here the automatic, non-loopback default.
      const host = (await server.admin.get('/api/v1/daemon/settings')).body.publicHostEffective as string;
      assert.ok(host && !host.startsWith('127.'), host);
      const cmd = await page.innerText(byTestId('snippet-rsync'));
      assert.equal(cmd.trim(), `rsync -artuz --password-file=/etc/rsync.pass /data/source/ ${USER}@${host}::${MODULE} --port=${server.rsyncPort}`);
      assert.match(await page.innerText(byTestId('snippet-password-file')), /chmod 600 \/etc\/rsync\.pass/);
      const agent = JSON.parse(await page.innerText(byTestId('snippet-agent')));
      assert.deepEqual(agent.watches[0].remotes[0], { host, port: server.rsyncPort, module: MODULE, user: USER, passwordFile: '/etc/rsync.pass' });
      const sersyncXml = await page.innerText(byTestId('snippet-sersync'));
      assert.ok(sersyncXml.includes(`<remote ip="${host}" name="${MODULE}"/>`), sersyncXml);
      // What the console offers to copy is what the agent accepts, as is.
      const snippets = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-snippets-'));
      fs.writeFileSync(path.join(snippets, 'agent.json'), JSON.stringify(agent));
      fs.writeFileSync(path.join(snippets, 'confxml.xml'), sersyncXml);
      const fromJson = agentCli(['check-config', '--config', path.join(snippets, 'agent.json')]);
      assert.equal(fromJson.status, 0, fromJson.stderr);
      assert.equal(JSON.parse(fromJson.stdout).watches[0].remotes[0].module, MODULE);
      const fromXml = agentCli(['check-config', '--from-sersync', path.join(snippets, 'confxml.xml')]);
      assert.equal(fromXml.status, 0, fromXml.stderr);
      assert.match(fromXml.stdout, new RegExp(`"module": "${MODULE}"`));
      await screenshot(page, 'module-detail');

      const mod = await server.admin.get(`/api/v1/modules/${MODULE}`);
      assert.equal(mod.status, 200);
      assert.deepEqual(mod.body.users, [{ name: USER, access: 'rw' }]);
      assert.equal(mod.body.path, path.join(server.storageRoot, MODULE), 'the suggested path was saved');
    }));

  test('imports an existing rsyncd.conf: the module inside the storage root is created, the one outside is listed as skipped', () =>
    step(async () => {
      const conf = [
        '# the old server',
        'pid file = /var/run/rsyncd.pid',
        'secrets file = /etc/rsyncd.secrets',
        '',
        `[${IMPORTED}]`,
        `    path = ${path.join(server.storageRoot, IMPORTED)}`,
        '    comment = taken over from the old server',
        `    auth users = ${IMPORTED_USER}`,
        '    read only = no',
        '',
        '[outside]',
        '    path = /etc/rsynchub-e2e-outside',
        `    auth users = ${IMPORTED_USER}`,
        '',
      ].join('\n');
      await page.goto(url('/'));
      await page.click(byTestId('nav-Import'));
      await page.waitForSelector(byTestId('import-form'));
      // The config through the file picker, the secrets pasted.
      await page.setInputFiles(byTestId('import-config-file'), { name: 'rsyncd.conf', mimeType: 'text/plain', buffer: Buffer.from(conf) });
      await waitFor('the picked file to fill the textarea', async () => (await page.inputValue(byTestId('import-config'))) === conf);
      await page.fill(byTestId('import-secrets'), `${IMPORTED_USER}:${IMPORTED_SECRET}\n`);
      await screenshot(page, 'import-form');
      await page.click(byTestId('import-submit'));

      await page.waitForSelector(byTestId('import-result'));
      assert.match(await page.innerText(byTestId('import-summary')), /Created 1 module and 1 rsync user/);
      await page.waitForSelector(byTestId(`import-created-module-${IMPORTED}`));
      await page.waitForSelector(byTestId(`import-created-user-${IMPORTED_USER}`));
      assert.equal(await page.$(byTestId('import-users-without-secret')), null, 'the secret was in the secrets file');
      const outside = await page.waitForSelector(`${byTestId('import-skipped-table')} tr[data-kind="module"][data-name="outside"]`);
      assert.match(await outside.innerText(), /must be inside one of the module roots/);
      await page.waitForSelector(`${byTestId('import-skipped-table')} tr[data-kind="global"][data-name="pid file"]`);
      assert.equal(await page.inputValue(byTestId('import-secrets')), '', 'the secrets are cleared once sent');
      assert.ok(!(await page.content()).includes(IMPORTED_SECRET), 'the secret is not on the page any more');
      await screenshot(page, 'import');

      // The created module links to its page, and it is in the modules list.
      await page.click(byTestId(`import-created-module-${IMPORTED}`));
      await page.waitForURL(new RegExp(`/modules/${IMPORTED}$`));
      await page.goto(url('/modules'));
      await page.waitForSelector(byTestId(`module-row-${IMPORTED}`));
      assert.equal(await page.$(byTestId('module-row-outside')), null);

      // The imported secret works with the real rsync client.
      const res = await rsync(['-artuz', `--password-file=${passwordFile(IMPORTED_SECRET)}`, `${makeTree(2)}/`, `${IMPORTED_USER}@127.0.0.1::${IMPORTED}`, `--port=${server.rsyncPort}`]);
      assert.equal(res.code, 0, res.stderr);
    }));

  test('a push with the real rsync client appears live on the dashboard without a reload', () =>
    step(async () => {
      await page.goto(url('/'));
      await page.waitForSelector(byTestId('live-feed'));
      // The stream exists now: a connection slower than a few seconds on a loaded machine is not a reason to skip.
      await waitFor('the live connection', async () => (await page.innerText(byTestId('feed-state'))).trim() === 'live');
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
      const src = makeTree(6);
      const res = await push(src, MODULE, passwordFile(generatedPassword));
      assert.equal(res.code, 0, res.stderr);
      const session = await page.waitForSelector(`[data-testid^="live-session-"][data-module="${MODULE}"]`, { timeout: 20_000 });
      await page.waitForSelector(`${byTestId('live-file')}:has-text("file-")`, { timeout: 20_000 });
      await waitFor('the session to end as success', async () => (await session.getAttribute('data-status')) === 'success', 20_000);
      assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');
      await screenshot(page, 'dashboard');
    }));

  test('every other page renders (screenshots)', () =>
    step(async () => {
      // Whatever the live step did, take a dashboard screenshot with data from the history.
      await page.goto(url('/'));
      await page.waitForSelector(byTestId('daemon-card'));
      await screenshot(page, 'dashboard-loaded');
      await page.goto(url('/modules'));
      await page.waitForSelector(byTestId(`module-row-${MODULE}`));
      await screenshot(page, 'modules');
      await page.goto(url('/daemon'));
      await page.waitForSelector(byTestId('daemon-config'));
      assert.match(await page.innerText(byTestId('daemon-config')), new RegExp(`\\[${MODULE}\\]`));
      await screenshot(page, 'daemon');
      await page.goto(url('/transfers'));
      await page.waitForSelector(byTestId('transfers-page'));
      await page.waitForSelector(`${byTestId('transfers-table')}, ${byTestId('transfers-empty')}, ${byTestId('error-banner')}`);
      await screenshot(page, 'transfers');
      const row = await page.$(`[data-testid^="transfer-row-"]`);
      if (row) {
        await row.click();
        await page.waitForSelector(byTestId('transfer-detail'));
        await page.waitForSelector(`${byTestId('transfer-files')}, ${byTestId('transfer-files-empty')}`);
        await screenshot(page, 'transfer-detail');
      }
      await page.goto(url('/audit'));
      await page.waitForSelector(`${byTestId('audit-table')}, ${byTestId('audit-empty')}, ${byTestId('error-banner')}`);
      await screenshot(page, 'audit');
      await page.goto(url('/admins'));
      await page.waitForSelector(byTestId('admins-table'));
      await screenshot(page, 'admins');
      await page.goto(url('/account'));
      await page.waitForSelector(byTestId('password-form'));
      await screenshot(page, 'account');
    }));

  test('phone-sized screens use the toolbar menu', () =>
    step(async () => {
      const phone = await browser.newContext({ viewport: PHONE, storageState: await context.storageState() });
      try {
        const p = await phone.newPage();
        await p.goto(url('/'));
        await p.waitForSelector(byTestId('daemon-card'));
        await p.waitForSelector(byTestId('nav-menu-button'));
        await screenshot(p, 'phone-dashboard');
        await p.click(byTestId('nav-menu-button'));
        await p.click(`.mat-mdc-menu-panel ${byTestId('nav-Modules')}`);
        await p.waitForSelector(byTestId(`module-row-${MODULE}`));
        await screenshot(p, 'phone-modules');
      } finally {
        await phone.close();
      }
    }));

  test('deleting the module through the UI (keeping data) makes rsync refuse it', () =>
    step(async () => {
      await page.goto(url('/modules'));
      await page.click(byTestId(`module-delete-${MODULE}`));
      assert.match(await page.innerText(byTestId('confirm-message')), /is kept/);
      await page.click(`${byTestId('confirm-option')} input`);
      await waitFor('the message to say the data is deleted', async () => /is deleted/.test(await page.innerText(byTestId('confirm-message'))));
      await page.click(`${byTestId('confirm-option')} input`);
      await waitFor('the message to say the data is kept', async () => /is kept/.test(await page.innerText(byTestId('confirm-message'))));
      await screenshot(page, 'module-delete-confirm');
      await page.click(byTestId('confirm-ok'));
      await page.waitForSelector(byTestId('module-notice'));
      assert.match(await page.innerText(byTestId('module-notice')), /kept/);
      await page.waitForSelector(byTestId(`module-row-${MODULE}`), { state: 'detached' });
      const res = await push(makeTree(1), MODULE, passwordFile(generatedPassword));
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /Unknown module/i);
    }));

  test('deleting a granted rsync user says so up front and removes the grants with it in one step', () =>
    step(async () => {
      // A second user keeps the module password-protected once USER's grant is removed (removing a module's last
      // grant is refused: the module would become open to anyone).
      assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'webkeeper', password: 'webkeeper-9f2c41d7a3b8' })).status, 201);
      const created = await server.admin.post('/api/v1/modules', {
        name: 'granted',
        path: path.join(server.storageRoot, 'granted'),
        users: [{ name: USER, access: 'ro' }, { name: 'webkeeper', access: 'ro' }],
      });
      assert.equal(created.status, 201, created.text);
      await page.goto(url('/users'));
      await page.click(byTestId(`rsync-user-delete-${USER}`));
      assert.match(await page.innerText(byTestId('confirm-message')), /still granted on module granted/);
      assert.equal((await page.innerText(byTestId('confirm-ok'))).trim(), 'Remove grants and delete');
      await screenshot(page, 'rsync-user-delete-with-grants');
      await page.click(byTestId('confirm-ok'));
      await page.waitForSelector(byTestId(`rsync-user-row-${USER}`), { state: 'detached' });
      assert.equal((await server.admin.get(`/api/v1/rsync-users/${USER}`)).status, 404);
    }));

  test('an auditor sees a read-only console and the server refuses its changes', () =>
    step(async () => {
      const made = await server.admin.post('/api/v1/admins', { username: 'auditor1', password: 'auditor-password-1', role: 'auditor' });
      assert.equal(made.status, 201, made.text);
      const ctx = await browser.newContext({ viewport: DESKTOP });
      try {
        const p = await ctx.newPage();
        await p.goto(url('/login'));
        await login(p, 'auditor1', 'auditor-password-1');
        // A new account must change the password an admin gave it: the console asks first.
        await p.waitForSelector(byTestId('first-run-prompt'));
        await p.waitForSelector(byTestId('read-only-banner'));
        await screenshot(p, 'auditor-first-login');
        // The server refuses everything else until then; the console keeps the user on the account page.
        await p.goto(url('/modules'));
        await p.waitForURL(/\/account$/);
        await p.fill(byTestId('current-password'), 'auditor-password-1');
        await p.fill(byTestId('new-password'), 'auditor-chosen-password-2');
        await p.fill(byTestId('repeat-password'), 'auditor-chosen-password-2');
        await p.click(byTestId('password-submit'));
        await p.waitForSelector(byTestId('daemon-card')); // on to the dashboard once changed

        await p.goto(url('/modules'));
        await p.waitForSelector(byTestId('module-row-granted'));
        assert.equal(await p.$(byTestId('module-create')), null, 'no create button');
        assert.equal(await p.$(byTestId('module-delete-granted')), null, 'no delete button');
        assert.equal(await p.$(byTestId('nav-Admins & tokens')), null, 'no accounts page');
        assert.equal(await p.$(byTestId('nav-Import')), null, 'no import page');
        await p.goto(url('/import'));
        await p.waitForSelector(byTestId('daemon-card')); // sent back to the dashboard
        assert.equal(await p.$(byTestId('import-form')), null);
        await screenshot(p, 'auditor-modules');

        await p.goto(url('/modules/granted/edit'));
        await p.waitForSelector(byTestId('module-form'));
        await waitFor('the form to be disabled', () => p.isDisabled(byTestId('module-path')));
        assert.equal(await p.$(byTestId('module-save')), null, 'no save button');

        await p.goto(url('/users'));
        await p.waitForSelector(byTestId('rsync-users-table'));
        assert.equal(await p.$(byTestId('rsync-user-form')), null, 'no create form');

        await p.goto(url('/'));
        await p.waitForSelector(byTestId('daemon-card'));
        assert.equal(await p.$(byTestId('daemon-restart')), null, 'no daemon controls');

        const status = await p.evaluate(async () => {
          const r = await fetch('/api/v1/modules', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'sneaky', path: '/tmp/sneaky' }) });
          return r.status;
        });
        assert.equal(status, 403, 'a mutating call from the auditor page is refused');
      } finally {
        await ctx.close();
      }
    }));

  test('logs out from the account menu', () =>
    step(async () => {
      await page.goto(url('/'));
      await page.click(byTestId('account-menu'));
      await page.click(byTestId('logout'));
      await page.waitForURL(/\/login/);
      const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
      assert.equal(me, 401);
    }));
});
