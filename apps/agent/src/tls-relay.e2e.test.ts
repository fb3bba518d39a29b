/**
 * The agent's TLS relay (tls-relay.ts) against a real `rsync --daemon` behind a TLS terminator with a wire capture
 * (tls-test-support.ts): who may connect to the relay's local port. Only the rsync of the run in flight gets through;
 * any other process on the machine is closed without a byte, before and during the run, and after the run nothing
 * listens at all. The run itself goes through throughTlsRelay, the function every TLS run of the agent uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { RsyncDaemon, tmpDir } from './e2e-support';
import { throughTlsRelay, tlsTransport } from './rsync-runner';
import { makeCa, makeServerCert, TlsRelay } from './tls-test-support';

const USER = 'relayuser';
const SECRET = 'relay-plaintext-marker-51c2';

/** Connects from this process (not the run's rsync) and reports what happened: refused, or closed after n bytes. */
function probe(port: number): Promise<{ refused: boolean; bytes: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const s = net.connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ refused: e.code === 'ECONNREFUSED', bytes }));
    // rsync's daemon speaks first (@RSYNCD greeting): a relayed probe would receive bytes before any close.
    s.on('connect', () => s.write('@RSYNCD: 31.0\n'));
    s.on('close', () => resolve({ refused: false, bytes }));
  });
}

function exitOf(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

test('tls relay: a process that connects to the relay port when no run is in flight, or that is not the run\'s rsync, is refused; the run\'s rsync gets through', async () => {
  const work = tmpDir('tls-relay');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f.txt'), `${SECRET}\n`);
  const daemon = await new RsyncDaemon({ auth: { user: USER, password: crypto.randomBytes(12).toString('hex') } }).start();
  const ca = await makeCa();
  const cert = await makeServerCert(ca, ['dns:elsewhere.example']);
  const front = await new TlsRelay(daemon.port, cert).start();
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const transport = tlsTransport({ host: '127.0.0.1', port: front.port, module: 'm', user: USER, passwordFile: daemon.passwordFile, tls: true, fingerprint: cert.fingerprint }, 10, null)!; // the node relay (the native connector has no local port)
    let relayPort = 0;
    const seen: Record<string, { refused: boolean; bytes: number }> = {};
    const res = await throughTlsRelay(transport, ['-a', `--password-file=${daemon.passwordFile}`, 'f.txt', transport.url], (m) => ({ code: 1, stderr: m }),
      async (args, env, started) => {
        const url = args[args.length - 1]!;
        assert.match(url, /^rsync:\/\/relayuser@127\.0\.0\.1:\d+\/m\/$/, 'rsync is pointed at the local relay');
        relayPort = Number(/:(\d+)\//.exec(url)![1]);
        // The run's rsync is not started yet: whoever connects now is someone else.
        seen.beforeRsync = await probe(relayPort);
        // The relay expects another process (a `sleep`): this process's connection is not held by it.
        started(sleeper.pid);
        seen.notTheRunsProcess = await probe(relayPort);
        const child = spawn('rsync', args, { cwd: src, env, stdio: ['ignore', 'ignore', 'pipe'] });
        started(child.pid);
        const out = await exitOf(child);
        // The run's rsync took the one connection of this run: the listener is closed already.
        seen.duringRunAfterRsync = await probe(relayPort);
        return out;
      });
    assert.equal(res.code, 0, `the run's rsync got through: ${res.stderr}`);
    assert.equal(fs.readFileSync(path.join(daemon.moduleDir, 'f.txt'), 'utf8'), `${SECRET}\n`);
    assert.deepEqual(seen.beforeRsync, { refused: false, bytes: 0 }, 'a connection before the run\'s rsync started is closed without a byte');
    assert.deepEqual(seen.notTheRunsProcess, { refused: false, bytes: 0 }, 'a connection from a process other than the run\'s rsync is closed without a byte');
    assert.deepEqual(seen.duringRunAfterRsync, { refused: true, bytes: 0 }, 'after the run\'s one connection the port is closed');
    // No run in flight: nothing listens on the relay's port.
    assert.deepEqual(await probe(relayPort), { refused: true, bytes: 0 }, 'no run in flight: the relay port refuses connections');
    // Only the run's rsync reached the TLS port's far side, and only in ciphertext.
    assert.deepEqual(front.firstBytes.filter((b) => b !== 0x16), [], 'every connection at the TLS port starts with a TLS handshake');
    for (const clear of ['@RSYNCD', USER, SECRET]) assert.equal(front.wire().indexOf(clear), -1, `"${clear}" crossed the wire in the clear`);
    assert.equal(front.upstreamConnections, 1, 'one relayed connection reached the daemon: the run\'s');
  } finally {
    sleeper.kill();
    await front.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
