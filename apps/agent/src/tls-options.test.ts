import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainTlsError, parseConnectorLine, parseFingerprint, pinMismatchMessage, showFingerprint } from './tls-options';
import { buildRsyncArgs, classifyExit, tlsRunEnv, tlsTransport } from './rsync-runner';
import { connectorLine, relayUrl } from './tls-relay';
import { validateConfig } from './config';

const HEX = 'c4bda5b7be6aad2be235b9a242485ab2ba492308c77a422266085d1a3137970d';
const CANON = HEX.toUpperCase().match(/../g)!.join(':');

test('parseFingerprint: sha256:<hex>, bare hex, openssl\'s colon form (with its prefix), any case', () => {
  const good = [
    HEX,
    HEX.toUpperCase(),
    `sha256:${HEX}`,
    `SHA256:${HEX}`,
    ` sha256:${HEX} `,
    CANON,
    CANON.toLowerCase(),
    `sha256 Fingerprint=${CANON}`, // OpenSSL 3: openssl x509 -noout -fingerprint -sha256
    `SHA256 Fingerprint=${CANON}`, // OpenSSL 1.1
    `sha256:${CANON}`, // what the agent's own messages show (showFingerprint)
    showFingerprint(CANON),
  ];
  for (const g of good) assert.deepEqual(parseFingerprint(g), { fingerprint: CANON }, g);
  const bad: [string, RegExp][] = [
    ['', /must be a SHA-256 fingerprint/],
    ['not-hex', /must be a SHA-256 fingerprint/],
    [HEX.slice(0, 40), /SHA-1 fingerprint; give the SHA-256 one/],
    [HEX.slice(0, 62), /has 62 hex digits; a SHA-256 fingerprint has 64/],
    [HEX + 'ab', /has 66 hex digits/],
    [CANON.replace(/:/, '::'), /must be a SHA-256 fingerprint/],
    [`md5:${HEX}`, /must be a SHA-256 fingerprint/],
  ];
  for (const [b, re] of bad) {
    const r = parseFingerprint(b);
    assert.ok('error' in r && re.test(r.error), `${JSON.stringify(b)} -> ${JSON.stringify(r)}`);
  }
  assert.deepEqual(parseFingerprint(`${HEX}\n`), { fingerprint: CANON }, 'a trailing newline (pasted from a file) is whitespace');
});

test('explainTlsError: each failure names its fix and its kind', () => {
  const s = { host: 'hub.example', port: 8874 };
  const cases: [{ code?: string; message: string; reason?: string }, object, 'verify' | 'handshake' | 'connect', RegExp][] = [
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, { caFile: '/etc/ca.pem' }, 'verify',
      /not valid for the name "hub\.example" \(it names DNS:other\.example\).*public host setting.*not retried in plaintext/],
    [{ code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, { caFile: '/etc/ca.pem' }, 'verify', /has expired.*renew it on the server/],
    [{ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' }, { caFile: '/etc/ca.pem' }, 'verify',
      /not trusted by the CA in caFile \/etc\/ca\.pem.*console's Encryption page into \/etc\/ca\.pem/],
    [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' }, {}, 'verify', /not trusted by the system's trusted CAs.*set caFile.*or fingerprint/],
    [{ code: 'ERR_SSL_WRONG_VERSION_NUMBER', message: '80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/x.c:350:', reason: 'wrong version number' }, {}, 'handshake',
      /failed \(ERR_SSL_WRONG_VERSION_NUMBER: wrong version number\): is 8874 the server's TLS port\?.*RSYNCHUB_RSYNC_TLS_PORT.*873/],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, {}, 'connect', /cannot connect to hub\.example:8874 \(ECONNREFUSED/],
  ];
  for (const [err, extra, kind, re] of cases) {
    const f = explainTlsError(err, { ...s, ...extra }, { altNames: 'DNS:other.example', validTo: 'Jan 1 2020' });
    assert.equal(f.kind, kind, err.code);
    assert.match(f.message, re, err.code);
  }
  assert.match(pinMismatchMessage('h:874', 'AA:BB', CANON), new RegExp(`fingerprint sha256:AA:BB of h:874 does not match the pinned sha256:${CANON}; .*copy the new fingerprint from the console's Encryption page`));
});

test('parseConnectorLine + classifyExit: a refused certificate is kind tls, not retryable; a connect failure is retryable', () => {
  const stderr = (kind: string) => `rsynchub-agent tls ${kind}: some words\nrsync: did not see server greeting\nrsync error: error starting client-server protocol (code 5) at main.c(1863) [sender=3.5.0]`;
  assert.deepEqual(parseConnectorLine(stderr('verify')), { kind: 'verify', message: 'some words' });
  assert.equal(parseConnectorLine('rsync: connection unexpectedly closed'), null);
  const verify = classifyExit({ code: 5, signal: null, stderr: stderr('verify') });
  assert.deepEqual([verify.ok, verify.retryable, verify.kind, verify.message], [false, false, 'tls', 'TLS: some words']);
  assert.equal(classifyExit({ code: 5, signal: null, stderr: stderr('handshake') }).kind, 'tls');
  const connect = classifyExit({ code: 12, signal: null, stderr: stderr('connect') });
  assert.deepEqual([connect.retryable, connect.kind], [true, 'connection']);
});

test('tlsTransport / tlsRunEnv: plaintext remotes have none; a tls remote\'s URL is swapped for the relay\'s, whatever the user\'s env says', () => {
  assert.equal(tlsTransport({ host: 'h', port: 873, module: 'm' }, 10), undefined);
  const r = { host: 'h', port: 8874, module: 'm', user: 'u', tls: true, fingerprint: CANON };
  const t = tlsTransport(r, 10)!;
  assert.deepEqual(t.settings, { host: 'h', port: 8874, timeoutMs: 10_000, fingerprint: CANON });
  assert.equal(t.url, 'rsync://u@h:8874/m/');
  assert.equal(t.localUrl(40001), 'rsync://u@127.0.0.1:40001/m/');
  assert.equal(relayUrl({ module: 'm' }, 5), 'rsync://127.0.0.1:5/m/');
  // The URL the relay swaps is the one every run's arguments end with.
  const args = buildRsyncArgs({ root: '/a', remote: r, rsyncParams: ['-a'], excludes: [], timeoutSec: 0, connectTimeoutSec: 10 }, 'flat');
  assert.equal(args[args.length - 1], t.url);
  const env = tlsRunEnv({ PATH: '/bin', RSYNC_SHELL: '/bin/evil', RSYNC_PROXY: 'p:1', RSYNC_CONNECT_PROG: 'nc %H 873' });
  assert.deepEqual(env, { PATH: '/bin' });
});

test('connectorLine: a relay failure reads back as the same kind and message (one line)', () => {
  for (const kind of ['verify', 'handshake', 'connect'] as const) {
    assert.deepEqual(parseConnectorLine(`rsync: did not see server greeting\n${connectorLine({ kind, message: 'a\n  b' })}`), { kind, message: 'a b' });
  }
});

test('validateConfig: tls remotes (port 874 by default, fingerprint canonical) and every tls problem named', () => {
  const c = validateConfig({ watches: [{ path: '/a', remotes: [
    { host: 'h', module: 'm', tls: true, fingerprint: `sha256:${HEX}` },
    { host: 'h', module: 'm2', tls: true, caFile: '/etc/ca.pem', port: 8874 },
    { host: 'h', module: 'm3', tls: true },
  ] }] });
  assert.deepEqual(c.watches[0].remotes, [
    { host: 'h', port: 874, module: 'm', tls: true, fingerprint: CANON },
    { host: 'h', port: 8874, module: 'm2', tls: true, caFile: '/etc/ca.pem' },
    { host: 'h', port: 874, module: 'm3', tls: true },
  ]);
  const r = (extra: object) => ({ watches: [{ path: '/a', remotes: [{ host: 'h', module: 'm', ...extra }] }] });
  const cases: [unknown, RegExp][] = [
    [r({ tls: 'yes' }), /remotes\[0\]\.tls: must be true or false/],
    [r({ tls: true, fingerprint: 'abc' }), /remotes\[0\]\.fingerprint: has 3 hex digits/],
    [r({ tls: true, fingerprint: 'xyz' }), /remotes\[0\]\.fingerprint: must be a SHA-256 fingerprint/],
    [r({ tls: true, fingerprint: HEX.slice(0, 40) }), /remotes\[0\]\.fingerprint: .*SHA-1/],
    [r({ tls: true, fingerprint: 42 }), /remotes\[0\]\.fingerprint: must be a string/],
    [r({ tls: true, caFile: 'ca.pem' }), /remotes\[0\]\.caFile: must be an absolute path/],
    [r({ tls: true, caFile: '' }), /remotes\[0\]\.caFile: must be a non-empty string/],
    [r({ fingerprint: HEX }), /remotes\[0\]\.fingerprint: needs tls: true \(without it the push goes in plaintext/],
    [r({ tls: false, caFile: '/etc/ca.pem' }), /remotes\[0\]\.caFile: needs tls: true/],
    [r({ tls: true, tlsPort: 1 }), /remotes\[0\]\.tlsPort: unknown setting/],
    [{ watches: [{ path: '/a', rsyncParams: '-a --rsh=ssh', remotes: [{ host: 'h', module: 'm', tls: true }] }] }, /"--rsh=ssh" \(a remote shell\) cannot be combined with a tls remote/],
    [{ watches: [{ path: '/a', rsyncParams: '-avessh', remotes: [{ host: 'h', module: 'm', tls: true }] }] }, /"-avessh" \(a remote shell\)/],
  ];
  for (const [raw, re] of cases) assert.throws(() => validateConfig(raw), (e: Error) => re.test(e.message), JSON.stringify(raw));
  // A remote shell without tls stays allowed (existing behaviour).
  validateConfig({ watches: [{ path: '/a', rsyncParams: '-a --rsh=ssh', remotes: ['h::m'] }] });
});
