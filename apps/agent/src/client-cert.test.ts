/**
 * A remote's client certificate: config validation, the one-line flags, the start checks on real files (made with
 * @peculiar/x509 and openssl), the connector's environment, and the words for each way a server refuses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { preflight } from './agent';
import { loadConfig, parseCli } from './cli';
import { clientCertProblems, clientKeyModeProblem, MAX_PEM_BYTES } from './client-cert';
import { ConfigError, validateConfig } from './config';
import { tmpDir } from './e2e-support';
import { classifyExit, CLIENT_CERT_HINT, tlsTransport, withClientCertHint } from './rsync-runner';
import { nativeFailure, nativeRunEnv } from './tls-native';
import { type ConnectSettings, explainTlsError } from './tls-options';
import { makeCa, makeClientCert } from './tls-test-support';

const base = { host: 'hub', module: 'm', tls: true, fingerprint: 'ab'.repeat(32) };
const cfg = (remote: Record<string, unknown>) => ({ watches: [{ path: '/src', remotes: [remote] }] });

test('config: clientCert and clientKey are absolute paths, both or neither, only with tls: true', () => {
  const ok = validateConfig(cfg({ ...base, clientCert: '/etc/a.crt', clientKey: '/etc/a.key' }));
  assert.equal(ok.watches[0]!.remotes[0]!.clientCert, '/etc/a.crt');
  assert.equal(ok.watches[0]!.remotes[0]!.clientKey, '/etc/a.key');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, clientCert: '/etc/a.crt' }, /remotes\[0\]\.clientCert: given without clientKey \(set both, or neither\)/],
    [{ ...base, clientKey: '/etc/a.key' }, /remotes\[0\]\.clientKey: given without clientCert/],
    [{ ...base, clientCert: 'a.crt', clientKey: '/etc/a.key' }, /remotes\[0\]\.clientCert: must be an absolute path/],
    [{ ...base, clientCert: '/etc/a.crt', clientKey: '' }, /remotes\[0\]\.clientKey: must be a non-empty string/],
    [{ ...base, clientCert: 42, clientKey: '/k' }, /remotes\[0\]\.clientCert: must be a non-empty string/],
    [{ host: 'hub', module: 'm', clientCert: '/etc/a.crt', clientKey: '/etc/a.key' }, /remotes\[0\]\.clientCert: needs tls: true[\s\S]*remotes\[0\]\.clientKey: needs tls: true/],
    [{ host: 'hub', module: 'm', tls: false, clientCert: '/etc/a.crt', clientKey: '/etc/a.key' }, /clientCert: needs tls: true/],
  ];
  for (const [remote, re] of cases) assert.throws(() => validateConfig(cfg(remote)), (e: Error) => e instanceof ConfigError && re.test(e.message), JSON.stringify(remote));
});

test('one-line form: --tls-client-cert / --tls-client-key, both, resolved, only with --tls; refused with --config', () => {
  const { config } = loadConfig(parseCli(['--watch', '/src', '--to', 'u@hub::m', '--tls-ca-file', '/ca.pem', '--tls-client-cert', '/etc/web01.crt', '--tls-client-key', 'web01.key']), {});
  assert.deepEqual(config.watches[0]!.remotes, [{ host: 'hub', port: 874, module: 'm', user: 'u', tls: true, caFile: '/ca.pem', clientCert: '/etc/web01.crt', clientKey: path.resolve('web01.key') }]);
  assert.throws(() => loadConfig(parseCli(['--watch', '/src', '--to', 'hub::m', '--tls', '--tls-client-cert', '/a.crt']), {}), /clientCert: given without clientKey/);
  assert.throws(() => loadConfig(parseCli(['--watch', '/src', '--to', 'hub::m', '--tls-client-cert', '/a.crt', '--tls-client-key', '/a.key']), {}), /--tls-client-cert and --tls-client-key need --tls/);
  assert.throws(() => loadConfig(parseCli(['--config', '/x.yaml', '--tls-client-key', '/a.key']), {}), /belong to the one-line form/);
});

test('clientKeyModeProblem: group or other bits refused with the chmod named', () => {
  assert.equal(clientKeyModeProblem('/k', 0o100600), null);
  assert.equal(clientKeyModeProblem('/k', 0o100400), null);
  assert.match(clientKeyModeProblem('/k', 0o100644)!, /^clientKey \/k has mode 0644; a private key must not be readable by group or others \(chmod 600 \/k\)$/);
  assert.match(clientKeyModeProblem('/k', 0o100640)!, /mode 0640/);
  assert.match(clientKeyModeProblem('/k', 0o100604)!, /mode 0604/);
});

test('clientCertProblems and preflight on real files: good pair; 0644 key; symlinked key; swapped; mismatched; encrypted; directory; huge; missing', async () => {
  const dir = tmpDir('ccert-unit');
  try {
    const ca = await makeCa();
    const a = await makeClientCert(ca, 'web01');
    const b = await makeClientCert(ca, 'web02');
    const w = (name: string, text: string | Buffer, mode = 0o600) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, text, { mode });
      fs.chmodSync(f, mode);
      return f;
    };
    const crt = w('a.crt', a.certPem, 0o644);
    const key = w('a.key', a.keyPem);
    assert.deepEqual(clientCertProblems(crt, key), []);
    // The agent refuses to start on any of these (preflight), with every problem named.
    const start = (c: string, k: string) => preflight(validateConfig({ watches: [{ path: dir, remotes: [{ ...base, clientCert: c, clientKey: k }] }] }));
    assert.deepEqual(start(crt, key), []);

    const open = w('open.key', a.keyPem, 0o644);
    assert.deepEqual(clientCertProblems(crt, open), [`clientKey ${open} has mode 0644; a private key must not be readable by group or others (chmod 600 ${open})`]);
    assert.match(start(crt, open).join('\n'), /has mode 0644/);

    // A link is followed: what counts is the file OpenSSL opens (a 0600 target is fine, a 0644 one is not).
    fs.symlinkSync(key, path.join(dir, 'link-ok.key'));
    assert.deepEqual(clientCertProblems(crt, path.join(dir, 'link-ok.key')), []);
    fs.symlinkSync(open, path.join(dir, 'link-open.key'));
    assert.match(clientCertProblems(crt, path.join(dir, 'link-open.key')).join('\n'), /link-open\.key has mode 0644/);
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling.key'));
    assert.match(clientCertProblems(crt, path.join(dir, 'dangling.key')).join('\n'), /clientKey \S+dangling\.key cannot be read \(ENOENT\)/);

    const swappedCrt = w('swapped.crt', a.keyPem);
    const swappedKey = w('swapped.key', a.certPem);
    assert.deepEqual(clientCertProblems(swappedCrt, swappedKey), [`clientCert ${swappedCrt} holds a private key and clientKey ${swappedKey} a certificate: the two are swapped`]);
    assert.match(clientCertProblems(crt, swappedKey).join('\n'), /clientKey \S+ holds a certificate, not a private key/);
    assert.match(clientCertProblems(swappedCrt, key).join('\n'), /clientCert \S+ holds no PEM certificate \(it holds a private key, not a certificate\)/);

    const otherKey = w('b.key', b.keyPem);
    assert.deepEqual(clientCertProblems(crt, otherKey), [`clientKey ${otherKey} is not the private key of clientCert ${crt} (they do not belong together): use the key the certificate request was made with, or issue a new certificate on the console's Encryption page ("Client certificates")`]);
    assert.match(start(crt, otherKey).join('\n'), /is not the private key of clientCert/);

    // An encrypted key (openssl's own PKCS#8 encryption): the agent runs unattended, nobody types a passphrase.
    const enc = path.join(dir, 'enc.key');
    execFileSync('openssl', ['pkcs8', '-topk8', '-in', key, '-out', enc, '-passout', 'pass:secret-phrase'], { stdio: 'ignore' });
    fs.chmodSync(enc, 0o600);
    assert.match(clientCertProblems(crt, enc).join('\n'), /clientKey \S+enc\.key is encrypted with a passphrase; the agent needs it unencrypted: openssl pkey -in \S+enc\.key -out NEW\.key/);

    fs.mkdirSync(path.join(dir, 'dir.crt'));
    assert.deepEqual(clientCertProblems(path.join(dir, 'dir.crt'), key), [`clientCert ${path.join(dir, 'dir.crt')} is a directory; give the PEM file itself`]);

    const huge = path.join(dir, 'huge.crt');
    fs.writeFileSync(huge, '');
    fs.truncateSync(huge, MAX_PEM_BYTES + 1); // sparse: not read, refused by its size
    assert.deepEqual(clientCertProblems(huge, key), [`clientCert ${huge} is ${MAX_PEM_BYTES + 1} bytes; a PEM certificate or key is a few KiB (is it the right file?)`]);

    assert.match(clientCertProblems(path.join(dir, 'missing.crt'), path.join(dir, 'missing.key')).join('\n'), /clientCert \S+missing\.crt cannot be read \(ENOENT\)\nclientKey \S+missing\.key cannot be read \(ENOENT\)/);
    assert.match(clientCertProblems(w('junk.crt', 'hello'), key).join('\n'), /holds no PEM certificate \(no "BEGIN CERTIFICATE" block\)/);
    assert.match(clientCertProblems(crt, w('junk.key', 'hello')).join('\n'), /holds no PEM private key \(no "BEGIN PRIVATE KEY" block\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const s: ConnectSettings = { host: 'hub', port: 8874, fingerprint: 'AB', timeoutMs: 1000 };
const withCert: ConnectSettings = { ...s, clientCert: '/etc/web01.crt', clientKey: '/etc/web01.key' };

test('tlsTransport and nativeRunEnv: the client certificate reaches the connector; a hostile environment cannot add one', () => {
  const t = tlsTransport({ host: 'hub', port: 8874, module: 'm', tls: true, clientCert: '/etc/web01.crt', clientKey: '/etc/web01.key' }, 5, null)!;
  assert.equal(t.settings.clientCert, '/etc/web01.crt');
  assert.equal(t.settings.clientKey, '/etc/web01.key');
  const env = nativeRunEnv('/x/rsynchub-tls', withCert, { PATH: '/bin' });
  assert.equal(env.RSYNCHUB_TLS_CERT_FILE, '/etc/web01.crt');
  assert.equal(env.RSYNCHUB_TLS_KEY_FILE, '/etc/web01.key');
  const none = nativeRunEnv('/x/rsynchub-tls', s, { RSYNCHUB_TLS_CERT_FILE: '/evil.crt', RSYNCHUB_TLS_KEY_FILE: '/evil.key' });
  assert.equal(none.RSYNCHUB_TLS_CERT_FILE, undefined);
  assert.equal(none.RSYNCHUB_TLS_KEY_FILE, undefined);
});

test('explainTlsError / nativeFailure: a server refusing the client certificate, or wanting one, is a refusal with the fix named', () => {
  const cases: [ConnectSettings, string, RegExp][] = [
    [s, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', /^the server hub:8874 requires a client certificate and this remote presents none \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: certificate required\): issue one on the console's Encryption page \("Client certificates"\) and set the remote's clientCert and clientKey \(--tls-client-cert \/ --tls-client-key\); not retried in plaintext$/],
    [withCert, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', /^the server hub:8874 refused the client certificate \/etc\/web01\.crt: it was not issued by the CA this server trusts/],
    [withCert, 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED', /refused the client certificate \/etc\/web01\.crt: it has been revoked \(ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED\)/],
    [withCert, 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', /: it has expired/],
    [withCert, 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', /: the server refused it \(bad certificate\)/],
  ];
  for (const [settings, code, re] of cases) {
    for (const f of [explainTlsError({ code, message: 'x' }, settings), nativeFailure({ code, message: 'x' }, settings)]) {
      assert.equal(f.kind, 'verify', code);
      assert.match(f.message, re, code);
    }
  }
  // TLS 1.2: a bare handshake failure. The connector knows when the server asked for a certificate; otherwise the
  // possibility is named, the port question kept.
  assert.match(nativeFailure({ code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', message: 'x', certrequested: '1' }, s).message, /requires a client certificate and this remote presents none \(ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: handshake failure after the server asked for one\)/);
  const maybe = explainTlsError({ code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', message: 'x' }, s);
  assert.equal(maybe.kind, 'handshake');
  assert.match(maybe.message, /the server may require a client certificate \(this remote presents none\): if so, issue one.*otherwise: is 8874 the server's TLS port\?/);
  assert.doesNotMatch(explainTlsError({ code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', message: 'x' }, withCert).message, /may require a client certificate/);
  // Closed after the handshake with nothing sent: both causes named, retried (over TLS) like a connection error.
  const closed = nativeFailure({ code: 'ECLOSED_AFTER_HANDSHAKE', message: 'x' }, withCert);
  assert.equal(closed.kind, 'connect');
  assert.match(closed.message, /closed the connection right after the TLS handshake.*either it refused the client certificate \/etc\/web01\.crt .*or its rsync daemon is down/);
  assert.match(nativeFailure({ code: 'ECLIENTCERT', message: 'clientKey /k is not the private key of clientCert /c' }, withCert).message, /^clientKey \/k is not the private key of clientCert \/c; not retried in plaintext$/);
});

test('withClientCertHint: access denied / Unknown module on a tls remote without a client certificate names it as a possibility', () => {
  const denied = '@ERROR: access denied to m from web01 (10.0.0.5)\nrsync error: error starting client-server protocol (code 5) at main.c(1863) [sender=3.2.7]\n';
  const hinted = withClientCertHint(denied, s);
  assert.ok(hinted.endsWith(`${CLIENT_CERT_HINT}\n`));
  const out = classifyExit({ code: 5, signal: null, stderr: hinted });
  assert.equal(out.kind, 'module');
  assert.match(out.message, /@ERROR: access denied to m .*this tls remote presents no client certificate; if the module requires one \(tlsClientCert\), issue one on the console's Encryption page/);
  assert.match(withClientCertHint("@ERROR: Unknown module 'x'\n", s), /presents no client certificate/);
  // With a certificate: it may be the one refused.
  assert.match(classifyExit({ code: 5, signal: null, stderr: withClientCertHint(denied, withCert) }).message, /presents the client certificate \/etc\/web01\.crt; if the module requires one \(tlsClientCert\), it may have been refused \(revoked, expired, or issued by another server\)/);
  // Not for other errors, not over a TLS failure line.
  assert.equal(withClientCertHint('@ERROR: auth failed on module m\n', withCert), '@ERROR: auth failed on module m\n');
  assert.equal(withClientCertHint('@ERROR: auth failed on module m\n', s), '@ERROR: auth failed on module m\n');
  const tlsLine = 'rsynchub-agent tls verify: x\n@ERROR: access denied';
  assert.equal(withClientCertHint(tlsLine, s), tlsLine);
});

test('CLI: the one-line form refuses to start with a 0644 client key, naming the file and chmod 600; nothing is pushed', async () => {
  const dir = tmpDir('ccert-cli');
  try {
    fs.mkdirSync(path.join(dir, 'src'));
    const c = await makeClientCert(await makeCa(), 'web01');
    const crt = path.join(dir, 'web01.crt');
    const key = path.join(dir, 'web01.key');
    fs.writeFileSync(crt, c.certPem);
    fs.writeFileSync(key, c.keyPem);
    fs.chmodSync(key, 0o644);
    const r = spawnSync(process.execPath, [path.join(__dirname, 'main.js'), '--watch', path.join(dir, 'src'), '--to', 'u@127.0.0.1::m', '--tls-fingerprint', 'ab'.repeat(32),
      '--tls-client-cert', crt, '--tls-client-key', key, '--state-dir', path.join(dir, 'state'), '--no-warm-standby'], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`refusing to start[\\s\\S]*clientKey ${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has mode 0644; a private key must not be readable by group or others \\(chmod 600 `));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
