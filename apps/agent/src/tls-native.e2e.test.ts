/**
 * The agent's native TLS connector (native/rsynchub-tls.c, tls-native.ts) on real parts: real rsync, a real
 * `rsync --daemon` behind a TLS terminator with a wire capture (tls-test-support.ts). The certificate cases (pin, wrong
 * pin, CA, wrong CA, wrong name, expired) run for both relays in tls.e2e.test.ts; this file covers what is particular
 * to the native path: the fallback to the node relay, a server that stalls in the handshake, a connector killed mid-push
 * (the agent retries, nothing is lost), odd file names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { RsyncDaemon, tmpDir, waitConverged, waitUntil } from './e2e-support';
import { createLogger } from './log';
import { classifyExit, runRsync, tlsTransport } from './rsync-runner';
import { chooseTlsRelay, NATIVE_TLS_CONNECTOR, nativeRunEnv } from './tls-native';
import { makeCa, makeServerCert, TlsRelay } from './tls-test-support';

const USER = 'nativepusher';
const SECRET = 'native-plaintext-marker-93be';

function assertAllEncrypted(front: TlsRelay): void {
  assert.ok(front.connections > 0, 'something connected to the TLS port');
  assert.deepEqual(front.firstBytes.filter((b) => b !== 0x16), [], 'every connection at the TLS port starts with a TLS handshake');
  for (const clear of ['@RSYNCD', USER, SECRET]) assert.equal(front.wire().indexOf(clear), -1, `"${clear}" crossed the wire in the clear`);
}

async function withFront(body: (ctx: { work: string; src: string; daemon: RsyncDaemon; front: TlsRelay; fingerprint: string }) => Promise<void>): Promise<void> {
  const work = tmpDir('tls-native');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon({ auth: { user: USER, password: crypto.randomBytes(12).toString('hex') } }).start();
  const cert = await makeServerCert(await makeCa(), ['dns:elsewhere.example']);
  const front = await new TlsRelay(daemon.port, cert).start();
  try {
    await body({ work, src, daemon, front, fingerprint: cert.fingerprint });
  } finally {
    await front.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

test('tls native: built next to the agent and chosen by default; a missing or broken connector falls back to the node relay, which still pushes over TLS only', async () => {
  assert.deepEqual(chooseTlsRelay(NATIVE_TLS_CONNECTOR, {}), { connector: NATIVE_TLS_CONNECTOR }, 'the build put a working connector next to the agent');
  assert.equal(chooseTlsRelay(NATIVE_TLS_CONNECTOR, { RSYNCHUB_AGENT_TLS_RELAY: 'node' }).connector, null, 'RSYNCHUB_AGENT_TLS_RELAY=node chooses the node relay');
  await withFront(async ({ work, src, daemon, front, fingerprint }) => {
    const missing = chooseTlsRelay(path.join(work, 'no-such-rsynchub-tls'), {});
    assert.equal(missing.connector, null);
    assert.match(missing.reason!, /native connector not built .*libssl-dev/);
    // Present but unusable (e.g. libssl missing at run time): it does not answer --version as the connector.
    const broken = path.join(work, 'broken-rsynchub-tls');
    fs.writeFileSync(broken, '#!/bin/sh\necho "error while loading shared libraries: libssl.so.3" >&2\nexit 127\n', { mode: 0o755 });
    const b = chooseTlsRelay(broken, {});
    assert.equal(b.connector, null);
    assert.match(b.reason!, /does not run .*libssl\.so\.3/);
    for (const choice of [missing, b]) {
      fs.writeFileSync(path.join(src, 'f.txt'), `${SECRET} ${choice.reason}\n`);
      const t = tlsTransport({ host: '127.0.0.1', port: front.port, module: 'm', user: USER, tls: true, fingerprint }, 10, choice.connector)!;
      const r = await runRsync(['-a', `--password-file=${daemon.passwordFile}`, 'f.txt', t.url], { cwd: src, tls: t });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.readFileSync(path.join(daemon.moduleDir, 'f.txt'), 'utf8'), `${SECRET} ${choice.reason}\n`);
    }
    assertAllEncrypted(front);
    assert.equal(front.upstreamConnections, 2);
  });
});

test('tls native: a server that accepts and never answers the handshake is a retryable connection error after connectTimeoutSec; with no timeout the connector leaves as soon as rsync is gone', async () => {
  const held = new Set<net.Socket>();
  let closedByClient = 0;
  const silent = net.createServer((s) => {
    held.add(s);
    s.on('close', () => closedByClient++);
    s.on('error', () => undefined);
    s.resume(); // read (and drop) what arrives, so the client's close is seen
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as net.AddressInfo).port;
  const work = tmpDir('tls-native-stall');
  try {
    fs.writeFileSync(path.join(work, 'f.txt'), 'x');
    const t = tlsTransport({ host: '127.0.0.1', port, module: 'm', tls: true, fingerprint: 'AB:'.repeat(31) + 'AB' }, 2, NATIVE_TLS_CONNECTOR)!;
    const t0 = Date.now();
    const r = await runRsync(['-a', 'f.txt', t.url], { cwd: work, tls: t });
    const c = classifyExit(r);
    assert.deepEqual({ ok: c.ok, retryable: c.retryable, kind: c.kind }, { ok: false, retryable: true, kind: 'connection' }, r.stderr);
    assert.match(c.message!, /^TLS: no TLS connection to 127\.0\.0\.1:\d+ within 2s \(connectTimeoutSec\)/);
    assert.ok(Date.now() - t0 >= 1900, `gave up after ${Date.now() - t0} ms, not before the 2 s`);
    await waitUntil(() => closedByClient >= 1, 'the connector closed its connection to the silent server');

    // connectTimeoutSec 0: no limit of its own. rsync is killed (the agent's stall watchdog, a stop): the connector
    // must not stay behind holding the connection.
    const before = closedByClient;
    const env = nativeRunEnv(NATIVE_TLS_CONNECTOR, { host: '127.0.0.1', port, timeoutMs: 0, fingerprint: t.settings.fingerprint }, { PATH: process.env.PATH });
    const rsync = spawn('rsync', ['-a', 'f.txt', t.url], { cwd: work, env, stdio: 'ignore' });
    await waitUntil(() => held.size >= 2, 'the connector connected to the silent server');
    await new Promise((r) => setTimeout(r, 300)); // let it sit in the handshake
    rsync.kill('SIGKILL');
    await waitUntil(() => closedByClient > before, 'the connector left when rsync was killed', 10_000);
  } finally {
    for (const s of held) s.destroy();
    silent.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

/** Pids of running native connectors whose settings point at `port`. */
function connectorsFor(port: number): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim() !== 'rsynchub-tls') continue;
      if (fs.readFileSync(`/proc/${e}/environ`, 'latin1').split('\0').includes(`RSYNCHUB_TLS_PORT=${port}`)) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('tls native: kill -9 of the connector mid-push fails that run as a retryable error; the agent pushes again and every change arrives, odd file names included', async () => {
  await withFront(async ({ work, src, daemon, front, fingerprint }) => {
    const logs: string[] = [];
    const config = validateConfig({
      watches: [{
        path: src,
        // Slow enough (1 MB/s) that the big file's push is in flight when the connector is killed.
        rsyncParams: ['-a', '--bwlimit=1000'],
        remotes: [{ host: '127.0.0.1', port: front.port, module: 'm', user: USER, passwordFile: daemon.passwordFile, tls: true, fingerprint }],
      }],
      retry: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 },
    });
    const saved = process.env.RSYNCHUB_AGENT_TLS_RELAY;
    delete process.env.RSYNCHUB_AGENT_TLS_RELAY;
    const agent = new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) });
    if (saved !== undefined) process.env.RSYNCHUB_AGENT_TLS_RELAY = saved;
    try {
      await agent.start();
      assert.ok(logs.some((l) => l.includes('"msg":"TLS relay"') && l.includes('"backend":"native"')), 'the agent relays with the native connector');
      fs.writeFileSync(path.join(src, 'big.bin'), crypto.randomBytes(4 << 20));
      // Mid-push: the connector has relayed the run to the daemon (the terminator's upstream connection is open).
      await waitUntil(() => front.upstreamConnections >= 1, 'the big file\'s push under way', 20_000);
      let killed = 0;
      await waitUntil(() => {
        const pids = connectorsFor(front.port);
        for (const pid of pids) {
          process.kill(pid, 'SIGKILL');
          killed++;
        }
        return killed > 0;
      }, 'a connector in flight to kill', 20_000);
      // Odd names, written while the first push is failing: they must arrive too.
      const odd = ['with space.txt', 'new\nline.txt', '-leading-dash', 'tab\there', '%H%%.txt', 'back\\slash', "qu'o\"te", 'ünïcødé-日本.txt', `${'l'.repeat(250)}.txt`, '*?[x].txt'];
      for (const name of odd) fs.writeFileSync(path.join(src, name), `${SECRET} ${name}\n`);
      await waitUntil(() => agent.targets()[0]!.lastError !== null || logs.some((l) => /"level":"(warn|error)".*(rsync|push)/i.test(l)), 'the killed run recorded as a failure', 20_000);
      await waitConverged(src, [daemon.moduleDir], 'every change after the connector was killed', 60_000);
      assert.ok(killed >= 1);
      assert.ok(front.upstreamConnections >= 2, `the agent connected again after the kill (${front.upstreamConnections} connections)`);
      for (const name of odd) assert.equal(fs.readFileSync(path.join(daemon.moduleDir, name), 'utf8'), `${SECRET} ${name}\n`, name);
      assertAllEncrypted(front);
      await waitUntil(() => agent.targets()[0]!.lastError === null, 'the target healthy again');
    } finally {
      await agent.stop();
    }
  });
});
