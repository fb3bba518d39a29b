/**
 * The agent as a real process (node apps/agent/dist/main.js): SIGKILL mid-queue and restart loses nothing; a burst of
 * 10,000 files arrives with few rsync processes; `status` reads the state file; SIGTERM stops cleanly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { AgentState } from './agent';
import { RsyncDaemon, tmpDir, waitConverged, waitUntil } from './e2e-support';

const MAIN = path.join(__dirname, 'main.js');
let work: string;
let src: string;
let stateDir: string;
let configFile: string;
let a: RsyncDaemon;
let b: RsyncDaemon;
let proc: ChildProcess | null = null;
let output = '';

function startAgent(extraArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [MAIN, 'run', '--config', configFile, '--state-dir', stateDir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  proc = child;
  return child;
}

function readState(): AgentState | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as AgentState;
  } catch {
    return null;
  }
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}

before(async () => {
  work = tmpDir('proc');
  src = path.join(work, 'src');
  stateDir = path.join(work, 'state');
  fs.mkdirSync(src);
  a = await new RsyncDaemon({ auth: { user: 'syncer', password: 'pw' } }).start();
  b = await new RsyncDaemon().start();
  configFile = path.join(work, 'agent.yaml');
  fs.writeFileSync(configFile, [
    'watches:',
    `  - path: ${src}`,
    '    remotes:',
    `      - { host: 127.0.0.1, port: ${a.port}, module: m, user: syncer, passwordFile: ${a.passwordFile} }`,
    `      - rsync://127.0.0.1:${b.port}/m`,
    'batchDelayMs: 100',
    'retry: { initialDelayMs: 200, maxDelayMs: 2000 }',
    '',
  ].join('\n'));
});

after(async () => {
  if (proc) await kill(proc, 'SIGKILL');
  await a?.destroy();
  await b?.destroy();
  if (process.env.AGENT_TEST_LOG) fs.writeFileSync(process.env.AGENT_TEST_LOG, output);
  fs.rmSync(work, { recursive: true, force: true });
});

test('SIGKILL in the middle of a burst, restart: nothing is lost', async () => {
  fs.writeFileSync(path.join(src, 'before.txt'), 'before');
  const first = startAgent(['--full-sync']);
  await waitUntil(() => (readState()?.targets ?? []).filter((t) => t.lastSuccessAt).length === 2, 'initial full sync');
  await waitConverged(src, [a.moduleDir, b.moduleDir], 'initial state');
  for (let d = 0; d < 20; d++) {
    fs.mkdirSync(path.join(src, `burst${d}`));
    for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(src, `burst${d}`, `f${i}`), `${d}/${i}`);
  }
  fs.unlinkSync(path.join(src, 'before.txt'));
  // Kill while batches are queued or in flight, before the targets converge.
  await new Promise((r) => setTimeout(r, 150));
  await kill(first, 'SIGKILL');
  assert.ok(fs.existsSync(path.join(stateDir, 'agent.pid')), 'a killed agent leaves its pid file behind');
  fs.writeFileSync(path.join(src, 'while-dead.txt'), 'changed while the agent was dead');

  output = '';
  startAgent();
  await waitConverged(src, [a.moduleDir, b.moduleDir], 'after restart', 30_000);
  assert.match(output, /previous run did not stop cleanly/);
});

test('10,000 files created at once arrive with few rsync processes', async (t) => {
  const before = readState()!;
  await waitUntil(() => readState()!.targets.every((t) => t.queueLength === 0), 'idle queues');
  const spawnsBefore = readState()!.rsyncSpawns;
  assert.equal(before.pid, proc!.pid);
  for (let d = 0; d < 10; d++) {
    const dir = path.join(src, `many${d}`);
    fs.mkdirSync(dir);
    for (let i = 0; i < 1000; i++) fs.writeFileSync(path.join(dir, `file-${i}.txt`), `content ${d}-${i}`);
  }
  await waitConverged(src, [a.moduleDir, b.moduleDir], '10,000 files', 60_000);
  await waitUntil(() => readState()!.targets.every((t) => t.queueLength === 0), 'queues drained');
  const spawned = readState()!.rsyncSpawns - spawnsBefore;
  t.diagnostic(`rsync processes for 10,000 files x 2 targets: ${spawned}`);
  assert.ok(spawned > 0, 'rsync ran');
  assert.ok(spawned < 50, `10,000 files cost ${spawned} rsync processes for 2 targets`);
});

test('status prints per-target queue, lag, last success and last error; SIGTERM stops cleanly', async () => {
  const st = spawnSync(process.execPath, [MAIN, 'status', '--state-dir', stateDir], { encoding: 'utf8' });
  assert.equal(st.status, 0, st.stderr);
  assert.match(st.stdout, /running, pid \d+/);
  assert.match(st.stdout, /TARGET\s+ID\s+WATCH\s+STATE\s+QUEUE\s+LAG\s+LAST SUCCESS\s+LAST ERROR/);
  assert.ok(st.stdout.includes(`rsync://syncer@127.0.0.1:${a.port}/m/`));
  assert.ok(st.stdout.includes(`rsync://127.0.0.1:${b.port}/m/`));
  const js = spawnSync(process.execPath, [MAIN, 'status', '--state-dir', stateDir, '--json'], { encoding: 'utf8' });
  const parsed = JSON.parse(js.stdout) as AgentState & { alive: boolean };
  assert.equal(parsed.alive, true);
  assert.equal(parsed.targets.length, 2);
  assert.ok(parsed.targets.every((t) => t.queueLength === 0 && t.lagMs === 0 && t.lastSuccessAt));

  const code = await kill(proc!, 'SIGTERM');
  assert.equal(code, 0);
  assert.ok(!fs.existsSync(path.join(stateDir, 'agent.pid')), 'clean stop removes the pid file');
  const after = spawnSync(process.execPath, [MAIN, 'status', '--state-dir', stateDir], { encoding: 'utf8' });
  assert.equal(after.status, 3);
  assert.match(after.stdout, /NOT RUNNING/);
  // Every log line is a JSON object.
  for (const line of output.split('\n').filter((l) => l.startsWith('{'))) assert.doesNotThrow(() => JSON.parse(line));
  assert.match(output, /"msg":"stopped"/);
});

test('--daemon detaches: the command returns, the background agent syncs and logs to its file, SIGTERM via its pid file stops it', async () => {
  const daemonState = path.join(work, 'daemon-state');
  const started = spawnSync(process.execPath, [MAIN, 'run', '--daemon', '--config', configFile, '--state-dir', daemonState], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(started.status, 0, started.stderr);
  const pidFromMessage = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
  assert.ok(pidFromMessage > 0, started.stdout);
  await waitUntil(() => fs.existsSync(path.join(daemonState, 'agent.pid')), 'the pid file');
  const pid = Number(fs.readFileSync(path.join(daemonState, 'agent.pid'), 'utf8').trim());
  assert.equal(pid, pidFromMessage);
  try {
    await waitUntil(() => {
      try {
        return (JSON.parse(fs.readFileSync(path.join(daemonState, 'state.json'), 'utf8')) as AgentState).targets.length === 2;
      } catch {
        return false;
      }
    }, 'the background agent to be up');
    fs.writeFileSync(path.join(src, 'from-the-daemon.txt'), 'synced by the detached agent');
    await waitConverged(src, [a.moduleDir, b.moduleDir], 'the detached agent syncing');
    const st = spawnSync(process.execPath, [MAIN, 'status', '--state-dir', daemonState], { encoding: 'utf8' });
    assert.match(st.stdout, new RegExp(`running, pid ${pid}`));
    assert.match(fs.readFileSync(path.join(daemonState, 'agent.log'), 'utf8'), /"msg":"agent started"/);
  } finally {
    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !fs.existsSync(path.join(daemonState, 'agent.pid')), 'the detached agent to stop');
  }
});
