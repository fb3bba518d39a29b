/**
 * The source alert rule end to end: a real rsynchub-agent process (source-scoped token, 1 s heartbeats) pushing into
 * the real daemon, the real server evaluating its rules every 300 ms, a real local HTTP webhook receiver.
 * - The agent's delete guard refuses a full sync that would wipe the target: the target is paused, the heartbeat says
 *   so, and an error alert fires; `rsynchub-agent resume` clears it and the alert resolves.
 * - The agent is stopped: the source goes stale (RSYNCHUB_SOURCE_STALE_SECONDS=2) and a warning fires once; when the
 *   agent comes back, the alert resolves.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startWebhookReceiver } from './support/alert-receivers';
import { passwordFile } from './support/rsync';
import { REPO_ROOT, RunningServer, startServer, waitFor } from './support/server';

const AGENT = path.join(REPO_ROOT, 'apps/agent/dist/main.js');
const SOURCE = 'edge-alerting';
const MODULE = 'guarded';
let server: RunningServer;
let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
let agent: ChildProcess | null = null;
let agentOutput = '';
let work = '';
let configFile = '';
let stateDir = '';
let modulePath = '';

const payloads = () => hook.received.filter((r) => r.path === '/json').map((r) => r.json);
const hooksFor = (key: string, event: string) => payloads().filter((p) => p.alert.key === key && p.event === event);

async function firing(key: string): Promise<any | undefined> {
  const res = await server.admin.get('/api/v1/alerts?state=firing&limit=500');
  return res.body.items.find((a: any) => a.key === key);
}

function startAgent(): void {
  agent = spawn(process.execPath, [AGENT, 'run', '--config', configFile, '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  agent.stdout!.on('data', (d: Buffer) => (agentOutput += d.toString()));
  agent.stderr!.on('data', (d: Buffer) => (agentOutput += d.toString()));
}

async function stopAgent(): Promise<void> {
  if (!agent || agent.exitCode !== null) return;
  const a = agent;
  a.kill('SIGTERM');
  await new Promise((r) => a.once('exit', r));
}

before(async () => {
  hook = await startWebhookReceiver();
  server = await startServer({ env: { RSYNCHUB_SOURCE_STALE_SECONDS: '2', RSYNCHUB_ALERT_INTERVAL_MS: '300' } });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-alerts-sources-'));
  stateDir = path.join(work, 'state');
  const userPassword = randomBytes(12).toString('hex');
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'edge', password: userPassword })).status, 201);
  modulePath = path.join(server.storageRoot, MODULE);
  const mod = await server.admin.post('/api/v1/modules', { name: MODULE, path: modulePath, users: [{ name: 'edge', access: 'rw' }] });
  assert.equal(mod.status, 201, mod.text);
  const channel = await server.admin.post('/api/v1/alerts/channels', { name: 'ops hook', type: 'webhook', webhook: { url: `${hook.url}/json`, format: 'json' } });
  assert.equal(channel.status, 201, channel.text);
  const token = await server.admin.post('/api/v1/tokens', { name: 'edge agent', scope: 'source', sourceName: SOURCE });
  assert.equal(token.status, 201, token.text);

  // The target already holds 30 files the (nearly empty) source does not: a full sync would delete 30 of 31 entries.
  for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(modulePath, `keep-${i}.dat`), `precious ${i}\n`);
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'only.txt'), 'only\n');
  const tokenFile = path.join(work, 'agent.token');
  fs.writeFileSync(tokenFile, `${token.body.secret}\n`, { mode: 0o600 });
  configFile = path.join(work, 'agent.json');
  fs.writeFileSync(configFile, JSON.stringify({
    name: SOURCE,
    watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: server.rsyncPort, module: MODULE, user: 'edge', passwordFile: passwordFile(userPassword) }], rsyncParams: ['-artz'] }],
    fullSync: { onStart: true, intervalSec: 0 },
    heartbeat: { url: server.baseUrl, tokenFile, intervalSec: 1 },
  }));
});

after(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGKILL');
    await new Promise((r) => agent!.once('exit', r));
  }
  await server?.stop();
  await hook?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

const pausedKey = `source-paused:${SOURCE}:127.0.0.1:`;
const stateKey = `source-state:${SOURCE}`;

test('the source rule is listed with its defaults (on, lag 600 s, queue 10,000)', async () => {
  const rules = (await server.admin.get('/api/v1/alerts/rules')).body;
  const rule = rules.find((r: any) => r.id === 'source');
  assert.ok(rule, JSON.stringify(rules.map((r: any) => r.id)));
  assert.deepEqual(rule.defaults, { enabled: true, alertOnStale: true, maxLagSeconds: 600, maxQueueLength: 10_000, alertOnPaused: true });
  const bad = await server.admin.put('/api/v1/alerts/rules/source', { maxQueueLength: -5 });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.text, /maxQueueLength/);
});

test('the delete guard pauses a target: an error alert fires once with the reason; resume resolves it', async () => {
  try {
    startAgent();
    const key = `${pausedKey}${server.rsyncPort}/${MODULE}`;
    await waitFor('a paused-target alert', async () => (await firing(key)) !== undefined, 30_000);
    const alert = await firing(key);
    assert.equal(alert.severity, 'error');
    assert.equal(alert.rule, 'source');
    assert.match(alert.message, /paused pushing to 127\.0\.0\.1:\d+\/guarded/);
    await waitFor('the firing webhook', () => hooksFor(key, 'firing').length === 1);
    // Nothing was deleted on the target.
    assert.equal(fs.readdirSync(modulePath).filter((f) => f.startsWith('keep-')).length, 30);
    // Several evaluations later it is still one message (deduplicated).
    const seen = Date.now();
    await waitFor('a few evaluations', async () => Date.now() - seen > 1500, 5_000);
    assert.equal(hooksFor(key, 'firing').length, 1);

    // The admin looks, accepts the root as it is: the agent resumes, the next heartbeat says so, the alert resolves.
    execFileSync(process.execPath, [AGENT, 'resume', '--target', MODULE, '--state-dir', stateDir]);
    await waitFor('the paused alert to resolve', async () => (await firing(key)) === undefined, 30_000);
    await waitFor('the resolved webhook', () => hooksFor(key, 'resolved').length === 1);
  } catch (err) {
    (err as Error).message += `\n--- agent output ---\n${agentOutput.slice(-3000)}`;
    throw err;
  }
});

test('a stopped agent: the source goes stale and a warning fires once; it resolves when the agent returns', async () => {
  try {
    await waitFor('the source online', async () => (await server.admin.get('/api/v1/sources')).body.some((s: any) => s.name === SOURCE && s.state === 'online'));
    assert.equal(await firing(stateKey), undefined, 'no state alert while the agent runs');
    await stopAgent();
    await waitFor('a stale-source alert', async () => (await firing(stateKey)) !== undefined);
    const alert = await firing(stateKey);
    assert.equal(alert.severity, 'warning');
    assert.match(alert.title, /edge-alerting is stale/);
    await waitFor('the firing webhook', () => hooksFor(stateKey, 'firing').length === 1);
    const seen = Date.now();
    await waitFor('a few evaluations', async () => Date.now() - seen > 1500, 5_000);
    assert.equal(hooksFor(stateKey, 'firing').length, 1, 'deduplicated while the source stays stale');

    startAgent();
    await waitFor('the stale alert to resolve', async () => (await firing(stateKey)) === undefined, 30_000);
    await waitFor('the resolved webhook', () => hooksFor(stateKey, 'resolved').length === 1);
    const history = (await server.admin.get('/api/v1/alerts?rule=source&state=resolved&limit=50')).body.items;
    assert.ok(history.some((a: any) => a.key === stateKey), 'listed in the history as resolved');
  } catch (err) {
    (err as Error).message += `\n--- agent output ---\n${agentOutput.slice(-3000)}`;
    throw err;
  }
});
