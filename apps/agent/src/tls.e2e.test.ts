/**
 * Issue 11, agent side: pushes over TLS through the agent's in-process TLS relay (tls-relay.ts), against a real
 * `rsync --daemon` behind a TLS terminator with a wire capture (tls-test-support.ts). Real rsync, real certificates,
 * real inotify events. "Nothing in plaintext" is asserted on both sides: every connection at the TLS port starts with a
 * TLS handshake and the captured bytes hold neither the rsync greeting, the user name nor file contents; a refused
 * certificate leaves the daemon's log without a connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { formatStatus } from './cli';
import { RsyncDaemon, tmpDir, waitConverged, waitUntil, sleep } from './e2e-support';
import { assertAllEncrypted, daemonConnections, makeCa, makeServerCert, type TestServerCert, TlsRelay, withTlsRelayChoice, writeSecretTree } from './tls-test-support';
import { showFingerprint } from './tls-options';

const USER = 'tlspusher';
/**
 * Every test runs with both of the agent's TLS relays: the native connector (rsynchub-tls, C + OpenSSL, the default)
 * and the in-process node relay (the fallback when the connector is not built; RSYNCHUB_AGENT_TLS_RELAY=node).
 */
const BACKENDS = ['native', 'node'] as const;
type Backend = (typeof BACKENDS)[number];
/** Marker in every file's contents: must never appear on the wire. */
const SECRET = 'plaintext-marker-7f3a9c';
/** What the rsync protocol would send in the clear: the user name, file contents, a directory name. */
const NEVER_IN_CLEAR = [USER, SECRET, 'dir/sub'];

interface Setup {
  work: string;
  src: string;
  daemon: RsyncDaemon;
  relay: TlsRelay;
  agent: Agent;
  logs: string[];
  heartbeats: { targets: { lastError: string | null }[] }[];
}

async function withTlsAgent(
  opts: { backend: Backend; serverNames: string[]; remote: (ctx: { caFile: string; cert: TestServerCert }) => Record<string, unknown>; verifySec?: number; retry?: object; expired?: boolean },
  body: (s: Setup) => Promise<void>,
): Promise<void> {
  const work = tmpDir('tls');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon({ auth: { user: USER, password: crypto.randomBytes(12).toString('hex') } }).start();
  // RsyncDaemon.start's readiness probe is one connection in the daemon's log; every later one is the agent's.
  await waitUntil(() => daemonConnections(daemon) >= 1, "the readiness probe in the daemon's log");
  const ca = await makeCa();
  const caFile = path.join(work, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  const cert = await makeServerCert(ca, opts.serverNames, { expired: opts.expired });
  const relay = await new TlsRelay(daemon.port, cert).start();
  const heartbeats: Setup['heartbeats'] = [];
  const hub = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      heartbeats.push(JSON.parse(data));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', () => r()));
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{
      path: src,
      remotes: [{ port: relay.port, module: 'm', user: USER, passwordFile: daemon.passwordFile, tls: true, ...opts.remote({ caFile, cert }) }],
    }],
    verify: { intervalSec: opts.verifySec ?? 0 },
    heartbeat: { url: `http://127.0.0.1:${(hub.address() as { port: number }).port}`, token: 't', intervalSec: 1 },
    ...(opts.retry ? { retry: opts.retry } : {}),
  });
  const agent = withTlsRelayChoice(opts.backend, () => new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) }));
  try {
    await agent.start();
    assert.ok(logs.some((l) => l.includes('"msg":"TLS relay"') && l.includes(`"backend":"${opts.backend}"`)), `the agent says it relays TLS with ${opts.backend}: ${logs.filter((l) => l.includes('TLS relay')).join(' ')}`);
    await body({ work, src, daemon, relay, agent, logs, heartbeats });
  } finally {
    await agent.stop();
    await relay.stop();
    hub.close();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}




for (const backend of BACKENDS) test(`tls with a pinned fingerprint: the tree converges over TLS (verification too), nothing in plaintext [${backend}]`, async () => {
  // The pin is the whole trust: the certificate names some other host and is signed by a CA the agent never sees.
  // Bare lowercase hex: one of the accepted forms (the others are in tls-options.test.ts).
  await withTlsAgent({
    backend,
    serverNames: ['dns:elsewhere.example'], verifySec: 1,
    remote: ({ cert }) => ({ host: '127.0.0.1', fingerprint: cert.fingerprint.replace(/:/g, '').toLowerCase() }),
  }, async ({ src, daemon, relay, agent }) => {
    writeSecretTree(src, SECRET);
    await waitConverged(src, [daemon.moduleDir], 'tree over TLS (pinned fingerprint)', 30_000);
    fs.renameSync(path.join(src, 'dir/sub'), path.join(src, 'dir/moved'));
    fs.rmSync(path.join(src, 'a.txt'));
    await waitConverged(src, [daemon.moduleDir], 'rename and delete over TLS', 30_000);
    // Self-verification runs its own rsync: it must go through the relay as well (it would show up as a
    // connection starting with '@' otherwise) and find nothing to do.
    await waitUntil(() => (Object.values(agent.verification())[0]?.runs ?? 0) >= 1, 'a verification run over TLS', 20_000);
    await waitUntil(() => Object.values(agent.verification())[0]!.lastResult === '0 differences', 'a clean verification over TLS', 20_000);
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
    assert.ok(relay.upstreamConnections > 0);
    const t = agent.targets()[0]!;
    assert.equal(t.tls, true);
    assert.equal(t.lastError, null);
    assert.match(formatStatus(agent.snapshot(), true), /rsync:\/\/tlspusher@127\.0\.0\.1:\d+\/m\/ \(tls\)\s+\S+\s+\S+\s+active/);
    // status says which paths run: the TLS relay (native connector or node relay) and how rsync is started.
    assert.equal(agent.snapshot().tlsRelay, backend);
    assert.match(formatStatus(agent.snapshot(), true), new RegExp(`; TLS relay ${backend}; rsync started by (launcher|node)\\b`));
  });
});

for (const backend of BACKENDS) test(`tls with caFile and the right host name: the tree converges over TLS [${backend}]`, async () => {
  await withTlsAgent({
    backend,
    serverNames: ['dns:localhost', 'ip:127.0.0.1'],
    remote: ({ caFile }) => ({ host: 'localhost', caFile }),
  }, async ({ src, daemon, relay, agent }) => {
    writeSecretTree(src, SECRET);
    await waitConverged(src, [daemon.moduleDir], 'tree over TLS (caFile, host name localhost)', 30_000);
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
    assert.equal(agent.targets()[0]!.lastError, null);
  });
});

for (const backend of BACKENDS) test(`tls with a wrong pinned fingerprint: a loud error naming both fingerprints and the fix, shown in status and the heartbeat; nothing in plaintext, no retry spin [${backend}]`, async () => {
  const wrong = crypto.createHash('sha256').update('some other certificate').digest('hex');
  let cert: TestServerCert | undefined;
  await withTlsAgent({
    backend,
    serverNames: ['ip:127.0.0.1'],
    remote: ({ cert: c }) => {
      cert = c;
      return { host: '127.0.0.1', fingerprint: `sha256:${wrong}` };
    },
    // A retryable failure would come back every 50 ms; a certificate refusal must wait retry.maxDelayMs.
    retry: { initialDelayMs: 50, maxDelayMs: 3000, factor: 1, jitter: 0 },
  }, async ({ src, daemon, relay, agent, logs, heartbeats }) => {
    writeSecretTree(src, SECRET);
    await waitUntil(() => agent.targets()[0]!.lastError !== null, 'the push refused');
    const t = agent.targets()[0]!;
    const real = showFingerprint(cert!.fingerprint);
    assert.match(t.lastError!, /^TLS: server certificate fingerprint sha256:[0-9A-F:]+ of 127\.0\.0\.1:\d+ does not match the pinned sha256:/);
    assert.ok(t.lastError!.includes(real), `the message shows the server's real fingerprint ${real}: ${t.lastError}`);
    assert.ok(t.lastError!.includes(showFingerprint(wrong.toUpperCase().match(/../g)!.join(':'))), 'and the pinned one');
    assert.match(t.lastError!, /copy the new fingerprint from the console's Encryption page/);
    assert.equal(t.lastErrorKind, 'tls');
    assert.match(formatStatus(agent.snapshot(), true), /TLS REFUSED/);
    assert.ok(logs.some((l) => /"level":"error".*TLS connection refused: nothing pushed, never retried in plaintext/.test(l)), 'logged at error level');
    await waitUntil(() => heartbeats.some((h) => /does not match the pinned/.test(h.targets[0]?.lastError ?? '')), 'the error in a heartbeat', 10_000);
    // No spin: the next attempt is scheduled retry.maxDelayMs (3 s) after the failure, not the 50 ms of a retryable
    // one; and in any 4.5 s there are at most two attempts.
    assert.ok(Date.parse(t.nextRetryAt!) - Date.parse(t.lastErrorAt!) >= 2990, `next retry ${t.nextRetryAt} after the failure at ${t.lastErrorAt}`);
    const before = relay.connections;
    await sleep(4500);
    assert.ok(relay.connections - before <= 2, `${relay.connections - before} attempts in 4.5 s`);
    assert.ok(agent.targets()[0]!.queueLength > 0, 'the changes stay queued');
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
    assert.equal(relay.upstreamConnections, 0, 'the terminator never forwarded anything to the daemon');
    assert.equal(daemonConnections(daemon), 1, 'the daemon saw no connection but the readiness probe');
    assert.deepEqual(fs.readdirSync(daemon.moduleDir), [], 'nothing arrived');
  });
});

for (const backend of BACKENDS) test(`tls with caFile and a certificate for another name: refused (name named), nothing in plaintext [${backend}]`, async () => {
  await withTlsAgent({
    backend,
    serverNames: ['dns:other.example'],
    remote: ({ caFile }) => ({ host: '127.0.0.1', caFile }),
  }, async ({ src, daemon, relay, agent }) => {
    writeSecretTree(src, SECRET);
    await waitUntil(() => agent.targets()[0]!.lastError !== null, 'the push refused');
    const t = agent.targets()[0]!;
    assert.match(t.lastError!, /^TLS: server certificate of 127\.0\.0\.1:\d+ is not valid for the name "127\.0\.0\.1" \(it names DNS:other\.example\).*not retried in plaintext/);
    assert.equal(t.lastErrorKind, 'tls');
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
    assert.equal(relay.upstreamConnections, 0);
    assert.equal(daemonConnections(daemon), 1, 'the daemon saw no connection but the readiness probe');
  });
});

for (const backend of BACKENDS) test(`tls with caFile: a certificate from another CA, or an expired one, is refused with its reason [${backend}]`, async () => {
  const otherCa = await makeCa('someone else');
  await withTlsAgent({
    backend,
    serverNames: ['ip:127.0.0.1'],
    remote: ({ caFile }) => {
      fs.writeFileSync(caFile, otherCa.certPem); // the agent trusts a different CA than the one that signed the server
      return { host: '127.0.0.1', caFile };
    },
  }, async ({ src, daemon, relay, agent }) => {
    writeSecretTree(src, SECRET);
    await waitUntil(() => agent.targets()[0]!.lastError !== null, 'the push refused');
    assert.match(agent.targets()[0]!.lastError!, /is not trusted by the CA in caFile .*ca\.pem.*console's Encryption page/);
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
    assert.equal(daemonConnections(daemon), 1, 'the daemon saw no connection but the readiness probe');
  });
  await withTlsAgent({
    backend,
    serverNames: ['ip:127.0.0.1'], expired: true,
    remote: ({ caFile }) => ({ host: '127.0.0.1', caFile }),
  }, async ({ src, daemon, relay, agent }) => {
    writeSecretTree(src, SECRET);
    await waitUntil(() => agent.targets()[0]!.lastError !== null, 'the push refused');
    assert.match(agent.targets()[0]!.lastError!, /has expired.*renew it on the server/);
    assertAllEncrypted(relay, NEVER_IN_CLEAR);
    assert.equal(daemonConnections(daemon), 1, 'the daemon saw no connection but the readiness probe');
  });
});
