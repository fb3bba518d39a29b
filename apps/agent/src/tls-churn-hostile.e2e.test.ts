/**
 * Both native helpers at once under attack: the agent pushes a churning tree over TLS through the native connector,
 * with every rsync started by the launcher, while both the launcher and the connectors in flight are killed with
 * SIGKILL again and again. Real rsync, a real daemon behind a TLS terminator with a wire capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent } from './agent';
import { formatStatus } from './cli';
import { validateConfig } from './config';
import { RsyncDaemon, sleep, tmpDir, waitConverged, waitUntil } from './e2e-support';
import { createLogger } from './log';
import { launcherPid } from './rsync-launcher';
import { makeCa, makeServerCert, TlsRelay } from './tls-test-support';

const USER = 'churnpusher';
const SECRET = 'tls-churn-plaintext-marker-5c1d';

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

test('tls churn: kill -9 of the launcher and of connectors in flight during churn over TLS: nothing lost, nothing in plaintext, status names both paths', async () => {
  const work = tmpDir('tls-churn');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon({ auth: { user: USER, password: crypto.randomBytes(12).toString('hex') } }).start();
  const cert = await makeServerCert(await makeCa(), ['dns:elsewhere.example']);
  const front = await new TlsRelay(daemon.port, cert).start();
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{
      path: src,
      rsyncParams: ['-a'],
      remotes: [{ host: '127.0.0.1', port: front.port, module: 'm', user: USER, passwordFile: daemon.passwordFile, tls: true, fingerprint: cert.fingerprint }],
    }],
    retry: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 },
  });
  const saved = { relay: process.env.RSYNCHUB_AGENT_TLS_RELAY, spawn: process.env.RSYNCHUB_AGENT_SPAWN };
  delete process.env.RSYNCHUB_AGENT_TLS_RELAY;
  delete process.env.RSYNCHUB_AGENT_SPAWN;
  const agent = new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) });
  try {
    await agent.start();
    assert.equal(agent.snapshot().tlsRelay, 'native');
    assert.equal(agent.snapshot().rsyncSpawn, 'launcher');
    let stop = false;
    let killedLaunchers = 0;
    let killedConnectors = 0;
    const killer = (async () => {
      while (!stop) {
        const l = launcherPid();
        if (l && killedLaunchers < 6) {
          try { process.kill(l, 'SIGKILL'); killedLaunchers++; } catch { /* gone */ }
        }
        for (const pid of connectorsFor(front.port)) {
          try { process.kill(pid, 'SIGKILL'); killedConnectors++; } catch { /* gone */ }
        }
        await sleep(150);
      }
    })();
    const odd = ['with space', 'new\nline', '-dash', 'tab\there', '%H%%', 'back\\slash', "qu'o\"te", 'ünïcødé-日本', '*?[x]'];
    const deadline = Date.now() + 5000;
    let i = 0;
    while (Date.now() < deadline) {
      const dir = path.join(src, `d${i % 7}`);
      fs.mkdirSync(dir, { recursive: true });
      const name = path.join(dir, `${odd[i % odd.length]}-${i % 40}.txt`);
      if (i % 9 === 8 && fs.existsSync(name)) fs.rmSync(name);
      else fs.writeFileSync(name, `${SECRET} ${i}\n`.repeat(1 + (i % 50) * 20));
      if (i % 25 === 24) fs.renameSync(dir, path.join(src, `r${i}`));
      i++;
      await sleep(5);
    }
    stop = true;
    await killer;
    await waitConverged(src, [daemon.moduleDir], 'the churned tree after the helpers were killed', 90_000);
    assert.ok(killedConnectors >= 1, `connectors killed in flight: ${killedConnectors}`);
    assert.ok(killedLaunchers >= 1, `launchers killed: ${killedLaunchers}`);
    assert.deepEqual(front.firstBytes.filter((b) => b !== 0x16), [], 'every connection started with a TLS handshake');
    for (const clear of ['@RSYNCD', USER, SECRET]) assert.equal(front.wire().indexOf(clear), -1, `"${clear}" crossed the wire in the clear`);
    // After more deaths than its restart budget the agent starts rsync with node's spawn, and says so.
    const way = agent.snapshot().rsyncSpawn;
    assert.match(formatStatus(agent.snapshot(), true), new RegExp(`; TLS relay native; rsync started by ${way}\\b`));
    if (killedLaunchers > 3) assert.equal(way, 'node');
    // A later edit still arrives.
    fs.writeFileSync(path.join(src, 'after.txt'), 'after\n');
    await waitConverged(src, [daemon.moduleDir], 'an edit after the attack', 30_000);
  } finally {
    await agent.stop();
    if (saved.relay !== undefined) process.env.RSYNCHUB_AGENT_TLS_RELAY = saved.relay;
    if (saved.spawn !== undefined) process.env.RSYNCHUB_AGENT_SPAWN = saved.spawn;
    await front.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
