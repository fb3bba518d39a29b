/**
 * Issue 11, optional item, agent side: a remote's client certificate (`clientCert` / `clientKey`), against a real TLS
 * terminator that REQUIRES one (node tls.Server, requestCert + rejectUnauthorized, only certificates of its client CA)
 * in front of a real `rsync --daemon`, with a wire capture (tls-test-support.ts). Both of the agent's TLS paths: the
 * native connector (rsynchub-tls) and the node relay. With the certificate the tree arrives identical; without one, or
 * with one from another CA, the push is refused loudly (the fix named), nothing reaches the daemon, nothing goes in
 * plaintext, and it is not retried as plaintext. Both TLS 1.3 (the refusal comes after the handshake, on the first
 * read) and TLS 1.2 (it comes in the handshake).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { RsyncDaemon, tmpDir, waitConverged, waitUntil } from './e2e-support';
import { assertAllEncrypted, daemonConnections, makeCa, makeClientCert, makeServerCert, type TestCa, TlsRelay, type TlsRelayOptions, withTlsRelayChoice, writeSecretTree } from './tls-test-support';

const USER = 'certpusher';
const BACKENDS = ['native', 'node'] as const;
type Backend = (typeof BACKENDS)[number];
const SECRET = 'client-cert-marker-41c2';
/** What the rsync protocol would send in the clear: the user name, file contents, a directory name. */
const NEVER_IN_CLEAR = [USER, SECRET, 'dir/sub'];

interface Setup {
  work: string;
  clientCa: TestCa;
  src: string;
  daemon: RsyncDaemon;
  relay: TlsRelay;
  agent: Agent;
  logs: string[];
}

/**
 * An agent with one tls remote (pinned server certificate) pushing to `relay`, which requires a client certificate of
 * `clientCa` (unless `require: false`); `client` says which certificate the remote presents, if any.
 */
async function withClientCertAgent(
  opts: { backend: Backend; client: 'issued' | 'none' | 'other-ca'; require?: boolean; module?: string; relay?: TlsRelayOptions },
  body: (s: Setup) => Promise<void>,
): Promise<void> {
  const work = tmpDir('ccert');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon({ auth: { user: USER, password: crypto.randomBytes(12).toString('hex') } }).start();
  await waitUntil(() => daemonConnections(daemon) >= 1, "the readiness probe in the daemon's log");
  const serverCa = await makeCa('RsyncHub server CA');
  const serverCert = await makeServerCert(serverCa, ['ip:127.0.0.1']);
  // The console issues client certificates from its own CA (the same one as the server's, in RsyncHub).
  const clientCa: TestCa = serverCa;
  const relay = await new TlsRelay(daemon.port, serverCert, { ...(opts.require === false ? {} : { clientCa: clientCa.certPem }), ...opts.relay }).start();
  const remote: Record<string, unknown> = {
    host: '127.0.0.1', port: relay.port, module: opts.module ?? 'm', user: USER, passwordFile: daemon.passwordFile, tls: true, fingerprint: serverCert.fingerprint,
  };
  if (opts.client !== 'none') {
    const issuer = opts.client === 'issued' ? clientCa : await makeCa('some other RsyncHub');
    const c = await makeClientCert(issuer, 'web01');
    remote.clientCert = path.join(work, 'web01.crt');
    remote.clientKey = path.join(work, 'web01.key');
    fs.writeFileSync(remote.clientCert as string, c.certPem);
    fs.writeFileSync(remote.clientKey as string, c.keyPem, { mode: 0o600 });
  }
  const config = validateConfig({
    watches: [{ path: src, remotes: [remote] }],
    verify: { intervalSec: 0 },
    // A retryable failure would come back every 50 ms; a refusal waits retry.maxDelayMs.
    retry: { initialDelayMs: 50, maxDelayMs: 3000, factor: 1, jitter: 0 },
  });
  const logs: string[] = [];
  const agent = withTlsRelayChoice(opts.backend, () => new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) }));
  try {
    await agent.start();
    assert.ok(logs.some((l) => l.includes('"msg":"TLS relay"') && l.includes(`"backend":"${opts.backend}"`)), `the agent relays TLS with ${opts.backend}`);
    await body({ work, clientCa, src, daemon, relay, agent, logs });
  } finally {
    await agent.stop();
    await relay.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}




/** What the agent says when the server closed right after the handshake (closedAfterHandshake), per client state. */
const CLOSED = {
  none: /^TLS: the server 127\.0\.0\.1:\d+ closed the connection right after the TLS handshake, before the rsync greeting: either it requires a client certificate and this remote presents none \(issue one on the console's Encryption page .*or its rsync daemon is down; never retried in plaintext$/,
  'other-ca': /^TLS: the server 127\.0\.0\.1:\d+ closed the connection right after the TLS handshake, before the rsync greeting: either it refused the client certificate \S+web01\.crt .*or its rsync daemon is down; never retried in plaintext$/,
};

/**
 * The refusal is loud, names the fix, and nothing reached the daemon. `alert`: the server's TLS alert in the agent's
 * words (kind `tls`, retried only at the slowest pace), or null when the server closes without one. `closed`: the
 * server's close after the handshake in the agent's words (kind `connection`, retried over TLS only).
 * Why either may come with TLS 1.3: the server refuses after the handshake, when rsync's first bytes are already on
 * their way; a server closing with unread data sends a TCP reset, and a reset that arrives before the client has read
 * the alert discards it (the kernel drops what was not read). Then the agent sees only the close.
 */
async function assertRefused(s: Setup, alert: RegExp | null, closed: RegExp | null): Promise<void> {
  writeSecretTree(s.src, SECRET);
  await waitUntil(() => s.agent.targets()[0]!.lastError !== null, 'the push refused');
  const t = s.agent.targets()[0]!;
  const kind = alert?.test(t.lastError!) ? 'tls' : closed?.test(t.lastError!) ? 'connection' : null;
  assert.ok(kind !== null, `the refusal in the agent's words (${alert ?? ''} or ${closed ?? ''}): ${t.lastError}`);
  assert.equal(t.lastErrorKind, kind, t.lastError!);
  if (kind === 'tls') assert.ok(Date.parse(t.nextRetryAt!) - Date.parse(t.lastErrorAt!) >= 2990, `next retry ${t.nextRetryAt} waits retry.maxDelayMs after ${t.lastErrorAt}`);
  await waitUntil(() => s.relay.handshakeFailures >= 1, 'the terminator reports the refused handshake', 10_000);
  assert.equal(s.relay.upstreamConnections, 0, 'the terminator never forwarded anything to the daemon');
  assert.equal(daemonConnections(s.daemon), 1, 'the daemon saw no connection but the readiness probe');
  assert.deepEqual(fs.readdirSync(s.daemon.moduleDir), [], 'nothing arrived');
  assertAllEncrypted(s.relay, NEVER_IN_CLEAR);
  assert.ok(s.agent.targets()[0]!.queueLength > 0, 'the changes stay queued');
}

const TERMINATORS = ['node', 'stunnel'] as const;

for (const backend of BACKENDS) for (const terminator of TERMINATORS) {
  test(`client certificate: a server requiring one gets the issued certificate and the tree arrives identical, nothing in plaintext [${backend}, ${terminator} server]`, async () => {
    await withClientCertAgent({ backend, client: 'issued', relay: { terminator } }, async ({ src, daemon, relay, agent }) => {
      writeSecretTree(src, SECRET);
      await waitConverged(src, [daemon.moduleDir], 'tree over TLS with a client certificate', 30_000);
      fs.renameSync(path.join(src, 'dir/sub'), path.join(src, 'dir/moved'));
      fs.rmSync(path.join(src, 'a.txt'));
      await waitConverged(src, [daemon.moduleDir], 'rename and delete over TLS with a client certificate', 30_000);
      assertAllEncrypted(relay, NEVER_IN_CLEAR);
      if (terminator === 'node') assert.ok(relay.clientNames.length > 0 && relay.clientNames.every((n) => n === 'web01'), `the terminator saw the client certificate: ${relay.clientNames}`);
      assert.ok(relay.upstreamConnections > 0);
      assert.equal(relay.handshakeFailures, 0);
      assert.equal(agent.targets()[0]!.lastError, null);
    });
  });
}

const NONE_CASES = [
  // TLS 1.3: the server's "certificate required" alert comes after the handshake, on the first read.
  { terminator: 'node', version: 'TLSv1.3', native: /^TLS: the server 127\.0\.0\.1:\d+ requires a client certificate and this remote presents none \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: certificate required\): issue one on the console's Encryption page \("Client certificates"\) and set the remote's clientCert and clientKey/ },
  { terminator: 'stunnel', version: 'TLSv1.3', native: /^TLS: the server 127\.0\.0\.1:\d+ requires a client certificate and this remote presents none \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: certificate required\)/ },
  // TLS 1.2: a generic handshake-failure alert. The native connector knows the server asked for a certificate; node
  // does not tell, so the node relay names it as a possibility.
  { terminator: 'node', version: 'TLSv1.2', native: /^TLS: the server 127\.0\.0\.1:\d+ requires a client certificate and this remote presents none \(ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: handshake failure after the server asked for one\)/, node: /^TLS: TLS handshake with 127\.0\.0\.1:\d+ failed \(ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: .*\): the server may require a client certificate \(this remote presents none\): if so, issue one on the console's Encryption page/ },
] as const;

for (const backend of BACKENDS) for (const c of NONE_CASES) {
  test(`client certificate: a remote without one is refused by a server requiring one, the fix named; nothing reaches the daemon [${backend}, ${c.terminator} server, ${c.version}]`, async () => {
    await withClientCertAgent({ backend, client: 'none', relay: { terminator: c.terminator, ...(c.version === 'TLSv1.2' ? { maxVersion: 'TLSv1.2' } : {}) } }, async (s) => {
      // TLS 1.2: refused in the handshake, before rsync's first byte was sent: always the alert.
      await assertRefused(s, backend === 'node' && 'node' in c ? c.node : c.native, c.version === 'TLSv1.3' ? CLOSED.none : null);
    });
  });
}

for (const backend of BACKENDS) {
  test(`client certificate: one from another CA is refused by stunnel (its "unknown ca" alert, or the close after it), the reason and the fix named; nothing reaches the daemon [${backend}]`, async () => {
    await withClientCertAgent({ backend, client: 'other-ca', relay: { terminator: 'stunnel' } }, async (s) => {
      await assertRefused(s, /^TLS: the server 127\.0\.0\.1:\d+ refused the client certificate \S+web01\.crt: it was not issued by the CA this server trusts.*\(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA\): issue a new one on the console's Encryption page/, CLOSED['other-ca']);
    });
  });
  test(`client certificate: one from another CA, closed by a node server after the handshake without an alert: both likely causes named; nothing reaches the daemon [${backend}]`, async () => {
    await withClientCertAgent({ backend, client: 'other-ca' }, async (s) => {
      // node's server checks the certificate after the handshake and destroys the connection without an alert.
      await assertRefused(s, null, CLOSED['other-ca']);
    });
  });
}

for (const backend of BACKENDS) test(`client certificate: a tls remote without one that the daemon refuses (Unknown module) is told a client certificate may be what is missing [${backend}]`, async () => {
  // The server's TLS front lets the connection through and the daemon refuses the module: what RsyncHub's daemon
  // answers for a module that requires a client certificate the connection did not present.
  await withClientCertAgent({ backend, client: 'none', require: false, module: 'needscert' }, async ({ src, agent, relay }) => {
    writeSecretTree(src, SECRET);
    await waitUntil(() => agent.targets()[0]!.lastError !== null, 'the push refused by the daemon');
    const t = agent.targets()[0]!;
    assert.match(t.lastError!, /@ERROR: Unknown module 'needscert'/);
    assert.match(t.lastError!, /this tls remote presents no client certificate; if the module requires one \(tlsClientCert\), issue one on the console's Encryption page/);
    assert.equal(t.lastErrorKind, 'module');
    assert.ok(relay.upstreamConnections > 0, 'the daemon answered');
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
  });
});

for (const backend of BACKENDS) test(`client certificate: the files are read per run (a warm standby's too): a replaced one is used from the next push on [${backend}]`, async () => {
  await withClientCertAgent({ backend, client: 'issued' }, async ({ work, clientCa, src, daemon, relay, agent }) => {
    const put = (c: { certPem: string; keyPem: string }) => {
      // Replaced as a renewal tool would: new files renamed over the old ones.
      fs.writeFileSync(path.join(work, 'next.crt'), c.certPem);
      fs.writeFileSync(path.join(work, 'next.key'), c.keyPem, { mode: 0o600 });
      fs.renameSync(path.join(work, 'next.crt'), path.join(work, 'web01.crt'));
      fs.renameSync(path.join(work, 'next.key'), path.join(work, 'web01.key'));
    };
    fs.writeFileSync(path.join(src, 'first.txt'), `${SECRET} 1\n`);
    await waitConverged(src, [daemon.moduleDir], 'the first push', 30_000);
    // The native connector's standby (started before the files change) reads them only when released.
    if (backend === 'native') await waitUntil(() => agent.targets()[0]!.warmStandby?.pid != null, 'a warm standby waiting', 20_000);
    const usedBefore = agent.targets()[0]!.warmStandby?.used ?? 0;
    put(await makeClientCert(await makeCa('some other RsyncHub'), 'web01'));
    fs.writeFileSync(path.join(src, 'second.txt'), `${SECRET} 2\n`);
    await waitUntil(() => /closed the connection right after the TLS handshake.*refused the client certificate/.test(agent.targets()[0]!.lastError ?? ''), 'the push with the replaced (foreign) certificate refused');
    assert.ok(!fs.existsSync(path.join(daemon.moduleDir, 'second.txt')));
    // The refused run was the standby started before the files changed: it read them when released.
    if (backend === 'native') assert.ok((agent.targets()[0]!.warmStandby?.used ?? 0) > usedBefore, 'the refused run went through the warm standby');
    put(await makeClientCert(clientCa, 'web01')); // renewed by the right CA
    await waitConverged(src, [daemon.moduleDir], 'the push with the renewed certificate', 30_000);
    await waitUntil(() => agent.targets()[0]!.lastError === null, 'the error cleared');
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
  });
});
