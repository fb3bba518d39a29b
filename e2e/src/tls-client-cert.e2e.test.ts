/**
 * Issue 11, optional item: client certificates issued by the console per source, required per module
 * (`tlsClientCert`). Real parts only: the real server, its daemons and TLS front (native, and the Node one with
 * RSYNCHUB_TLS_FRONT=node), the stock `rsync-ssl` script with RSYNC_SSL_CERT / RSYNC_SSL_KEY (openssl s_client),
 * certificate requests made with `openssl req`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTree, passwordFile, rsync, rsyncSsl as rsyncSslClient, treeDigest, type RsyncResult } from './support/rsync';
import { REPO_ROOT, RunningServer, startServer, waitFor } from './support/server';

const USER = 'ccpusher';
const PASSWORD = crypto.randomBytes(12).toString('hex');

interface PemPair {
  certPem: string;
  keyPem: string;
}
/** The API's own certificate helpers (compiled): a foreign CA, and certificates with chosen dates from the real CA key. */
const certificates = require(path.join(REPO_ROOT, 'apps/api/dist/tls/certificates.js')) as {
  createCa(o: { commonName: string }): Promise<PemPair>;
  issueServerCertificate(o: { ca: PemPair; names: string[] }): Promise<PemPair>;
};
const clientCertificates = require(path.join(REPO_ROOT, 'apps/api/dist/tls/client-certificates.js')) as {
  issueClientCertificate(o: { ca: PemPair; name: string; notBefore?: Date; notAfter?: Date }): Promise<{ certificate: string; privateKey: string; fingerprint: string }>;
};

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rh-ccert-'));
}

function tmpFile(name: string, content: string): string {
  const file = path.join(tmpDir(), name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

/** `openssl req` on the "source": a P-256 key that never leaves it, and the request the console signs. */
function opensslCsr(cn: string, keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']): { keyFile: string; csr: string } {
  const dir = tmpDir();
  const keyFile = path.join(dir, 'client.key');
  const csrFile = path.join(dir, 'client.csr');
  const r = spawnSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', keyFile, '-subj', `/CN=${cn}`, '-out', csrFile], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { keyFile, csr: fs.readFileSync(csrFile, 'utf8') };
}

/** Process ids whose command line matches (from /proc). */
function pidsMatching(pattern: RegExp): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (pattern.test(fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' '))) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function fingerprintHex(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

for (const front of ['native', 'node'] as const) {
  describe(`client certificates required per module (${front} TLS front)`, () => {
    let server: RunningServer;
    let caFile = '';
    let allowedFile = '';
    /** The certificate issued from an `openssl req` CSR (key made on the "source"), kept for the revocation case. */
    let fromCsr: { id: number; certFile: string; keyFile: string };

    const sslEnv = (extra: Record<string, string> = {}) => ({
      RSYNC_PASSWORD: PASSWORD,
      RSYNC_SSL_CA_CERT: caFile,
      RSYNC_SSL_PORT: String(server.rsyncTlsPort),
      ...extra,
    });
    const withCert = (certFile: string, keyFile: string) => sslEnv({ RSYNC_SSL_CERT: certFile, RSYNC_SSL_KEY: keyFile });
    const push = (src: string, dest: string, env: Record<string, string>): Promise<RsyncResult> => rsyncSslClient(['-a', `${src}/`, `${USER}@localhost::${dest}`], env);

    before(async () => {
      server = await startServer({ env: { RSYNCHUB_TLS_FRONT: front } });
      assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
      const grant = { users: [{ name: USER, access: 'rw' }] };
      for (const body of [
        { name: 'certonly', tlsClientCert: true, ...grant },
        { name: 'tlsnocert', tlsOnly: true, ...grant },
      ]) {
        const res = await server.admin.post('/api/v1/modules', { path: path.join(server.storageRoot, body.name), ...body });
        assert.equal(res.status, 201, res.text);
      }
      const status = await waitFor('the TLS listener', async () => {
        const res = await server.admin.get('/api/v1/tls');
        return res.body.listening ? res.body : null;
      });
      assert.equal(status.front.kind, front);
      caFile = tmpFile('ca.pem', (await server.admin.get('/api/v1/tls/ca.pem')).text);
      allowedFile = path.join(server.dataDir, 'tls', 'client-certs.allowed');
    });

    after(async () => {
      await server?.stop();
    });

    test('a certificate issued from an openssl CSR pushes into a tlsClientCert module; the files arrive identical', async () => {
      const { keyFile, csr } = opensslCsr('ignored-subject');
      const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'web01', csr, days: 30 });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.privateKey, undefined, 'no key is made (or returned) for a CSR');
      assert.equal(res.body.name, 'web01');
      assert.equal(res.body.caCertificate.trim(), fs.readFileSync(caFile, 'utf8').trim());
      const cert = new crypto.X509Certificate(res.body.certificate);
      assert.match(cert.subject, /CN=web01/, 'CN is the name, not the CSR subject');
      assert.ok(cert.checkIssued(new crypto.X509Certificate(fs.readFileSync(caFile))));
      assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(keyFile))), 'the certificate carries the CSR key');
      assert.equal(res.body.fingerprint, `sha256:${fingerprintHex(res.body.certificate)}`);
      const ekuText = spawnSync('openssl', ['x509', '-noout', '-ext', 'extendedKeyUsage'], { input: res.body.certificate, encoding: 'utf8' }).stdout;
      assert.match(ekuText, /TLS Web Client Authentication/);
      assert.doesNotMatch(ekuText, /Server Authentication/);
      fromCsr = { id: res.body.id, certFile: tmpFile('web01.pem', res.body.certificate), keyFile };
      const src = makeTree(6);
      const pushed = await push(src, 'certonly/web01', withCert(fromCsr.certFile, fromCsr.keyFile));
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.deepEqual(treeDigest(path.join(server.storageRoot, 'certonly', 'web01')), treeDigest(src));
    });

    test('a certificate with a server-made key (returned once) pushes too', async () => {
      const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'web02' });
      assert.equal(res.status, 201, res.text);
      assert.match(res.body.privateKey, /^-----BEGIN PRIVATE KEY-----/);
      const key = crypto.createPrivateKey(res.body.privateKey);
      assert.equal(key.asymmetricKeyType, 'ec');
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      const src = makeTree(4);
      const pushed = await push(src, 'certonly/web02', withCert(tmpFile('c.pem', res.body.certificate), tmpFile('c.key', res.body.privateKey)));
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.deepEqual(treeDigest(path.join(server.storageRoot, 'certonly', 'web02')), treeDigest(src));
    });

    test('without a client certificate the tlsClientCert module refuses; a module without the setting accepts rsync-ssl', async () => {
      const src = makeTree(2);
      const refused = await push(src, 'certonly/nocert', sslEnv());
      assert.notEqual(refused.code, 0, 'push without a client certificate');
      assert.match(refused.stderr, /access denied/i);
      assert.equal(fs.existsSync(path.join(server.storageRoot, 'certonly', 'nocert')), false);
      const other = await push(src, 'tlsnocert/nocert', sslEnv());
      assert.equal(other.code, 0, other.stderr);
      assert.deepEqual(treeDigest(path.join(server.storageRoot, 'tlsnocert', 'nocert')), treeDigest(src));
    });

    test('a plaintext push into the tlsClientCert module is refused', async () => {
      const src = makeTree(2);
      const plain = await rsync(['-a', `--password-file=${passwordFile(PASSWORD)}`, `${src}/`, `${USER}@127.0.0.1::certonly/plain`, `--port=${server.rsyncPort}`]);
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /access denied/i);
      assert.equal(fs.existsSync(path.join(server.storageRoot, 'certonly', 'plain')), false);
    });

    test('a certificate from another CA is refused, even with its fingerprint in the allowed file', async () => {
      const otherCa = await certificates.createCa({ commonName: 'Somebody else' });
      const foreign = await clientCertificates.issueClientCertificate({ ca: otherCa, name: 'web01' });
      // Listed by fingerprint: what refuses it is the chain check, not the list.
      fs.appendFileSync(allowedFile, `${fingerprintHex(foreign.certificate)}\n`);
      const src = makeTree(2);
      const res = await push(src, 'certonly/foreign', withCert(tmpFile('f.pem', foreign.certificate), tmpFile('f.key', foreign.privateKey)));
      assert.notEqual(res.code, 0, 'push with a certificate from another CA');
      assert.match(res.stderr, /access denied/i);
      assert.equal(fs.existsSync(path.join(server.storageRoot, 'certonly', 'foreign')), false);
    });

    test('an expired certificate from the real CA is refused, even with its fingerprint in the allowed file', async () => {
      const ca = { certPem: fs.readFileSync(path.join(server.dataDir, 'tls', 'ca.pem'), 'utf8'), keyPem: fs.readFileSync(path.join(server.dataDir, 'tls', 'ca.key'), 'utf8') };
      const day = 86_400_000;
      const expired = await clientCertificates.issueClientCertificate({ ca, name: 'web01', notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) });
      fs.appendFileSync(allowedFile, `${fingerprintHex(expired.certificate)}\n`);
      const src = makeTree(2);
      const res = await push(src, 'certonly/expired', withCert(tmpFile('e.pem', expired.certificate), tmpFile('e.key', expired.privateKey)));
      assert.notEqual(res.code, 0, 'push with an expired client certificate');
      assert.equal(fs.existsSync(path.join(server.storageRoot, 'certonly', 'expired')), false);
      // The same CA, valid dates, listed: passes (so the refusal above is the expiry, not the hand-made certificate).
      const fresh = await clientCertificates.issueClientCertificate({ ca, name: 'web01' });
      fs.appendFileSync(allowedFile, `${fingerprintHex(fresh.certificate)}\n`);
      const ok = await push(src, 'certonly/handmade', withCert(tmpFile('h.pem', fresh.certificate), tmpFile('h.key', fresh.privateKey)));
      assert.equal(ok.code, 0, ok.stderr);
    });

    test('the allowed file replaced by a symbolic link (to the same content) lets no certificate through', async () => {
      const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'linktest' });
      assert.equal(res.status, 201, res.text);
      const env = withCert(tmpFile('l.pem', res.body.certificate), tmpFile('l.key', res.body.privateKey));
      const copy = path.join(server.dataDir, 'tls', 'copy-of-allowed');
      fs.copyFileSync(allowedFile, copy);
      fs.renameSync(allowedFile, `${allowedFile}.real`);
      fs.symlinkSync(copy, allowedFile);
      const src = makeTree(1);
      try {
        const viaLink = await push(src, 'certonly/vialink', env);
        assert.notEqual(viaLink.code, 0, 'a symbolic link is not followed');
        assert.match(viaLink.stderr, /access denied/i);
      } finally {
        fs.rmSync(allowedFile);
        fs.renameSync(`${allowedFile}.real`, allowedFile);
      }
      const back = await push(src, 'certonly/backfromlink', env);
      assert.equal(back.code, 0, back.stderr);
    });

    test('a revocation during an open transfer lets that transfer finish; the next connection is refused', async () => {
      const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'longpush' });
      const env = withCert(tmpFile('s.pem', res.body.certificate), tmpFile('s.key', res.body.privateKey));
      const big = tmpDir();
      fs.writeFileSync(path.join(big, 'big.bin'), crypto.randomBytes(2 * 1024 * 1024));
      const dest = path.join(server.storageRoot, 'certonly', 'slow');
      // --bwlimit: the transfer takes a few seconds, so the revocation surely lands while it runs.
      const slow = rsyncSslClient(['-a', '--bwlimit=800', `${big}/`, `${USER}@localhost::certonly/slow`], env, 120_000);
      await waitFor('the transfer to be under way', () => fs.existsSync(dest) && fs.readdirSync(dest).length > 0);
      assert.equal((await server.admin.delete(`/api/v1/tls/client-certs/${res.body.id}`)).status, 200);
      const next = await push(makeTree(1), 'certonly/nextconn', env);
      assert.notEqual(next.code, 0, 'a new connection with the revoked certificate');
      const finished = await slow;
      assert.equal(finished.code, 0, finished.stderr);
      assert.deepEqual(treeDigest(dest), treeDigest(big));
    });

    test('the native front killed with SIGKILL during a certificate push: its daemon (on rsyncd-tls-cert.conf) goes; the front comes back with the client CA', { skip: front !== 'native' }, async () => {
      const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'killtest' });
      const certFile = tmpFile('k.pem', res.body.certificate);
      const keyFile = tmpFile('k.key', res.body.privateKey);
      const big = tmpDir();
      fs.writeFileSync(path.join(big, 'big.bin'), crypto.randomBytes(4 * 1024 * 1024));
      // The accepting process is the server's child (connection children are the front's, with the same command line).
      const fronts = pidsMatching(new RegExp(`rsynchub-tls-front .*--port ${server.rsyncTlsPort} `)).filter((pid) => {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
          return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(server.process.pid);
        } catch {
          return false; // a connection child that just ended
        }
      });
      assert.equal(fronts.length, 1, 'the front runs');
      const client = spawn('rsync-ssl', ['-a', '--bwlimit=256', `${big}/`, `${USER}@localhost::certonly/killed`], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...withCert(certFile, keyFile) },
        stdio: 'ignore',
      });
      const exit = new Promise<number | null>((r) => client.once('exit', (code) => r(code)));
      const certConf = path.join(server.dataDir, 'rsyncd-tls-cert.conf');
      try {
        // The connection's daemon runs on the client-certificate config: the front chose it from the certificate.
        const daemons = await waitFor('the push to be under way on rsyncd-tls-cert.conf', () => {
          const pids = pidsMatching(new RegExp(`--daemon --config=${certConf}`));
          const dest = path.join(server.storageRoot, 'certonly', 'killed');
          return pids.length > 0 && fs.existsSync(dest) && fs.readdirSync(dest).length > 0 ? pids : null;
        });
        process.kill(fronts[0]!, 'SIGKILL');
        assert.notEqual(await exit, 0, 'the cut push fails');
        await waitFor('its daemons to exit', () => daemons.every((pid) => !alive(pid)), 20_000);
      } finally {
        client.kill('SIGKILL');
      }
      await waitFor('the front to be back', async () => {
        const s = (await server.admin.get('/api/v1/tls')).body;
        return s.listening && s.front.restarts >= 1 ? s : null;
      });
      const src = makeTree(2);
      const again = await push(src, 'certonly/afterkill', withCert(certFile, keyFile));
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(treeDigest(path.join(server.storageRoot, 'certonly', 'afterkill')), treeDigest(src));
      const none = await push(src, 'certonly/afterkillnone', sslEnv());
      assert.notEqual(none.code, 0);
    });

    test('after revocation the same certificate is refused on the next connection, without a restart', async () => {
      const src = makeTree(2);
      const before = await push(src, 'certonly/beforerevoke', withCert(fromCsr.certFile, fromCsr.keyFile));
      assert.equal(before.code, 0, before.stderr);
      const pid = server.process.pid;
      const revoked = await server.admin.delete(`/api/v1/tls/client-certs/${fromCsr.id}`);
      assert.equal(revoked.status, 200, revoked.text);
      assert.ok(revoked.body.revokedAt);
      const res = await push(src, 'certonly/afterrevoke', withCert(fromCsr.certFile, fromCsr.keyFile));
      assert.notEqual(res.code, 0, 'push with a revoked certificate');
      assert.match(res.stderr, /access denied/i);
      assert.equal(fs.existsSync(path.join(server.storageRoot, 'certonly', 'afterrevoke')), false);
      assert.equal(server.process.pid, pid);
      const listed = (await server.admin.get('/api/v1/tls/client-certs')).body.find((c: { id: number }) => c.id === fromCsr.id);
      assert.equal(listed.revokedAt, revoked.body.revokedAt);
    });
  });
}

describe('client certificates with an admin-provided server certificate (RSYNCHUB_TLS_CERT)', () => {
  let server: RunningServer;
  let serverCaFile = '';

  before(async () => {
    // The server's own certificate from a CA of the admin's; client certificates must still come from the private CA.
    const adminCa = await certificates.createCa({ commonName: 'Admin CA' });
    serverCaFile = tmpFile('admin-ca.pem', adminCa.certPem);
    const pair = await certificates.issueServerCertificate({ ca: adminCa, names: ['localhost'] });
    const certFile = tmpFile('fullchain.pem', pair.certPem);
    const keyFile = tmpFile('privkey.pem', pair.keyPem);
    server = await startServer({ env: { RSYNCHUB_TLS_CERT: certFile, RSYNCHUB_TLS_KEY: keyFile, RSYNCHUB_HTTPS: '0' } });
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
    const res = await server.admin.post('/api/v1/modules', { name: 'certonly', path: path.join(server.storageRoot, 'certonly'), tlsClientCert: true, users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
    await waitFor('the TLS listener', async () => (await server.admin.get('/api/v1/tls')).body.listening);
  });

  after(async () => {
    await server?.stop();
  });

  test('the private CA is made for client certificates and a certificate it issued pushes; none is refused', async () => {
    assert.equal((await server.admin.get('/api/v1/tls')).body.certificateSource, 'provided');
    const res = await server.admin.post('/api/v1/tls/client-certs', { name: 'web09' });
    assert.equal(res.status, 201, res.text);
    const privateCa = fs.readFileSync(path.join(server.dataDir, 'tls', 'ca.pem'), 'utf8');
    assert.equal(res.body.caCertificate.trim(), privateCa.trim());
    assert.ok(new crypto.X509Certificate(res.body.certificate).checkIssued(new crypto.X509Certificate(privateCa)));
    const env = { RSYNC_PASSWORD: PASSWORD, RSYNC_SSL_CA_CERT: serverCaFile, RSYNC_SSL_PORT: String(server.rsyncTlsPort) };
    const src = makeTree(3);
    const pushed = await rsyncSslClient(['-a', `${src}/`, `${USER}@localhost::certonly/web09`], {
      ...env,
      RSYNC_SSL_CERT: tmpFile('c.pem', res.body.certificate),
      RSYNC_SSL_KEY: tmpFile('c.key', res.body.privateKey),
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.deepEqual(treeDigest(path.join(server.storageRoot, 'certonly', 'web09')), treeDigest(src));
    const refused = await rsyncSslClient(['-a', `${src}/`, `${USER}@localhost::certonly/none`], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /access denied/i);
  });
});
