/**
 * Issue 11, optional item: the client-certificate routes against the real server: validation (400 naming the field),
 * name conflicts, roles (auditor lists, never mutates), revocation, and the private key nowhere but in the one
 * response (not in the list, the audit log, the server's output or any file of the data dir, database included).
 * The module setting `tlsClientCert` through POST/PATCH /api/v1/modules and what it writes into each daemon config.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiClient, readyAuditor, RunningServer, startServer, waitFor } from './support/server';

function csrWith(keyArgs: string[], cn = 'src'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-ccapi-'));
  const r = spawnSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', path.join(dir, 'k'), '-subj', `/CN=${cn}`, '-out', path.join(dir, 'r')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return fs.readFileSync(path.join(dir, 'r'), 'utf8');
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

/** Every regular file under `dir`, as text (the SQLite database and its WAL included). */
function allFilesText(dir: string): string {
  let out = '';
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    try {
      out += fs.readFileSync(file).toString('latin1');
    } catch {
      /* gone meanwhile (a temp file) */
    }
  }
  return out;
}

/** The base64 body of a PEM, without line breaks: how it would appear in JSON, a log or a database page. */
function pemBody(pem: string): string[] {
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  return [lines.join(''), ...lines.filter((l) => l.length >= 40)];
}

describe('client certificate routes', () => {
  let server: RunningServer;
  let auditor: ApiClient;

  before(async () => {
    server = await startServer();
    auditor = (await readyAuditor(server, 'ccauditor')).client;
  });

  after(async () => {
    await server?.stop();
  });

  const refused: { name: string; body: () => unknown; field: string }[] = [
    { name: 'no name', body: () => ({}), field: 'name' },
    { name: 'empty name', body: () => ({ name: '' }), field: 'name' },
    { name: 'name with a newline', body: () => ({ name: 'web\n[evil]' }), field: 'name' },
    { name: 'name with ]', body: () => ({ name: 'web]' }), field: 'name' },
    { name: 'name with a space', body: () => ({ name: 'web 01' }), field: 'name' },
    { name: 'name with a leading space', body: () => ({ name: ' web01' }), field: 'name' },
    { name: 'name with a slash', body: () => ({ name: 'a/b' }), field: 'name' },
    { name: 'name "."', body: () => ({ name: '..' }), field: 'name' },
    { name: 'name of 65 characters', body: () => ({ name: 'a'.repeat(65) }), field: 'name' },
    { name: 'name not a string', body: () => ({ name: 12 }), field: 'name' },
    { name: 'days 0', body: () => ({ name: 'd0', days: 0 }), field: 'days' },
    { name: 'days 3651', body: () => ({ name: 'd1', days: 3651 }), field: 'days' },
    { name: 'days 1.5', body: () => ({ name: 'd2', days: 1.5 }), field: 'days' },
    { name: 'days as text', body: () => ({ name: 'd3', days: '10' }), field: 'days' },
    { name: 'an unknown field', body: () => ({ name: 'u1', key: 'x' }), field: 'key' },
    { name: 'csr that is not PEM', body: () => ({ name: 'c1', csr: 'hello' }), field: 'csr' },
    { name: 'csr that is empty', body: () => ({ name: 'c0', csr: '' }), field: 'csr' },
    { name: 'csr that is a certificate, not a request', body: () => ({ name: 'c2', csr: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }), field: 'csr' },
    { name: 'csr with garbage inside PEM armour', body: () => ({ name: 'c3', csr: `-----BEGIN CERTIFICATE REQUEST-----\n${crypto.randomBytes(300).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n` }), field: 'csr' },
    { name: 'csr of 100 KB', body: () => ({ name: 'c4', csr: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(100_000)}\n-----END CERTIFICATE REQUEST-----\n` }), field: 'csr' },
    {
      name: 'csr whose signature does not verify (one byte of the signature changed)',
      body: () => {
        const pem = csrWith(P256);
        const der = Buffer.from(pem.split('\n').filter((l) => l && !l.startsWith('-----')).join(''), 'base64');
        der[der.length - 3] = der[der.length - 3]! ^ 0x01;
        return { name: 'c5', csr: `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n` };
      },
      field: 'csr',
    },
    { name: 'csr with an RSA-1024 key', body: () => ({ name: 'c6', csr: csrWith(['-newkey', 'rsa:1024']) }), field: 'csr' },
    { name: 'csr with an EC key on P-521', body: () => ({ name: 'c7', csr: csrWith(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']) }), field: 'csr' },
    { name: 'csr with an Ed25519 key', body: () => ({ name: 'c8', csr: csrWith(['-newkey', 'ed25519']) }), field: 'csr' },
  ];
  for (const c of refused) {
    test(`400 naming the field: ${c.name}`, async () => {
      const before = (await server.admin.get('/api/v1/tls/client-certs')).body.length;
      const res = await server.admin.post('/api/v1/tls/client-certs', c.body());
      assert.equal(res.status, 400, res.text);
      assert.ok(
        (res.body.details as { field: string }[]).some((d) => d.field === c.field),
        `details name ${c.field}: ${res.text}`,
      );
      assert.equal((await server.admin.get('/api/v1/tls/client-certs')).body.length, before, 'nothing issued');
    });
  }

  test('an RSA-3072 CSR is accepted (its key in the certificate)', async () => {
    const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'rsa3072', csr: csrWith(['-newkey', 'rsa:3072']) });
    assert.equal(res.status, 201, res.text);
    assert.equal(new crypto.X509Certificate(res.body.certificate).publicKey.asymmetricKeyDetails?.modulusLength, 3072);
  });

  test('a duplicate name among certificates not revoked is 409 (case-insensitive); after revoking, the name is free again', async () => {
    const first = await server.admin.post('/api/v1/tls/client-certs', { name: 'dup01' });
    assert.equal(first.status, 201, first.text);
    const again = await server.admin.post('/api/v1/tls/client-certs', { name: 'DUP01' });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.body.details[0].field, 'name');
    assert.equal((await server.admin.delete(`/api/v1/tls/client-certs/${first.body.id}`)).status, 200);
    const reissued = await server.admin.post('/api/v1/tls/client-certs', { name: 'dup01', days: 1 });
    assert.equal(reissued.status, 201, reissued.text);
    const notAfter = new Date(reissued.body.notAfter).getTime();
    assert.ok(Math.abs(notAfter - (Date.now() + 86_400_000)) < 10 * 60_000, 'days: 1 means one day');
  });

  test('revoking: 404 for an unknown id, 200 twice with the first revocation time, the row kept in the list', async () => {
    assert.equal((await server.admin.delete('/api/v1/tls/client-certs/999999')).status, 404);
    assert.equal((await server.admin.delete('/api/v1/tls/client-certs/abc')).status, 404);
    const made = await server.admin.post('/api/v1/tls/client-certs', { name: 'rev01' });
    const first = await server.admin.delete(`/api/v1/tls/client-certs/${made.body.id}`);
    assert.equal(first.status, 200, first.text);
    assert.ok(first.body.revokedAt);
    const second = await server.admin.delete(`/api/v1/tls/client-certs/${made.body.id}`);
    assert.equal(second.status, 200);
    assert.equal(second.body.revokedAt, first.body.revokedAt);
    const list = (await server.admin.get('/api/v1/tls/client-certs')).body as { id: number; revokedAt: string | null; fingerprint: string }[];
    const row = list.find((c) => c.id === made.body.id)!;
    assert.equal(row.revokedAt, first.body.revokedAt);
    const allowed = fs.readFileSync(path.join(server.dataDir, 'tls', 'client-certs.allowed'), 'utf8');
    assert.ok(!allowed.includes(row.fingerprint.slice(7)), 'a revoked fingerprint is not in the allowed file');
    for (const c of list.filter((x) => x.revokedAt === null)) assert.ok(allowed.includes(c.fingerprint.slice(7)), `${c.id} allowed`);
    assert.equal(fs.statSync(path.join(server.dataDir, 'tls', 'client-certs.allowed')).mode & 0o777, 0o600);
  });

  test('the list is newest first', async () => {
    const a = await server.admin.post('/api/v1/tls/client-certs', { name: 'order-a' });
    const b = await server.admin.post('/api/v1/tls/client-certs', { name: 'order-b' });
    const ids = ((await server.admin.get('/api/v1/tls/client-certs')).body as { id: number }[]).map((c) => c.id);
    assert.ok(ids.indexOf(b.body.id) < ids.indexOf(a.body.id));
    assert.equal(ids[0], b.body.id);
  });

  test('an auditor lists but cannot issue or revoke (403); without a session every route is 401', async () => {
    const listed = await auditor.get('/api/v1/tls/client-certs');
    assert.equal(listed.status, 200);
    assert.ok(Array.isArray(listed.body));
    const made = await server.admin.post('/api/v1/tls/client-certs', { name: 'aud01' });
    assert.equal((await auditor.post('/api/v1/tls/client-certs', { name: 'aud02' })).status, 403);
    assert.equal((await auditor.delete(`/api/v1/tls/client-certs/${made.body.id}`)).status, 403);
    const after = (await server.admin.get('/api/v1/tls/client-certs')).body as { id: number; name: string; revokedAt: string | null }[];
    assert.equal(after.find((c) => c.id === made.body.id)!.revokedAt, null);
    assert.equal(after.some((c) => c.name === 'aud02'), false);
    const anonymous = server.client();
    assert.equal((await anonymous.get('/api/v1/tls/client-certs')).status, 401);
    assert.equal((await anonymous.post('/api/v1/tls/client-certs', { name: 'anon' })).status, 401);
    assert.equal((await anonymous.delete(`/api/v1/tls/client-certs/${made.body.id}`)).status, 401);
  });

  test('the private key is only in the issuing response: not in the list, the audit log, the server output or any data-dir file', async () => {
    const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'secretkey' });
    assert.equal(res.status, 201);
    const bodies = pemBody(res.body.privateKey);
    const list = (await server.admin.get('/api/v1/tls/client-certs')).text;
    assert.ok(list.includes(res.body.fingerprint));
    assert.doesNotMatch(list, /privateKey|PRIVATE KEY|"certificate"/);
    const audit = await waitFor('the audit entry', async () => {
      const r = await server.admin.get('/api/v1/audit?limit=50');
      const entry = (r.body.items as { action: string; target: string }[]).find((e) => e.action === 'tls.client-cert.issue' && e.target === 'secretkey');
      return entry ? r.text : null;
    });
    assert.ok(audit.includes(res.body.fingerprint), 'the audit entry names the fingerprint');
    assert.ok(audit.includes(res.body.serial), 'and the serial');
    const output = server.output();
    const files = allFilesText(server.dataDir);
    for (const b of bodies) {
      assert.ok(!audit.includes(b), 'key not in the audit log');
      assert.ok(!output.includes(b), 'key not in the server output');
      assert.ok(!files.includes(b), 'key not in any data-dir file');
      assert.ok(!list.includes(b));
    }
    assert.ok(output.includes(res.body.fingerprint), 'the log names the certificate (the check above looked at the right output)');
  });

  test('a revocation is audited with before and after', async () => {
    const made = await server.admin.post('/api/v1/tls/client-certs', { name: 'audrev' });
    assert.equal((await server.admin.delete(`/api/v1/tls/client-certs/${made.body.id}`)).status, 200);
    const entry = await waitFor('the revoke entry', async () => {
      const r = await server.admin.get('/api/v1/audit?limit=50');
      return (r.body.items as { action: string; target: string; before: any; after: any }[]).find((e) => e.action === 'tls.client-cert.revoke' && e.target === 'audrev');
    });
    assert.equal(entry.before.revokedAt, null);
    assert.ok(entry.after.revokedAt);
  });

  test('a module\'s tlsClientCert: stored, returned, PATCHed, validated, and rendered into the three daemon configs', async () => {
    const body = { name: 'ccmod', path: path.join(server.storageRoot, 'ccmod'), anonymous: 'read', tlsClientCert: true };
    const created = await server.admin.post('/api/v1/modules', body);
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.tlsClientCert, true);
    assert.equal((await server.admin.get('/api/v1/modules/ccmod')).body.tlsClientCert, true);
    const section = (file: string) => {
      const text = fs.readFileSync(path.join(server.dataDir, file), 'utf8');
      const start = text.indexOf('[ccmod]');
      assert.ok(start >= 0, `[ccmod] in ${file}`);
      const next = text.indexOf('\n[', start + 1);
      return text.slice(start, next < 0 ? undefined : next);
    };
    assert.match(section('rsyncd.conf'), /hosts deny = \*/);
    assert.match(section('rsyncd-tls.conf'), /hosts deny = \*/);
    assert.doesNotMatch(section('rsyncd-tls-cert.conf'), /hosts deny = \*/);
    assert.equal((await server.admin.patch('/api/v1/modules/ccmod', { tlsClientCert: 'yes' })).status, 400);
    const off = await server.admin.patch('/api/v1/modules/ccmod', { tlsClientCert: false });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.tlsClientCert, false);
    assert.doesNotMatch(section('rsyncd-tls.conf'), /hosts deny = \*/);
    assert.doesNotMatch(section('rsyncd.conf'), /hosts deny = \*/);
    const plainModule = await server.admin.post('/api/v1/modules', { name: 'ccplain', path: path.join(server.storageRoot, 'ccplain'), anonymous: 'read' });
    assert.equal(plainModule.body.tlsClientCert, false);
  });
});
