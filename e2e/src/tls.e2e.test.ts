/**
 * Issue 11, server side, with real parts only: the real server and both of its rsync daemons, the stock `rsync-ssl`
 * script (openssl s_client, host-name verification on), the real rsync client. A relay in the test sits between
 * client and server: it binds 127.0.0.2 (so the daemon's view of the client address is provably the real one, not the
 * TLS listener's 127.0.0.1) and keeps every byte it forwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTree, passwordFile, rsync, rsyncSsl as rsyncSslClient, treeDigest, type RsyncResult } from './support/rsync';
import { REPO_ROOT, RunningServer, freePort, startServer, waitFor } from './support/server';

const USER = 'tlspusher';
const PASSWORD = crypto.randomBytes(12).toString('hex');

/** The API's own certificate helpers (compiled), to make a foreign CA and certificates with chosen names and dates. */
interface PemPair {
  certPem: string;
  keyPem: string;
}
const certificates = require(path.join(REPO_ROOT, 'apps/api/dist/tls/certificates.js')) as {
  createCa(o: { commonName: string }): Promise<PemPair>;
  issueServerCertificate(o: { ca: PemPair; names: string[]; notBefore?: Date; notAfter?: Date }): Promise<PemPair>;
};

/** The stock rsync-ssl script with the test user's password; `host` is what it verifies the certificate against. */
function rsyncSsl(args: string[], env: Record<string, string>): Promise<RsyncResult> {
  return rsyncSslClient(args, { RSYNC_PASSWORD: PASSWORD, ...env });
}

/** A TCP relay from 127.0.0.1:<port> to `target`, connecting out from 127.0.0.2, keeping every byte in both directions. */
class CapturingRelay {
  readonly chunks: Buffer[] = [];
  connections = 0;
  private server!: net.Server;
  port = 0;

  async start(targetPort: number): Promise<void> {
    this.server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect({ host: '127.0.0.1', port: targetPort, localAddress: '127.0.0.2' });
      const keep = (from: net.Socket, to: net.Socket) =>
        from.on('data', (d: Buffer) => {
          this.chunks.push(Buffer.from(d));
          to.write(d);
        });
      keep(client, upstream);
      keep(upstream, client);
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  captured(): Buffer {
    return Buffer.concat(this.chunks);
  }

  reset(): void {
    this.chunks.length = 0;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Distinctive pieces of every file in `root` (64 bytes from the middle, or the whole file when smaller). */
function contentSamples(root: string): Buffer[] {
  return [...treeDigest(root).entries()]
    .filter(([, digest]) => digest !== 'dir')
    .map(([rel]) => fs.readFileSync(path.join(root, rel)))
    .filter((b) => b.length >= 16)
    .map((b) => (b.length <= 64 ? b : b.subarray(Math.floor(b.length / 2) - 32, Math.floor(b.length / 2) + 32)));
}

async function sessionsOf(server: RunningServer, module: string): Promise<any[]> {
  return (await server.admin.get(`/api/v1/transfers?limit=100&module=${module}`)).body.items;
}

function tmpFile(name: string, content: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rh-tls-')), name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

describe('rsync over TLS with the private CA', () => {
  let server: RunningServer;
  let caFile = '';
  const relay = new CapturingRelay();

  before(async () => {
    server = await startServer();
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
    const grant = { users: [{ name: USER, access: 'rw' }] };
    for (const body of [
      { name: 'open', ...grant },
      { name: 'secure', tlsOnly: true, ...grant },
      { name: 'only2', hostsAllow: ['127.0.0.2'], ...grant },
    ]) {
      const res = await server.admin.post('/api/v1/modules', { path: path.join(server.storageRoot, body.name), ...body });
      assert.equal(res.status, 201, res.text);
    }
    const status = await waitFor('the TLS listener', async () => {
      const res = await server.admin.get('/api/v1/tls');
      return res.body.listening ? res.body : null;
    });
    assert.equal(status.port, server.rsyncTlsPort);
    const ca = await server.admin.get('/api/v1/tls/ca.pem');
    assert.equal(ca.status, 200);
    assert.match(ca.text, /^-----BEGIN CERTIFICATE-----/);
    caFile = tmpFile('ca.pem', ca.text);
    await relay.start(server.rsyncTlsPort);
  });

  after(async () => {
    await relay?.stop();
    await server?.stop();
  });

  test('the CA download and the fingerprints match what the listener really presents', async () => {
    const status = (await server.admin.get('/api/v1/tls')).body;
    const ca = new crypto.X509Certificate(fs.readFileSync(caFile));
    assert.equal(status.ca.fingerprint256, ca.fingerprint256);
    assert.equal(status.certificateSource, 'private-ca');
    assert.ok(status.certificate.dnsNames.includes('localhost'));
    assert.ok(status.certificate.ipAddresses.includes('127.0.0.1'));
    const peer = await new Promise<crypto.X509Certificate>((resolve, reject) => {
      const s = require('node:tls').connect({ host: '127.0.0.1', port: server.rsyncTlsPort, servername: 'localhost', ca: fs.readFileSync(caFile) }, () => {
        resolve(s.getPeerX509Certificate());
        s.destroy();
      });
      s.on('error', reject);
    });
    assert.equal(status.certificate.fingerprint256, peer.fingerprint256);
    assert.equal(status.certificate.fingerprint, `sha256:${peer.fingerprint256.replace(/:/g, '').toLowerCase()}`);
    assert.ok(peer.checkIssued(ca), 'served certificate issued by the downloadable CA');
    // The keys on disk are private.
    for (const key of ['ca.key', 'server.key']) assert.equal(fs.statSync(path.join(server.dataDir, 'tls', key)).mode & 0o777, 0o600);
  });

  test('rsync-ssl push through the TLS port arrives identical, recorded with the real client address, nothing readable on the wire', async () => {
    const src = makeTree(6);
    const marker = `plaintext-marker-${crypto.randomBytes(8).toString('hex')}`;
    fs.writeFileSync(path.join(src, 'marker.txt'), `${marker}\n`.repeat(20));
    relay.reset();
    const res = await rsyncSsl(['-a', `${src}/`, `${USER}@localhost::open`], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(relay.port) });
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(treeDigest(path.join(server.storageRoot, 'open')), treeDigest(src));

    const [s] = await waitFor('the TLS session to be recorded', async () => {
      const list = await sessionsOf(server, 'open');
      return list.length === 1 && list[0].status !== 'active' ? list : null;
    });
    assert.equal(s.status, 'success');
    assert.equal(s.user, USER);
    assert.equal(s.clientIp, '127.0.0.2', 'the daemon saw the client, not the TLS listener (127.0.0.1)');

    const wire = relay.captured();
    assert.ok(wire.length > 10_000, `the relay carried the transfer (${wire.length} bytes)`);
    assert.equal(wire.includes(marker), false, 'file text on the wire');
    for (const sample of contentSamples(src)) assert.equal(wire.includes(sample), false, 'file bytes on the wire');
    assert.equal(wire.includes(USER), false, 'user name on the wire');
    assert.equal(wire.includes(PASSWORD), false, 'password on the wire');
    // No rsync protocol text at all: not the greeting, not the challenge, not the response to it.
    assert.equal(wire.includes('@RSYNCD'), false, 'rsync daemon greeting / AUTHREQD challenge on the wire');
  });

  test('control: the same relay in front of the plain port does see name, challenge and contents (the capture can fail)', async () => {
    const plainRelay = new CapturingRelay();
    await plainRelay.start(server.rsyncPort);
    try {
      const src = makeTree(2);
      const res = await rsync(['-a', `--password-file=${passwordFile(PASSWORD)}`, `${src}/`, `${USER}@127.0.0.1::open/plain`, `--port=${plainRelay.port}`]);
      assert.equal(res.code, 0, res.stderr);
      const wire = plainRelay.captured();
      assert.ok(wire.includes(USER));
      assert.ok(wire.includes('@RSYNCD: AUTHREQD'));
      assert.ok(contentSamples(src).some((sample) => wire.includes(sample)));
    } finally {
      await plainRelay.stop();
    }
  });

  test('hosts allow sees the real address: a module open to 127.0.0.2 only admits the relayed client', async () => {
    const src = makeTree(2);
    const viaRelay = await rsyncSsl(['-a', `${src}/`, `${USER}@localhost::only2`], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(relay.port) });
    assert.equal(viaRelay.code, 0, viaRelay.stderr);
    const direct = await rsyncSsl(['-a', `${src}/`, `${USER}@localhost::only2/again`], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(server.rsyncTlsPort) });
    assert.notEqual(direct.code, 0);
    assert.match(direct.stderr, /access denied/i);
    assert.equal(fs.existsSync(path.join(server.storageRoot, 'only2', 'again')), false);
  });

  test('a tlsOnly module refuses a plaintext push and accepts rsync-ssl; other modules keep plaintext', async () => {
    const src = makeTree(3);
    const plain = await rsync(['-a', `--password-file=${passwordFile(PASSWORD)}`, `${src}/`, `${USER}@127.0.0.1::secure`, `--port=${server.rsyncPort}`]);
    assert.notEqual(plain.code, 0, 'plaintext push into a tlsOnly module');
    assert.match(plain.stderr, /access denied/i);
    assert.deepEqual(fs.readdirSync(path.join(server.storageRoot, 'secure')), []);
    // By address this time: host-name verification stays on and passes (the certificate names its addresses).
    const overTls = await rsyncSsl(['-a', `${src}/`, `${USER}@127.0.0.1::secure`], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(server.rsyncTlsPort) });
    assert.equal(overTls.code, 0, overTls.stderr);
    assert.deepEqual(treeDigest(path.join(server.storageRoot, 'secure')), treeDigest(src));
    const plainOther = await rsync(['-a', `--password-file=${passwordFile(PASSWORD)}`, `${src}/`, `${USER}@127.0.0.1::open/plain2`, `--port=${server.rsyncPort}`]);
    assert.equal(plainOther.code, 0, plainOther.stderr);
  });

  test('the client refuses a server whose certificate is not from the CA it trusts', async () => {
    const otherCa = await certificates.createCa({ commonName: 'Somebody else' });
    const src = makeTree(1);
    const res = await rsyncSsl(['-a', `${src}/`, `${USER}@localhost::open/wrongca`], { RSYNC_SSL_CA_CERT: tmpFile('other-ca.pem', otherCa.certPem), RSYNC_SSL_PORT: String(server.rsyncTlsPort) });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /verify|certificate/i);
    assert.equal(fs.existsSync(path.join(server.storageRoot, 'open', 'wrongca')), false);
  });

  test('a new public host gets into the server certificate (issued anew, served without a restart)', async () => {
    const before = (await server.admin.get('/api/v1/tls')).body.certificate.fingerprint256;
    const res = await server.admin.put('/api/v1/daemon/settings', { publicHost: 'hub.rsynchub.test' });
    assert.equal(res.status, 200, res.text);
    const status = await waitFor('the re-issued certificate', async () => {
      const s = (await server.admin.get('/api/v1/tls')).body;
      return s.certificate.dnsNames.includes('hub.rsynchub.test') ? s : null;
    });
    assert.notEqual(status.certificate.fingerprint256, before);
    const peer = await new Promise<crypto.X509Certificate>((resolve, reject) => {
      const s = require('node:tls').connect({ host: '127.0.0.1', port: server.rsyncTlsPort, servername: 'localhost', ca: fs.readFileSync(caFile) }, () => {
        resolve(s.getPeerX509Certificate());
        s.destroy();
      });
      s.on('error', reject);
    });
    assert.equal(peer.fingerprint256, status.certificate.fingerprint256, 'the listener presents the new certificate');
    assert.equal(peer.checkHost('hub.rsynchub.test'), 'hub.rsynchub.test');
    assert.equal(status.ca.fingerprint256, new crypto.X509Certificate(fs.readFileSync(caFile)).fingerprint256, 'same CA: sources keep trusting it');
  });

  test('the console setting turns the listener off (connections refused) and on again', async () => {
    const off = await server.admin.put('/api/v1/tls', { enabled: false });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.enabled, false);
    assert.equal(off.body.listening, false);
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: server.rsyncTlsPort });
      s.on('connect', () => (s.destroy(), resolve(false)));
      s.on('error', () => resolve(true));
    });
    assert.ok(refused, 'nothing listens on the TLS port while disabled');
    const bad = await server.admin.put('/api/v1/tls', { enabled: 'yes' });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /enabled/);
    const on = await server.admin.put('/api/v1/tls', { enabled: true });
    assert.equal(on.body.listening, true, on.text);
    const src = makeTree(1);
    const res = await rsyncSsl(['-a', `${src}/`, `${USER}@localhost::open/again-on`], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(server.rsyncTlsPort) });
    assert.equal(res.code, 0, res.stderr);
    const audit = (await server.admin.get('/api/v1/audit?limit=50')).body.items.map((e: any) => e.action);
    assert.ok(audit.includes('tls.settings.update'));
  });
});

describe('rsync over TLS with an admin-provided certificate (reloaded when the files change)', () => {
  let server: RunningServer;
  let ca: PemPair;
  let caFile = '';
  let certFile = '';
  let keyFile = '';

  /** Replaces the files like a renewal does (write aside, rename over), then waits for the listener to present `pair`. */
  async function install(pair: PemPair): Promise<void> {
    for (const [file, content] of [
      [keyFile, pair.keyPem],
      [certFile, pair.certPem],
    ] as const) {
      fs.writeFileSync(`${file}.new`, content, { mode: 0o600 });
      fs.renameSync(`${file}.new`, file);
    }
    const want = new crypto.X509Certificate(pair.certPem).fingerprint256;
    await waitFor('the new certificate to be served', async () => (await server.admin.get('/api/v1/tls')).body.certificate?.fingerprint256 === want, 20_000);
  }

  before(async () => {
    ca = await certificates.createCa({ commonName: 'Provided test CA' });
    caFile = tmpFile('ca.pem', ca.certPem);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-tls-provided-'));
    certFile = path.join(dir, 'fullchain.pem');
    keyFile = path.join(dir, 'privkey.pem');
    const first = await certificates.issueServerCertificate({ ca, names: ['other.example'] });
    fs.writeFileSync(certFile, first.certPem);
    fs.writeFileSync(keyFile, first.keyPem, { mode: 0o600 });
    // RSYNCHUB_HTTPS=0: a provided certificate turns HTTPS on by default; this test talks plain HTTP to the API.
    server = await startServer({ env: { RSYNCHUB_TLS_CERT: certFile, RSYNCHUB_TLS_KEY: keyFile, RSYNCHUB_HTTPS: '0' } });
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
    const res = await server.admin.post('/api/v1/modules', { name: 'open', path: path.join(server.storageRoot, 'open'), users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
    await waitFor('the TLS listener', async () => (await server.admin.get('/api/v1/tls')).body.listening);
  });

  after(async () => {
    await server?.stop();
  });

  const push = (sub: string) => rsyncSsl(['-a', `${makeTree(1)}/`, `${USER}@localhost::open/${sub}`], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(server.rsyncTlsPort) });

  test('the status names the provided certificate and there is no private CA to download', async () => {
    const status = (await server.admin.get('/api/v1/tls')).body;
    assert.equal(status.certificateSource, 'provided');
    assert.deepEqual(status.certificate.dnsNames, ['other.example']);
    assert.equal(status.ca, null);
    assert.equal((await server.admin.get('/api/v1/tls/ca.pem')).status, 404);
  });

  test('a certificate for another name is refused by the client (host-name verification on)', async () => {
    const res = await push('wrongname');
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /verify|hostname|certificate/i);
    assert.equal(fs.existsSync(path.join(server.storageRoot, 'open', 'wrongname')), false);
  });

  test('a renewed certificate is picked up without a restart, and then the push works', async () => {
    const pid = server.process.pid;
    await install(await certificates.issueServerCertificate({ ca, names: ['localhost'] }));
    const res = await push('renewed');
    assert.equal(res.code, 0, res.stderr);
    assert.ok(fs.existsSync(path.join(server.storageRoot, 'open', 'renewed')));
    assert.equal(server.process.pid, pid);
    assert.equal(server.process.exitCode, null);
  });

  test('a key that does not belong to the certificate is not loaded: the previous certificate stays', async () => {
    const before = (await server.admin.get('/api/v1/tls')).body.certificate.fingerprint256;
    const a = await certificates.issueServerCertificate({ ca, names: ['localhost'] });
    const b = await certificates.issueServerCertificate({ ca, names: ['localhost'] });
    fs.writeFileSync(certFile, a.certPem);
    fs.writeFileSync(keyFile, b.keyPem, { mode: 0o600 });
    const status = await waitFor('the refusal to show', async () => {
      const s = (await server.admin.get('/api/v1/tls')).body;
      return s.lastError ? s : null;
    }, 20_000);
    assert.match(status.lastError, /does not belong/);
    assert.equal(status.certificate.fingerprint256, before);
    assert.equal((await push('still-old')).code, 0);
  });

  test('an expired certificate is not swapped in on reload; served at start-up (so the server starts), the client refuses it', async () => {
    const day = 86_400_000;
    const expired = await certificates.issueServerCertificate({ ca, names: ['localhost'], notBefore: new Date(Date.now() - 3 * day), notAfter: new Date(Date.now() - day) });
    // A reload keeps the certificate in service and says why (restoring last year's files must not break every client).
    const before = (await server.admin.get('/api/v1/tls')).body.certificate.fingerprint256;
    fs.writeFileSync(`${keyFile}.new`, expired.keyPem, { mode: 0o600 });
    fs.renameSync(`${keyFile}.new`, keyFile);
    fs.writeFileSync(`${certFile}.new`, expired.certPem, { mode: 0o600 });
    fs.renameSync(`${certFile}.new`, certFile);
    const status = await waitFor('the refusal of the expired pair', async () => {
      const s = (await server.admin.get('/api/v1/tls')).body;
      return s.lastError && /expired|not valid/i.test(s.lastError) ? s : null;
    }, 20_000);
    assert.equal(status.certificate.fingerprint256, before, 'the previous certificate keeps serving');
    // A server started with it serves it, and rsync-ssl refuses it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-tls-expired-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    fs.writeFileSync(cert, expired.certPem);
    fs.writeFileSync(key, expired.keyPem, { mode: 0o600 });
    const second = await startServer({ env: { RSYNCHUB_TLS_CERT: cert, RSYNCHUB_TLS_KEY: key, RSYNCHUB_HTTPS: '0' } });
    try {
      assert.equal((await second.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
      assert.equal((await second.admin.post('/api/v1/modules', { name: 'open', path: path.join(second.storageRoot, 'open'), users: [{ name: USER, access: 'rw' }] })).status, 201);
      await waitFor('the TLS listener', async () => (await second.admin.get('/api/v1/tls')).body.listening);
      const res = await rsyncSsl(['-a', `${makeTree(1)}/`, `${USER}@localhost::open/expired`], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(second.rsyncTlsPort) });
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /expired/i);
      assert.equal(fs.existsSync(path.join(second.storageRoot, 'open', 'expired')), false);
    } finally {
      await second.stop();
    }
  });
});
