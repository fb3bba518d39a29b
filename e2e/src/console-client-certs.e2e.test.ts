/**
 * Issue 11's optional item in a real browser: client certificates on the Encryption page and the module setting that
 * requires one. An admin issues a certificate without a request (the server makes the key, shown once) and one from a
 * request made with the README's openssl command (no key shown); both are listed; one is revoked through the confirm
 * dialog; the module form's "Require a client certificate" locks "TLS only" and is saved; the module page's connect
 * panel then presents client.crt / client.key. An auditor sees the list without the buttons.
 * Needs the server side (branch t11-ccert-server: /api/v1/tls/client-certs and the module's tlsClientCert).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { readyAuditor, RunningServer, startServer, waitFor } from './support/server';
import { desktopPage, launchChromium, screenshot, withBrowserLog } from './support/browser';

let server: RunningServer;
let browser: Browser;
let page: Page;
let pageLog: () => string = () => '';
const byTestId = (id: string) => `[data-testid="${id}"]`;
const MODULE = 'certvault';
const AUDITOR = 'certauditor';
let auditorPassword = '';

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  ({ page, log: pageLog } = await desktopPage(browser));
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'certedge', password: randomBytes(12).toString('hex') })).status, 201);
  const res = await server.admin.post('/api/v1/modules', { name: MODULE, path: path.join(server.storageRoot, MODULE), users: [{ name: 'certedge', access: 'rw' }] });
  assert.equal(res.status, 201, res.text);
  await waitFor('the TLS listener', async () => (await server.admin.get('/api/v1/tls')).body.listening, 60_000);
  auditorPassword = (await readyAuditor(server, AUDITOR)).password;
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
});

async function login(username: string, password: string): Promise<void> {
  await page.context().clearCookies();
  await page.goto(server.baseUrl + '/login');
  await page.fill(byTestId('login-username'), username);
  await page.fill(byTestId('login-password'), password);
  await page.click(byTestId('login-submit'));
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** The row of the certificate called `name` (the list shows each certificate's name and status). */
const row = (name: string) => `${byTestId('client-certs-table')} tr[data-name="${name}"]`;

test('client certificates: issue (with and without a request), list, revoke; a module requires one; the connect panel presents it', async () => {
  await withBrowserLog(pageLog, async () => {
    const ca = new X509Certificate((await server.admin.get('/api/v1/tls/ca.pem')).text);
    await login('admin', server.adminPassword);
    await page.goto(server.baseUrl + '/tls');
    await page.waitForSelector(byTestId('client-certs'));

    // 1. Without a request: the server makes the key and shows it once.
    await page.fill(byTestId('client-cert-name-input'), 'web01');
    assert.match((await page.textContent(byTestId('client-cert-csr-command'))) ?? '', /openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client\.key -subj \/CN=web01 -out client\.csr/);
    await page.click(byTestId('client-cert-issue'));
    await page.waitForSelector(byTestId('client-cert-issued'));
    const certPem = (await page.textContent(byTestId('client-cert-pem'))) ?? '';
    const keyPem = (await page.textContent(byTestId('client-cert-key'))) ?? '';
    const cert = new X509Certificate(certPem);
    assert.match(cert.subject, /CN=web01/);
    assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'issued by the console\'s CA');
    assert.ok(cert.checkPrivateKey(createPrivateKey(keyPem)), 'the key shown is the certificate\'s');
    assert.match((await page.textContent(byTestId('client-cert-key-warning'))) ?? '', /shown only once/);
    assert.equal(await page.getAttribute(byTestId('client-cert-download'), 'download'), 'web01.crt');
    assert.equal(await page.getAttribute(byTestId('client-cert-key-download'), 'download'), 'web01.key');
    const href = (await page.getAttribute(byTestId('client-cert-download'), 'href')) ?? '';
    assert.equal(decodeURIComponent(href.replace(/^data:[^,]*,/, '')).trim(), certPem.trim());
    await page.waitForSelector(`${row('web01')} ${byTestId('client-cert-status')}:has-text("active")`);
    await screenshot(page, 'client-cert-issued');
    await page.click(byTestId('client-cert-issued-done'));
    assert.equal(await page.$(byTestId('client-cert-key')), null, 'the key is gone from the page');

    // 2. From a request made on the source (the key never leaves it): no key in the answer.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-csr-'));
    try {
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'client.key'), '-subj', '/CN=db02', '-out', path.join(dir, 'client.csr')], { stdio: 'ignore' });
      await page.fill(byTestId('client-cert-name-input'), 'db02');
      await page.fill(byTestId('client-cert-csr'), fs.readFileSync(path.join(dir, 'client.csr'), 'utf8'));
      await page.fill(byTestId('client-cert-days'), '30');
      await page.click(byTestId('client-cert-issue'));
      await page.waitForSelector(`${byTestId('client-cert-issued')}:has-text("db02")`);
      const fromCsr = new X509Certificate((await page.textContent(byTestId('client-cert-pem'))) ?? '');
      assert.ok(fromCsr.checkPrivateKey(createPrivateKey(fs.readFileSync(path.join(dir, 'client.key')))), 'the certificate is for the source\'s own key');
      assert.ok(Date.parse(fromCsr.validTo) - Date.now() < 31 * 86_400_000, `30 days: ${fromCsr.validTo}`);
      assert.equal(await page.$(byTestId('client-cert-key')), null, 'no key shown: the source has it');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await page.waitForSelector(row('db02'));

    // 3. Revoke web01 through the confirm dialog.
    const listed = (await server.admin.get('/api/v1/tls/client-certs')).body as { id: number; name: string; revokedAt: string | null }[];
    const web01 = listed.find((c) => c.name === 'web01')!;
    await page.click(byTestId(`client-cert-revoke-${web01.id}`));
    await page.waitForSelector(byTestId('confirm-ok'));
    assert.match((await page.textContent(byTestId('confirm-message'))) ?? '', /refused from now on/);
    await page.click(byTestId('confirm-ok'));
    await page.waitForSelector(`${row('web01')} ${byTestId('client-cert-status')}:has-text("revoked")`);
    assert.equal(await page.$(byTestId(`client-cert-revoke-${web01.id}`)), null, 'no revoke button on a revoked certificate');
    await waitFor('web01 revoked on the server', async () => ((await server.admin.get('/api/v1/tls/client-certs')).body as typeof listed).find((c) => c.id === web01.id)?.revokedAt);
    await page.waitForSelector(`${row('db02')} ${byTestId('client-cert-status')}:has-text("active")`);

    // 4. The module requires a client certificate: "TLS only" is checked and locked, and both are saved.
    await page.goto(server.baseUrl + `/modules/${MODULE}/edit`);
    await page.waitForSelector(byTestId('module-form'));
    assert.equal(await page.isChecked(`${byTestId('module-tls-only')} input`), false);
    await page.click(`${byTestId('module-tls-client-cert')} input`);
    assert.equal(await page.isChecked(`${byTestId('module-tls-only')} input`), true);
    assert.equal(await page.isDisabled(`${byTestId('module-tls-only')} input`), true);
    await page.click(byTestId('module-save'));
    await page.waitForURL((u) => u.pathname === `/modules/${MODULE}`);
    const saved = (await server.admin.get(`/api/v1/modules/${MODULE}`)).body;
    assert.equal(saved.tlsClientCert, true);
    assert.equal(saved.tlsOnly, true);

    // 5. The connect panel presents the certificate, and says where it is issued.
    await page.waitForSelector(byTestId('connect-client-cert'));
    assert.match((await page.textContent(byTestId('snippet-rsync-ssl'))) ?? '', /RSYNC_SSL_CERT=client\.crt RSYNC_SSL_KEY=client\.key rsync-ssl /);
    const agent = JSON.parse((await page.textContent(byTestId('snippet-agent-tls'))) ?? '');
    assert.equal(agent.watches[0].remotes[0].clientCert, '/etc/rsynchub/client.crt');
    assert.equal(agent.watches[0].remotes[0].clientKey, '/etc/rsynchub/client.key');
    assert.equal(await page.getAttribute(`${byTestId('connect-client-cert')} a`, 'href'), '/tls#client-certs');
    await screenshot(page, 'client-cert-connect-panel');
  });
});

test('client certificates: an auditor sees the list, not the issue form or the revoke buttons', async () => {
  await withBrowserLog(pageLog, async () => {
    await login(AUDITOR, auditorPassword);
    await page.goto(server.baseUrl + '/tls');
    await page.waitForSelector(row('db02'));
    assert.equal(await page.$(byTestId('client-cert-form')), null);
    assert.equal(await page.$(`${byTestId('client-certs-table')} button`), null);
  });
});
