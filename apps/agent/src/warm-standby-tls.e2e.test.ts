/**
 * The warm standby for a TLS remote (warm-standby.ts, native/rsynchub-tls.c holding on RSYNCHUB_GATE_FD): real rsync,
 * a real `rsync --daemon` behind a TLS terminator with a wire capture (tls-test-support.ts). An idle standby opens no
 * connection to the TLS port; an edit goes through it, encrypted; a discarded standby's connector never connects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { RsyncDaemon, tmpDir, waitConverged, waitUntil } from './e2e-support';
import { createLogger } from './log';
import { makeCa, makeServerCert, TlsRelay } from './tls-test-support';

const USER = 'warmtlspusher';
const SECRET = 'warm-tls-plaintext-marker-5c1d';

test('tls (native connector): an idle standby opens no connection; an edit goes through it, encrypted; pause discards it unconnected', async () => {
  const work = tmpDir('warm-tls');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon({ auth: { user: USER, password: crypto.randomBytes(12).toString('hex') } }).start();
  const cert = await makeServerCert(await makeCa(), ['dns:elsewhere.example']);
  const front = await new TlsRelay(daemon.port, cert).start();
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{
      path: src,
      remotes: [{ host: '127.0.0.1', port: front.port, module: 'm', user: USER, passwordFile: daemon.passwordFile, tls: true, fingerprint: cert.fingerprint }],
    }],
    verify: { intervalSec: 0 },
    retry: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 },
  });
  const saved = process.env.RSYNCHUB_AGENT_TLS_RELAY;
  delete process.env.RSYNCHUB_AGENT_TLS_RELAY;
  const agent = new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) });
  if (saved !== undefined) process.env.RSYNCHUB_AGENT_TLS_RELAY = saved;
  try {
    await agent.start();
    assert.ok(logs.some((l) => l.includes('"msg":"TLS relay"') && l.includes('"backend":"native"')), 'the agent relays with the native connector');
    await waitUntil(() => agent.targets()[0]!.warmStandby?.pid != null, 'a standby waiting');
    const sb = agent.targets()[0]!.warmStandby!;
    const idleUntil = Date.now() + 2000;
    await waitUntil(() => Date.now() >= idleUntil, 'two idle seconds', 4000);
    assert.equal(front.connections, 0, 'nothing connected to the TLS port while the standby waited');
    const editAt = Date.now();
    fs.writeFileSync(path.join(src, 'secret.txt'), `${SECRET}\n`);
    await waitConverged(src, [daemon.moduleDir], 'the edit over TLS');
    await waitUntil(() => logs.some((l) => l.includes('"msg":"rsync run"') && l.includes('"code":0')), 'the run logged');
    const run = JSON.parse(logs.find((l) => l.includes('"msg":"rsync run"') && l.includes('"code":0'))!) as { warm: boolean; standbyStartedAt?: string };
    assert.equal(run.warm, true, 'the run went through the standby');
    assert.equal(run.standbyStartedAt, sb.readyAt);
    assert.ok(Date.parse(run.standbyStartedAt!) < editAt);
    assert.ok(front.connections >= 1);
    assert.deepEqual(front.firstBytes.filter((b) => b !== 0x16), [], 'every connection starts with a TLS handshake');
    for (const clear of ['@RSYNCD', USER, SECRET]) assert.equal(front.wire().indexOf(clear), -1, `"${clear}" crossed the wire in the clear`);
    // Pause: the waiting standby (a new one, started after the run) is killed without connecting.
    await waitUntil(() => agent.targets()[0]!.warmStandby?.pid != null && agent.targets()[0]!.inFlight === false, 'the next standby waiting');
    const before = front.connections;
    const pid = agent.targets()[0]!.warmStandby!.pid!;
    const paused = spawnSync(process.execPath, [path.join(__dirname, 'main.js'), 'pause', '--target', agent.targets()[0]!.id, '--state-dir', path.join(work, 'state')]);
    assert.equal(paused.status, 0, String(paused.stderr));
    await waitUntil(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the paused target\'s standby gone');
    assert.equal(front.connections, before, 'the discarded standby never connected');
  } finally {
    await agent.stop();
    await front.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
