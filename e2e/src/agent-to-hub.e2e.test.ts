/**
 * The whole product loop: rsynchub-agent on a "source" watches a directory and pushes exact changes into a module
 * of the real RsyncHub server (real daemon), reporting heartbeats with an API token; the server records the
 * transfers and lists the source.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { passwordFile, REPO_ROOT, RunningServer, startServer, treeDigest, waitFor } from '@rsynchub/testing';

const AGENT = path.join(REPO_ROOT, 'apps/agent/dist/main.js');
let server: RunningServer;
let agent: ChildProcess | null = null;
let agentOutput = '';

before(async () => {
  server = await startServer();
});

after(async () => {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent!.once('exit', r));
  }
  await server?.stop();
});

test('the agent mirrors a watched tree into a RsyncHub module, and the server sees the sessions and the source', async () => {
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'edge', password: 'edge-password-42' })).status, 201);
  const modulePath = path.join(server.storageRoot, 'mirror');
  assert.equal((await server.admin.post('/api/v1/modules', { name: 'mirror', path: modulePath, users: [{ name: 'edge', access: 'rw' }] })).status, 201);
  const token = (await server.admin.post('/api/v1/tokens', { name: 'edge-agent' })).body.secret as string;
  assert.ok(token);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-agent-hub-'));
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const config = {
    name: 'edge-1',
    watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: server.rsyncPort, module: 'mirror', user: 'edge', passwordFile: passwordFile('edge-password-42') }], rsyncParams: ['-artz'] }],
    heartbeat: { url: server.baseUrl, token, intervalSec: 1 },
  };
  const configFile = path.join(work, 'agent.json');
  fs.writeFileSync(configFile, JSON.stringify(config));
  agent = spawn(process.execPath, [AGENT, 'run', '--config', configFile, '--state-dir', path.join(work, 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
  agent.stdout!.on('data', (d: Buffer) => (agentOutput += d.toString()));
  agent.stderr!.on('data', (d: Buffer) => (agentOutput += d.toString()));

  // Changes after the agent is up: create, nested dirs, modify, rename, delete.
  await waitFor('the agent to report in', async () => (await server.admin.get('/api/v1/sources')).body.find((s: any) => s.name === 'edge-1'), 20_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n--- agent output ---\n${agentOutput}`);
  });
  fs.mkdirSync(path.join(src, 'docs/deep'), { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, 'docs/deep', `n${i}.txt`), `note ${i}\n`);
  fs.writeFileSync(path.join(src, 'report.txt'), 'v1\n');
  const mirrored = () => {
    try {
      const a = treeDigest(src);
      const b = treeDigest(modulePath);
      return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
    } catch {
      return false;
    }
  };
  await waitFor('the first changes on the target', mirrored, 20_000);
  fs.appendFileSync(path.join(src, 'report.txt'), 'v2\n');
  fs.renameSync(path.join(src, 'docs/deep/n0.txt'), path.join(src, 'docs/renamed.txt'));
  fs.rmSync(path.join(src, 'docs/deep/n1.txt'));
  await waitFor('the edits on the target', mirrored, 20_000);

  // The files are on the target before the daemon has finished the session and the server has ingested its end
  // (where the deletion count is recorded), so wait for the session that carried the delete rather than reading once.
  const listed = async () => (await server.admin.get('/api/v1/transfers?module=mirror')).body.items as any[];
  await waitFor('the delete recorded as a deletion', async () => (await listed()).some((s: any) => s.deletedCount > 0), 20_000)
    .catch(async (e) => {
      assert.fail(`the delete travelled as a deletion: ${e.message}; sessions: ${JSON.stringify(await listed())}`);
    });
  const sessions = await listed();
  assert.ok(sessions.length >= 2, `the server recorded the agent's pushes (${sessions.length})`);
  assert.ok(sessions.every((s: any) => s.user === 'edge' && s.direction === 'push'));
  // Heartbeats come every second: the one after the pushes says the queue is empty (an earlier one may not).
  const caughtUp = async () => {
    const src0 = (await server.admin.get('/api/v1/sources')).body.find((s: any) => s.name === 'edge-1');
    return src0?.targets[0]?.queueLength === 0 ? src0 : undefined;
  };
  const source = await waitFor('a heartbeat with the queue empty', caughtUp);
  assert.equal(source.targets[0].module, 'mirror');
  assert.equal(source.targets[0].paused, false, 'the heartbeat says whether the agent paused the target');
  assert.equal(source.targets[0].pauseReason, null);
  assert.equal(source.state, 'online');
  assert.equal(source.targets[0].missedByWatcher, 0, 'the agent reports what its self-verification found missed (nothing)');
});
