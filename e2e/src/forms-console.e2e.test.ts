/**
 * Issue 13's forms in real Chromium against the real server and daemon: every server error once, in words, on its
 * field (a taken module name on Name, a bad host on "line 3", a wrong password on the password field), focus on the
 * first problem, the stale "Fix the highlighted fields first." banner gone once fixed; password forms (hint clear of
 * the next label, a success resets without red, a temporary password called one); unsaved changes ask before
 * leaving (router guard and beforeunload); a granted rsync user deleted with its grants in one step; an admin resets
 * another admin's password (their old session is rejected); selects not cut; imported uid/gid/chroot shown; a plain
 * "no such transfer". Screenshots in test-artifacts/screenshots/forms-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { RunningServer, startServer, waitFor } from './support/server';
import { DESKTOP, PHONE, launchChromium, screenshot, watchPage, withBrowserLog } from './support/browser';

let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let pageLog: () => string = () => '';
const USER = 'formuser';

const url = (p: string) => server.baseUrl + p;
const byTestId = (id: string) => `[data-testid="${id}"]`;
const strong = () => `Strong-${crypto.randomBytes(9).toString('hex')}`;
const step = <T>(fn: () => Promise<T>): Promise<T> => withBrowserLog(pageLog, fn);

async function login(p: Page, username: string, password: string): Promise<void> {
  await p.goto(url('/login'));
  await p.fill(byTestId('login-username'), username);
  await p.fill(byTestId('login-password'), password);
  await p.click(byTestId('login-submit'));
}

/** The data-testid of the focused element (or its tag when it has none): never BODY after a refused submit. */
const focused = (p: Page) => p.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName ?? null);
/** Focus moves after Angular's next render (afterNextRender), which can come after the error text shows: poll for it. */
async function expectFocus(p: Page, testId: string, message = `focus on ${testId}`): Promise<void> {
  let last: string | null = null;
  await waitFor(message, async () => (last = await focused(p)) === testId).catch((err: Error) => {
    throw new Error(`${err.message} (focused: ${last})`);
  });
}

/**
 * Types a module name and waits for the path the form suggests from it. The storage roots that suggestion needs come
 * on their own request: a save clicked before they arrived went out with an empty path and stayed on the form.
 */
async function fillModuleName(name: string): Promise<void> {
  await page.fill(byTestId('module-name'), name);
  const suggested = path.join(server.storageRoot, name);
  await waitFor(`the path suggested for ${name}`, async () => (await page.inputValue(byTestId('module-path'))) === suggested);
}

async function openNewModuleForm(): Promise<void> {
  await page.goto(url('/modules/new'));
  await page.waitForSelector(byTestId('module-form'));
  await waitFor('the users to load', async () => (await page.inputValue(byTestId('grant-user-0')).catch(() => '')) === USER);
}

before(async () => {
  server = await startServer();
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: crypto.randomBytes(12).toString('hex') })).status, 201);
  const made = await server.admin.post('/api/v1/modules', { name: 'myhub1', path: path.join(server.storageRoot, 'myhub1'), users: [{ name: USER, access: 'rw' }] });
  assert.equal(made.status, 201, made.text);
  browser = await launchChromium();
  context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  pageLog = watchPage(page);
  await login(page, 'admin', server.adminPassword);
  await page.waitForSelector(byTestId('daemon-card'));
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

describe('errors on the field they concern', () => {
  test('a taken module name is said once, on Name, in words; focus goes there', () =>
    step(async () => {
      await openNewModuleForm();
      await fillModuleName('myhub1'); // its suggested path overlaps myhub1's too: the name is the problem
      await page.click(byTestId('module-save'));
      const error = await page.waitForSelector(byTestId('module-name-error'));
      assert.equal((await error.innerText()).trim(), 'Name is already taken by another module.');
      assert.equal(await page.$(byTestId('error-banner')), null, 'no banner repeating it');
      const text = await page.innerText('body');
      assert.doesNotMatch(text, /is already the path|name: is already|already taken.*already taken/s);
      await expectFocus(page, 'module-name');
      assert.equal(await page.getAttribute(byTestId('module-name'), 'aria-invalid'), 'true');
      await screenshot(page, 'forms-module-name-taken');
    }));

  test('a bad host is named by its line (1-based) on Hosts allow; the stale client banner goes once the fields are fixed', () =>
    step(async () => {
      await openNewModuleForm();
      await page.fill(byTestId('module-name'), 'bad name!');
      await page.click(byTestId('module-save'));
      const banner = await page.waitForSelector(byTestId('error-banner'));
      assert.match(await banner.innerText(), /Fix the highlighted fields first/);
      await expectFocus(page, 'module-name', 'focus on the first invalid field');
      await fillModuleName('hosts1');
      await page.waitForSelector(byTestId('error-banner'), { state: 'detached' });

      await page.fill(byTestId('module-hosts-allow'), '10.0.0.1\n10.0.0.2\n10.0.0.300');
      await page.click(byTestId('module-save'));
      const error = await page.waitForSelector(byTestId('module-hosts-allow-error'));
      assert.equal((await error.innerText()).trim(), 'Line 3 must be a valid IPv4 address (each of 4 parts 0-255).');
      assert.doesNotMatch(await page.innerText('body'), /hostsAllow|\[2\]/);
      assert.equal(await page.$(byTestId('error-banner')), null);
      await expectFocus(page, 'module-hosts-allow');
      await screenshot(page, 'forms-hosts-line');
      // Fixing the line clears it, and the module is created.
      await page.fill(byTestId('module-hosts-allow'), '10.0.0.1\n10.0.0.2\n10.0.0.3');
      await page.waitForSelector(byTestId('module-hosts-allow-error'), { state: 'detached' });
      await page.click(byTestId('module-save'));
      await page.waitForURL(/\/modules\/hosts1$/);
    }));

  test('/transfers/abc says "no such transfer" in words', () =>
    step(async () => {
      await page.goto(url('/transfers/abc'));
      const banner = await page.waitForSelector(byTestId('error-banner'));
      const text = await banner.innerText();
      assert.match(text, /No such transfer/);
      assert.doesNotMatch(text, /numeric string|Validation failed/);
      await page.goto(url('/transfers/424242'));
      await waitFor('the 404 in words', async () => /No such transfer/.test((await page.innerText(byTestId('error-banner')).catch(() => '')) ?? ''));
    }));
});

describe('password forms', () => {
  test('a temporary password is called one; a wrong one is said on its field; the hint clears the Repeat label; a success resets without red', () =>
    step(async () => {
      const temporary = strong();
      assert.equal((await server.admin.post('/api/v1/admins', { username: 'newadmin', password: temporary, role: 'auditor' })).status, 201);
      const ctx = await browser.newContext({ viewport: PHONE });
      const p = await ctx.newPage();
      p.setDefaultTimeout(30_000);
      const log = watchPage(p);
      await withBrowserLog(log, async () => {
        await login(p, 'newadmin', temporary);
        await p.waitForURL(/\/account$/);
        assert.match(await p.innerText(byTestId('first-run-prompt')), /temporary password/);
        assert.match(await p.innerText(byTestId('password-form')), /Temporary password/);

        // The hint under New password ends above the Repeat field (it used to run into its label on a phone).
        const hint = (await (await p.waitForSelector(byTestId('new-password-hint'))).boundingBox())!;
        const repeat = (await p.$eval(byTestId('repeat-password'), (el) => {
          const r = el.closest('mat-form-field')!.getBoundingClientRect();
          return { top: r.top + window.scrollY };
        }));
        assert.ok(hint.y + hint.height <= repeat.top + 1, `hint bottom ${hint.y + hint.height} must not pass the Repeat field top ${repeat.top}`);

        await p.fill(byTestId('current-password'), 'not-the-temporary-1');
        const chosen = strong();
        await p.fill(byTestId('new-password'), chosen);
        await p.fill(byTestId('repeat-password'), chosen);
        await p.click(byTestId('password-submit'));
        const err = await p.waitForSelector(byTestId('current-password-error'));
        assert.equal((await err.innerText()).trim(), 'Current password is wrong.');
        assert.equal(await p.$(byTestId('error-banner')), null);
        await expectFocus(p, 'current-password');
        assert.doesNotMatch(await p.innerText('body'), /currentPassword/);
        await screenshot(p, 'forms-password-wrong-phone');

        await p.fill(byTestId('current-password'), temporary);
        await p.click(byTestId('password-submit'));
        await p.waitForSelector(byTestId('daemon-card'));

        // An ordinary change: the emptied fields do not turn red.
        await p.goto(url('/account'));
        await p.fill(byTestId('current-password'), chosen);
        const next = strong();
        await p.fill(byTestId('new-password'), next);
        await p.fill(byTestId('repeat-password'), next);
        await p.click(byTestId('password-submit'));
        await p.waitForSelector(byTestId('password-changed'));
        for (const id of ['current-password', 'new-password', 'repeat-password']) {
          assert.equal(await p.inputValue(byTestId(id)), '', `${id} emptied`);
          assert.notEqual(await p.getAttribute(byTestId(id), 'aria-invalid'), 'true', `${id} not red`);
        }
        assert.equal(await p.$$eval('[data-testid="password-form"] mat-error, [data-testid="password-form"] .mat-form-field-invalid', (els) => els.length), 0);
        await screenshot(p, 'forms-password-changed-phone');
      });
      await ctx.close();
    }));
});

describe('unsaved changes', () => {
  test('leaving an edited form asks first (in-app and on reload); a saved form leaves without asking', () =>
    step(async () => {
      await openNewModuleForm();
      await page.fill(byTestId('module-name'), 'unsaved1');
      await page.fill(byTestId('module-comment'), 'typed, not saved');
      await page.click(byTestId('nav-Modules'));
      const message = await page.waitForSelector(byTestId('confirm-message'));
      assert.match(await message.innerText(), /not been saved/);
      await screenshot(page, 'forms-unsaved-prompt');
      await page.click(byTestId('confirm-cancel'));
      await page.waitForSelector(byTestId('confirm-message'), { state: 'detached' });
      assert.match(page.url(), /\/modules\/new$/);
      assert.equal(await page.inputValue(byTestId('module-comment')), 'typed, not saved', 'the edits are kept');

      // Reloading gets the browser's own beforeunload question.
      const dialogs: string[] = [];
      const onDialog = (d: import('playwright-core').Dialog) => {
        dialogs.push(d.type());
        void d.dismiss(); // stay
      };
      page.on('dialog', onDialog);
      await page.reload({ timeout: 3_000 }).catch(() => undefined); // dismissed: the reload is cancelled
      // On a loaded machine the question can come after those 3 s: wait for it rather than read the list at once.
      await waitFor('the beforeunload question', () => dialogs.length > 0);
      page.off('dialog', onDialog);
      assert.deepEqual(dialogs, ['beforeunload']);
      assert.equal(await page.inputValue(byTestId('module-comment')), 'typed, not saved', 'still there after staying');

      await page.click(byTestId('nav-Modules'));
      await page.click(byTestId('confirm-ok'));
      await page.waitForURL(/\/modules$/);

      // A clean or saved form leaves silently.
      await openNewModuleForm();
      await page.click(byTestId('nav-Modules'));
      await page.waitForURL(/\/modules$/);
      await openNewModuleForm();
      await fillModuleName('saved1');
      await page.click(byTestId('module-save'));
      await page.waitForURL(/\/modules\/saved1$/);
      assert.equal(await page.$(byTestId('confirm-message')), null);
    }));
});

describe('rsync users', () => {
  test('deleting a user that still has grants says so up front and removes grants and user in one step', () =>
    step(async () => {
      assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'granted1', password: crypto.randomBytes(12).toString('hex') })).status, 201);
      const mod = await server.admin.post('/api/v1/modules', {
        name: 'mod2', path: path.join(server.storageRoot, 'mod2'), users: [{ name: USER, access: 'rw' }, { name: 'granted1', access: 'ro' }],
      });
      assert.equal(mod.status, 201, mod.text);
      await page.goto(url('/users'));
      await page.click(byTestId('rsync-user-delete-granted1'));
      const message = await page.waitForSelector(byTestId('confirm-message'));
      assert.match(await message.innerText(), /granted1 is still granted on module mod2 \(ro\)/);
      assert.doesNotMatch(await message.innerText(), /removeGrants/);
      assert.equal((await page.innerText(byTestId('confirm-ok'))).trim(), 'Remove grants and delete');
      await screenshot(page, 'forms-rsync-user-delete-with-grants');
      await page.click(byTestId('confirm-ok'));
      await page.waitForSelector(byTestId('rsync-user-row-granted1'), { state: 'detached' });
      assert.equal(await page.$(byTestId('delete-blocked')), null, 'no second step');
      assert.equal((await server.admin.get('/api/v1/rsync-users/granted1')).status, 404);
      assert.deepEqual((await server.admin.get('/api/v1/modules/mod2')).body.users, [{ name: USER, access: 'rw' }]);
    }));
});

describe('admins', () => {
  test('an admin resets another admin\'s password in the console: shown once as temporary; the old session is rejected', () =>
    step(async () => {
      const temporary = strong();
      const made = await server.admin.post('/api/v1/admins', { username: 'colleague', password: temporary, role: 'admin' });
      assert.equal(made.status, 201, made.text);
      const colleague = server.client();
      await colleague.login('colleague', temporary);
      const own = strong();
      assert.equal((await colleague.post('/api/v1/auth/password', { currentPassword: temporary, newPassword: own })).status, 204);
      assert.equal((await colleague.get('/api/v1/modules')).status, 200);

      await page.goto(url('/admins'));
      await page.click(byTestId('admin-reset-colleague'));
      assert.match(await page.innerText(byTestId('confirm-message')), /signed out everywhere.*tokens are revoked/s);
      await page.click(byTestId('confirm-ok'));
      const panel = await page.waitForSelector(byTestId('admin-temporary-panel'));
      assert.match(await panel.innerText(), /Temporary password for colleague/);
      const shown = (await page.innerText(byTestId('admin-temporary-password'))).trim();
      assert.ok(shown.length >= 12, shown);
      await screenshot(page, 'forms-admin-reset');

      assert.equal((await colleague.get('/api/v1/modules')).status, 401, 'the old session is rejected');
      const again = server.client();
      const login = await again.login('colleague', shown);
      assert.equal(login.mustChangePassword, true);
      await page.click(byTestId('admin-temporary-dismiss'));
      // The click returns before Angular re-renders: wait for the panel to go, then look for the password anywhere.
      await page.waitForSelector(byTestId('admin-temporary-panel'), { state: 'detached' });
      assert.ok(!(await page.content()).includes(shown), 'shown only once');
    }));
});

describe('selects and module settings', () => {
  test('no select cuts its chosen text, on desktop and phone', () =>
    step(async () => {
      for (const viewport of [DESKTOP, PHONE]) {
        await page.setViewportSize(viewport);
        await openNewModuleForm();
        await page.click('[aria-label="Remove user 1"]');
        await page.selectOption(byTestId('module-anonymous'), 'read-write');
        for (const mode of ['rw', 'ro', 'wo']) {
          await page.selectOption(byTestId('module-mode'), mode);
          const cut = await page.$$eval('select', (selects) =>
            selects
              .map((s) => {
                const text = s.options[s.selectedIndex]?.text ?? '';
                const style = getComputedStyle(s);
                const ctx = document.createElement('canvas').getContext('2d')!;
                ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
                const room = s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
                return { text, need: Math.ceil(ctx.measureText(text).width), room };
              })
              .filter((s) => s.need > s.room),
          );
          assert.deepEqual(cut, [], `${viewport.width}px, mode ${mode}`);
        }
        await screenshot(page, `forms-selects-${viewport.width}`);
      }
      await page.setViewportSize(DESKTOP);
      // Leave the edited form without the prompt getting in the next test's way.
      await page.click(byTestId('nav-Modules'));
      await page.click(byTestId('confirm-ok'));
      await page.waitForURL(/\/modules$/);
    }));

  test('the modules list and the module page show what an import brought: uid, gid, chroot, excludes', () =>
    step(async () => {
      const dir = path.join(server.storageRoot, 'imported1');
      const config = `[imported1]\n  path = ${dir}\n  auth users = ${USER}\n  uid = nobody\n  gid = nogroup\n  use chroot = no\n  exclude = *.tmp *.bak\n  list = yes\n  read only = no\n`;
      const res = await server.admin.post('/api/v1/import', { config, skipExisting: true });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.createdModules, ['imported1'], res.text);
      await page.goto(url('/modules'));
      const extras = await page.waitForSelector(byTestId('module-extras-imported1'));
      const text = await extras.innerText();
      for (const bit of ['uid nobody', 'gid nogroup', 'chroot off', '2 excludes', 'listed']) assert.ok(text.includes(bit), `${bit} in "${text}"`);
      await screenshot(page, 'forms-modules-list-imported');
      await page.goto(url('/modules/imported1'));
      assert.equal((await page.innerText(byTestId('module-setting-uid'))).trim(), 'nobody');
      assert.equal((await page.innerText(byTestId('module-setting-gid'))).trim(), 'nogroup');
      assert.equal((await page.innerText(byTestId('module-setting-useChroot'))).trim(), 'no');
      assert.match(await page.innerText(byTestId('module-setting-excludes')), /\*\.tmp, \*\.bak/);
      await screenshot(page, 'forms-module-detail-imported');
    }));
});
