import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyExit } from './rsync-runner';
import { nativeFailure, nativeRunEnv, parseNativeLine, shellWord, translateNativeStderr } from './tls-native';
import type { ConnectSettings } from './tls-options';

const PIN = 'AB:'.repeat(31) + 'AB';
const GOT = 'CD:'.repeat(31) + 'CD';
const pinned: ConnectSettings = { host: 'hub.example', port: 8874, fingerprint: PIN, timeoutMs: 5000 };
const withCa: ConnectSettings = { host: 'hub.example', port: 8874, caFile: '/etc/rsynchub/ca.pem', timeoutMs: 5000 };

test('nativeFailure: each connector code becomes the node relay\'s words and kind', () => {
  const cases: { fields: Record<string, string>; s: ConnectSettings; kind: string; message: RegExp }[] = [
    { fields: { code: 'PIN_MISMATCH', message: 'x', got: GOT, kind: 'verify' }, s: pinned, kind: 'verify', message: new RegExp(`fingerprint sha256:${GOT} of hub\\.example:8874 does not match the pinned sha256:${PIN}.*never retried in plaintext`) },
    { fields: { code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: 'Hostname mismatch', alt: 'DNS:other.example', kind: 'verify' }, s: withCa, kind: 'verify', message: /not valid for the name "hub\.example" \(it names DNS:other\.example\)/ },
    { fields: { code: 'CERT_HAS_EXPIRED', message: 'certificate has expired', validto: 'Jan  1 00:00:00 2020 GMT', kind: 'verify' }, s: withCa, kind: 'verify', message: /has expired \(valid to Jan {2}1 00:00:00 2020 GMT\): renew it/ },
    { fields: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate', kind: 'verify' }, s: withCa, kind: 'verify', message: /not trusted by the CA in caFile \/etc\/rsynchub\/ca\.pem/ },
    // A verify code the relay's table does not know is still a refusal, never a network error.
    { fields: { code: 'INVALID_CA', message: 'invalid CA certificate', kind: 'verify' }, s: withCa, kind: 'verify', message: /was refused \(INVALID_CA: invalid CA certificate\); not retried in plaintext/ },
    { fields: { code: 'ERR_SSL_WRONG_VERSION_NUMBER', message: 'TLS handshake: wrong version number' }, s: pinned, kind: 'handshake', message: /is 8874 the server's TLS port\?/ },
    { fields: { code: 'ECAFILE', message: 'cannot read caFile /etc/rsynchub/ca.pem (EACCES)' }, s: withCa, kind: 'verify', message: /^cannot read caFile \/etc\/rsynchub\/ca\.pem \(EACCES\); not retried in plaintext$/ },
    { fields: { code: 'TIMEOUT', message: 'x' }, s: pinned, kind: 'connect', message: /^no TLS connection to hub\.example:8874 within 5s \(connectTimeoutSec\)$/ },
    { fields: { code: 'ECONNREFUSED', message: 'Connection refused' }, s: pinned, kind: 'connect', message: /^cannot connect to hub\.example:8874 \(ECONNREFUSED: Connection refused\)$/ },
    { fields: { code: 'ENOTFOUND', message: 'Name or service not known' }, s: pinned, kind: 'connect', message: /ENOTFOUND/ },
  ];
  for (const c of cases) {
    const f = nativeFailure(c.fields, c.s);
    assert.equal(f.kind, c.kind, `${c.fields.code}: ${f.message}`);
    assert.match(f.message, c.message, c.fields.code);
  }
});

test('translateNativeStderr + classifyExit: the connector\'s line becomes the connector line; refusals are kind tls, connection failures retryable', () => {
  const line = `rsynchub-agent tls-native:\tcode=PIN_MISMATCH\tmessage=the certificate's SHA-256 fingerprint is not the pinned one\tkind=verify\tgot=${GOT}`;
  assert.deepEqual(parseNativeLine(line), { code: 'PIN_MISMATCH', message: "the certificate's SHA-256 fingerprint is not the pinned one", kind: 'verify', got: GOT });
  assert.equal(parseNativeLine('rsync: did not see server greeting'), null);
  const stderr = translateNativeStderr(`${line}\nrsync: did not see server greeting\nrsync error: error starting client-server protocol (code 5)`, pinned);
  assert.ok(!stderr.includes('tls-native'), stderr);
  const refused = classifyExit({ code: 5, signal: null, stderr });
  assert.deepEqual({ retryable: refused.retryable, kind: refused.kind }, { retryable: false, kind: 'tls' });
  assert.match(refused.message!, /^TLS: server certificate fingerprint sha256:CD:.* does not match the pinned sha256:AB:/);
  const down = classifyExit({ code: 12, signal: null, stderr: translateNativeStderr('rsynchub-agent tls-native:\tcode=ECONNREFUSED\tmessage=Connection refused\nrsync error: (code 12)', pinned) });
  assert.deepEqual({ retryable: down.retryable, kind: down.kind }, { retryable: true, kind: 'connection' });
  // No connector line: stderr is left as it is.
  assert.equal(translateNativeStderr('rsync: something', pinned), 'rsync: something');
});

test('nativeRunEnv / shellWord: the connector as RSYNC_CONNECT_PROG, quoted for sh and for rsync\'s %; settings replace whatever the environment had', () => {
  assert.equal(shellWord('/opt/rsync hub/it\'s 100%/rsynchub-tls'), `'/opt/rsync hub/it'\\''s 100%%/rsynchub-tls'`);
  const hostile = { PATH: '/usr/bin', RSYNCHUB_TLS_FINGERPRINT: 'stale', RSYNCHUB_TLS_CA_FILE: '/tmp/evil.pem', RSYNCHUB_TLS_HOST: 'evil.example' };
  const env = nativeRunEnv('/opt/agent/rsynchub-tls', pinned, hostile);
  assert.equal(env.RSYNC_CONNECT_PROG, "exec '/opt/agent/rsynchub-tls'");
  assert.deepEqual(
    [env.RSYNCHUB_TLS_HOST, env.RSYNCHUB_TLS_PORT, env.RSYNCHUB_TLS_FINGERPRINT, env.RSYNCHUB_TLS_CA_FILE, env.RSYNCHUB_TLS_TIMEOUT_MS, env.PATH],
    ['hub.example', '8874', PIN, undefined, '5000', '/usr/bin'],
  );
  const ca = nativeRunEnv('/a', withCa, hostile);
  assert.equal(ca.RSYNCHUB_TLS_FINGERPRINT, undefined, 'no pin in the settings: none from the environment either');
  assert.equal(ca.RSYNCHUB_TLS_CA_FILE, '/etc/rsynchub/ca.pem');
});
