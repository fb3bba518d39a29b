/**
 * Issue 11 end to end: the source agent pushes into a `tlsOnly` module of the real RsyncHub server through the server's
 * own TLS listener, trusting it by the fingerprint the API shows (what the connect panel fills in), or by the CA file
 * the console offers for download. A wrong fingerprint stops the target with an error that names the fix, and the
 * plain daemon never sees the agent (nothing is retried in plaintext). A module that demands a client certificate takes
 * the agent's push when the agent presents one the console issued, and refuses it, with the fix hinted, when not.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { passwordFile, REPO_ROOT, RunningServer, startServer, treeDigest, waitFor } from '@rsynchub/testing';

const AGENT = path.join(REPO_ROOT, 'apps/agent/dist/main.js');
const USER = 'tlsagent';
const PASSWORD = crypto.randomBytes(12).toString('hex');
let server: RunningServer;
const agents: ChildProcess[] = [];
let work = '';

before(async () => {
  server = await startServer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-agent-tls-hub-'));
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
  // `wrongpin` is its own module so a late session of another test's agent cannot be counted as the refused agent's.
  for (const name of ['sealed', 'sealed2', 'wrongpin']) {
    const res = await server.admin.post('/api/v1/modules', { name, path: path.join(server.storageRoot, name), tlsOnly: true, users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
  }
  // modules that also demand a client certificate the console issued (one per test, so sessions are not mixed up)
  for (const name of ['certonly', 'nocert']) {
    const res = await server.admin.post('/api/v1/modules', { name, path: path.join(server.storageRoot, name), tlsClientCert: true, users: [{ name: USER, access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
  }
  await waitFor('the TLS listener', async () => ((await server.admin.get('/api/v1/tls')).body.listening ? true : null), 60_000);
});

after(async () => {
  for (const a of agents) {
    if (a.exitCode === null && a.signalCode === null) {
      a.kill('SIGTERM');
      await new Promise((r) => a.once('exit', r));
    }
  }
  await server?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Starts an agent watching a fresh directory, pushing to `module` over TLS with the given trust settings. */
async function startAgent(label: string, module: string, trust: Record<string, unknown>): Promise<{ src: string; stateDir: string; output: () => string }> {
  const src = path.join(work, `${label}-src`);
  const stateDir = path.join(work, `${label}-state`);
  fs.mkdirSync(src);
  const remote = { host: '127.0.0.1', port: server.rsyncTlsPort, module, user: USER, passwordFile: passwordFile(PASSWORD), tls: true, ...trust };
  const configFile = path.join(work, `${label}.json`);
  fs.writeFileSync(configFile, JSON.stringify({ name: label, watches: [{ path: src, remotes: [remote] }], retry: { initialDelayMs: 200, maxDelayMs: 2000 } }));
  let out = '';
  const child = spawn(process.execPath, [AGENT, 'run', '--config', configFile, '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  agents.push(child);
  // Changes count from the moment the watch is up (no full sync at start by default).
  await waitFor(`agent ${label} watching`, () => {
    try {
      const state = JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8'));
      return state.watches?.length > 0 && state.watches.every((w: { watching: boolean }) => w.watching);
    } catch {
      return false;
    }
  }, 30_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${out}`);
  });
  return { src, stateDir, output: () => out };
}

function mirrored(src: string, dst: string): boolean {
  try {
    const a = treeDigest(src);
    const b = treeDigest(dst);
    return a.size > 0 && a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
  } catch {
    return false;
  }
}

async function plainSessions(module: string): Promise<any[]> {
  return (await server.admin.get(`/api/v1/transfers?limit=100&module=${module}`)).body.items;
}

test('an agent pinned to the fingerprint the API shows replicates into a tlsOnly module over the TLS listener', async () => {
  const status = (await server.admin.get('/api/v1/tls')).body;
  assert.match(status.certificate.fingerprint, /^sha256:[0-9a-f]{64}$/);
  const agent = await startAgent('pinned', 'sealed', { fingerprint: status.certificate.fingerprint });
  fs.mkdirSync(path.join(agent.src, 'docs/deep'), { recursive: true });
  for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(agent.src, 'docs/deep', `n${i}.txt`), crypto.randomBytes(200));
  fs.writeFileSync(path.join(agent.src, 'report.txt'), 'v1\n');
  const target = path.join(server.storageRoot, 'sealed');
  await waitFor('the tree on the target', () => mirrored(agent.src, target), 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${agent.output()}`);
  });
  fs.appendFileSync(path.join(agent.src, 'report.txt'), 'v2\n');
  fs.rmSync(path.join(agent.src, 'docs/deep/n1.txt'));
  await waitFor('the edits on the target', () => mirrored(agent.src, target), 60_000);
  const sessions = await waitFor('the sessions recorded', async () => {
    const s = await plainSessions('sealed');
    return s.length >= 2 ? s : null;
  });
  assert.ok(sessions.every((s: any) => s.user === USER && s.clientIp === '127.0.0.1'), JSON.stringify(sessions.map((s: any) => [s.user, s.clientIp])));
});

test('an agent trusting the downloaded CA file (host name checked) replicates too', async () => {
  const ca = await server.admin.get('/api/v1/tls/ca.pem');
  assert.equal(ca.status, 200);
  const caFile = path.join(work, 'ca.pem');
  fs.writeFileSync(caFile, ca.text, { mode: 0o600 });
  const agent = await startAgent('cafile', 'sealed2', { caFile });
  fs.writeFileSync(path.join(agent.src, 'a.txt'), crypto.randomBytes(500));
  await waitFor('a.txt on the target', () => mirrored(agent.src, path.join(server.storageRoot, 'sealed2')), 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${agent.output()}`);
  });
});

test('a wrong fingerprint stops the target with the fix named, and nothing reaches the server in plaintext', async () => {
  const agent = await startAgent('wrongpin', 'wrongpin', { fingerprint: `sha256:${'ab'.repeat(32)}` });
  fs.writeFileSync(path.join(agent.src, 'never.txt'), 'must not arrive\n');
  const statusFile = path.join(agent.stateDir, 'state.json');
  const target = await waitFor('the refusal in the agent state', () => {
    try {
      const state = JSON.parse(fs.readFileSync(statusFile, 'utf8'));
      const t = state.targets?.[0];
      return t?.lastError && /fingerprint/i.test(t.lastError) ? t : null;
    } catch {
      return null;
    }
  }, 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${agent.output()}`);
  });
  const presented = (await server.admin.get('/api/v1/tls')).body.certificate.fingerprint256 as string;
  assert.ok(target.lastError.includes(`fingerprint sha256:${presented}`), `names the certificate the server presented: ${target.lastError}`);
  assert.match(target.lastError, /does not match the pinned sha256:(AB:){31}AB/i);
  assert.match(target.lastError, /console's Encryption page/, 'the message says where to get the right fingerprint');
  assert.ok(!fs.existsSync(path.join(server.storageRoot, 'wrongpin', 'never.txt')));
  assert.deepEqual(await plainSessions('wrongpin'), [], 'no session, not even a refused one: neither daemon saw the agent');
});

/** The target's last error in the agent's state file, once it matches `pattern`. */
async function refusal(agent: { stateDir: string; output: () => string }, pattern: RegExp): Promise<string> {
  return waitFor('the refusal in the agent state', () => {
    try {
      const t = JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'state.json'), 'utf8')).targets?.[0];
      return t?.lastError && pattern.test(t.lastError) ? (t.lastError as string) : null;
    } catch {
      return null;
    }
  }, 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${agent.output()}`);
  });
}

test('an agent presenting a client certificate the console issued replicates into a tlsClientCert module; without one it is refused with the fix hinted', async () => {
  const issued = await server.admin.post('/api/v1/tls/client-certs', { name: 'agent-source' });
  assert.equal(issued.status, 201, issued.text);
  const clientCert = path.join(work, 'client.pem');
  const clientKey = path.join(work, 'client.key');
  fs.writeFileSync(clientCert, issued.body.certificate);
  fs.writeFileSync(clientKey, issued.body.privateKey, { mode: 0o600 });
  const fingerprint = (await server.admin.get('/api/v1/tls')).body.certificate.fingerprint;

  const withCert = await startAgent('withcert', 'certonly', { fingerprint, clientCert, clientKey });
  fs.mkdirSync(path.join(withCert.src, 'sub'));
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(withCert.src, 'sub', `c${i}.bin`), crypto.randomBytes(300));
  await waitFor('the tree on the target', () => mirrored(withCert.src, path.join(server.storageRoot, 'certonly')), 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${withCert.output()}`);
  });

  const noCert = await startAgent('nocert', 'nocert', { fingerprint });
  fs.writeFileSync(path.join(noCert.src, 'never.txt'), 'must not arrive\n');
  const error = await refusal(noCert, /access denied/i);
  assert.match(error, /client certificate/i, `the likely fix is named: ${error}`);
  assert.ok(!fs.existsSync(path.join(server.storageRoot, 'nocert', 'never.txt')));
});
