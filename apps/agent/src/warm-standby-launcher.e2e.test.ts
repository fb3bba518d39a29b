/**
 * Warm standbys started through the rsync launcher (warm-standby.ts, rsync-launcher.ts, native/rsynchub-spawn.c), with
 * the real agent process, a real rsync daemon and the real rsync client and gate: the standby's parent is the launcher
 * (the agent's event loop does not fork the agent for it); kill -9 of the launcher while a standby waits leaves no
 * standby or gate behind, never connects, and the next edit goes through a standby of a new launcher; with
 * RSYNCHUB_AGENT_SPAWN=node standbys are started with node's spawn as before; a standby whose gate is stopped (SIGSTOP)
 * is killed whole by the stall watchdog once released, and the edit is retried and arrives.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import type { AgentState } from './agent';
import type { TargetStats } from './target-queue';
import { RsyncDaemon, tmpDir, waitConverged, waitUntil } from './e2e-support';

const MAIN = path.join(__dirname, 'main.js');
const built = fs.existsSync(path.join(__dirname, 'rsynchub-spawn')) && fs.existsSync(path.join(__dirname, 'rsynchub-gate'));
const skip = built ? false : 'the launcher or the gate is not built';
let work: string;
let daemon: RsyncDaemon;
let proc: ChildProcess | null = null;
let output = '';
let n = 0;

interface Run { src: string; stateDir: string; configFile: string }

function setup(extra: string[] = []): Run {
  const dir = path.join(work, `run${++n}`);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src, { recursive: true });
  const configFile = path.join(dir, 'agent.yaml');
  fs.writeFileSync(configFile, [
    'watches:',
    `  - path: ${src}`,
    '    remotes:',
    `      - { host: 127.0.0.1, port: ${daemon.port}, module: m, user: syncer, passwordFile: ${daemon.passwordFile} }`,
    'batchDelayMs: 0',
    'logLevel: debug',
    'verify: { intervalSec: 0 }',
    'retry: { initialDelayMs: 200, maxDelayMs: 1000 }',
    ...extra,
    '',
  ].join('\n'));
  fs.rmSync(daemon.moduleDir, { recursive: true, force: true });
  fs.mkdirSync(daemon.moduleDir, { recursive: true });
  return { src, stateDir: path.join(dir, 'state'), configFile };
}

function startAgent(r: Run, env: NodeJS.ProcessEnv = {}): ChildProcess {
  output = '';
  const child = spawn(process.execPath, [MAIN, 'run', '--config', r.configFile, '--state-dir', r.stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RSYNCHUB_AGENT_SPAWN: '', RSYNCHUB_AGENT_STANDBY_SPAWN: '', ...env },
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  proc = child;
  return child;
}

function state(r: Run): AgentState | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(r.stateDir, 'state.json'), 'utf8')) as AgentState;
  } catch {
    return null;
  }
}

function target(r: Run): TargetStats | undefined {
  return state(r)?.targets[0];
}

/** A waiting standby (other than `not`): its pid, start time and how it was started. */
async function readyStandby(r: Run, not?: number): Promise<{ pid: number; readyAt: number; via: string | null }> {
  let got: { pid: number; readyAt: number; via: string | null } | undefined;
  await waitUntil(() => {
    const w = target(r)?.warmStandby;
    if (!w?.pid || !w.readyAt || w.pid === not) return false;
    got = { pid: w.pid, readyAt: Date.parse(w.readyAt), via: w.via };
    return true;
  }, 'a warm standby waiting', 20_000);
  return got!;
}

function runLines(): { warm: boolean; standbyStartedAt?: string; code: number | null }[] {
  return output.split('\n').filter((l) => l.includes('"msg":"rsync run"')).map((l) => JSON.parse(l));
}

function daemonConnects(): number {
  try {
    return fs.readFileSync(path.join(daemon.dir, 'rsyncd.log'), 'utf8').split('\n').filter((l) => / connect from /.test(l)).length;
  } catch {
    return 0;
  }
}

function stat(pid: number): string[] | null {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' '); // state ppid pgrp session ...
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  const f = stat(pid);
  return f !== null && f[0] !== 'Z' && f[0] !== 'X';
}

function parentOf(pid: number): number | null {
  const f = stat(pid);
  return f ? Number(f[1]) : null;
}

function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = stat(Number(d));
    if (f && f[0] !== 'Z' && Number(f[2]) === pgid) out.push(Number(d));
  }
  return out;
}

async function stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const p = proc;
  proc = null;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    p.once('exit', () => resolve());
    p.kill(signal);
  });
}

/** The edit goes through a standby started before it, and arrives. */
async function editThroughStandby(r: Run, name: string, sb: { readyAt: number }): Promise<void> {
  await waitUntil(() => target(r)?.queueLength === 0 && target(r)?.inFlight === false, 'idle');
  const before = runLines().length;
  fs.writeFileSync(path.join(r.src, name), `${name}\n`);
  await waitConverged(r.src, [daemon.moduleDir], `${name} on the target`);
  await waitUntil(() => runLines().slice(before).some((l) => l.code === 0), 'the run logged');
  const run = runLines().slice(before).find((l) => l.code === 0)!;
  assert.equal(run.warm, true, `the run went through the standby: ${JSON.stringify(run)}`);
  assert.equal(Date.parse(run.standbyStartedAt!), sb.readyAt, 'the standby seen waiting');
}

before(async () => {
  work = tmpDir('warm-launcher');
  daemon = await new RsyncDaemon({ auth: { user: 'syncer', password: 'warm-launcher-pw' } }).start();
});

afterEach(async () => {
  if (process.env.AGENT_TEST_LOG) fs.appendFileSync(process.env.AGENT_TEST_LOG, output);
  await stopAgent('SIGKILL');
});

after(async () => {
  await daemon?.destroy();
  fs.rmSync(work, { recursive: true, force: true });
});

test('a standby is started by the rsync launcher (its parent is the launcher, not the agent) and carries the edit', { skip }, async () => {
  const r = setup();
  const agent = startAgent(r);
  const sb = await readyStandby(r);
  await waitUntil(() => state(r)?.rsyncLauncherPid !== undefined, 'the launcher\'s pid in the state');
  const launcher = state(r)!.rsyncLauncherPid!;
  assert.equal(sb.via, 'launcher');
  assert.equal(parentOf(sb.pid), launcher, `the standby's parent is the launcher (${launcher}), not the agent (${agent.pid})`);
  assert.equal(parentOf(launcher), agent.pid);
  const w = target(r)!.warmStandby!;
  assert.ok(w.viaLauncher >= 1 && w.viaLauncher === w.started, `every standby through the launcher: ${JSON.stringify(w)}`);
  assert.equal(typeof w.lastStartMs, 'number');
  await editThroughStandby(r, 'one.txt', sb);
  const next = await readyStandby(r, sb.pid);
  assert.equal(parentOf(next.pid), launcher, 'the next standby too');
});

test('kill -9 of the launcher while a standby waits: standby and gate end unconnected, a new launcher\'s standby carries the next edit', { skip }, async () => {
  const r = setup();
  startAgent(r);
  const sb = await readyStandby(r);
  await waitUntil(() => state(r)?.rsyncLauncherPid !== undefined, 'the launcher\'s pid in the state');
  const launcher = state(r)!.rsyncLauncherPid!;
  await waitUntil(() => groupMembers(sb.pid).length >= 2, 'rsync and its gate waiting');
  const members = groupMembers(sb.pid);
  const connects = daemonConnects();
  process.kill(launcher, 'SIGKILL');
  await waitUntil(() => members.every((p) => !alive(p)), `the standby's processes gone (${members.join(',')})`);
  const next = await readyStandby(r, sb.pid);
  assert.equal(next.via, 'launcher', 'the replacement goes through a new launcher');
  await waitUntil(() => (state(r)?.rsyncLauncherPid ?? launcher) !== launcher, 'a new launcher in the state');
  assert.equal(parentOf(next.pid), state(r)!.rsyncLauncherPid);
  assert.ok((target(r)?.warmStandby?.died ?? 0) >= 1, 'the lost standby counted as died');
  assert.match(output, /rsync launcher died/);
  assert.equal(daemonConnects(), connects, 'the lost standby never connected');
  await editThroughStandby(r, 'after-launcher-kill.txt', next);
});

test('RSYNCHUB_AGENT_SPAWN=node: standbys are started with node\'s spawn (the agent is their parent) and still carry edits', { skip }, async () => {
  const r = setup();
  const agent = startAgent(r, { RSYNCHUB_AGENT_SPAWN: 'node' });
  const sb = await readyStandby(r);
  assert.equal(sb.via, 'node');
  assert.equal(parentOf(sb.pid), agent.pid);
  assert.equal(target(r)!.warmStandby!.viaLauncher, 0);
  await editThroughStandby(r, 'node.txt', sb);
});

test('a standby whose gate is stopped (SIGSTOP): the released run stalls, the watchdog kills its whole group (the stopped gate too), the edit arrives on retry', { skip }, async () => {
  const r = setup(['stallKillSec: 2']);
  startAgent(r);
  const sb = await readyStandby(r);
  await waitUntil(() => groupMembers(sb.pid).length >= 3, 'rsync, its connect fork and the gate waiting');
  const gate = groupMembers(sb.pid).find((p) => { try { return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'rsynchub-gate'; } catch { return false; } });
  assert.ok(gate, `the gate among ${groupMembers(sb.pid).join(',')}`);
  process.kill(gate, 'SIGSTOP');
  const members = groupMembers(sb.pid);
  fs.writeFileSync(path.join(r.src, 'stopped-gate.txt'), 'x\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the edit after the stalled run', 30_000);
  await waitUntil(() => members.every((p) => !alive(p)), `every process of the stalled standby gone, the stopped gate too (${members.join(',')})`);
  const lines = runLines();
  assert.ok(lines.some((l) => l.warm && l.code !== 0), `the run through the stopped gate failed: ${JSON.stringify(lines)}`);
  assert.match(output, /"msg":"push failed; will retry"[^\n]*rsync stalled/, 'the failure was the stall watchdog\'s');
});

test('SIGTERM of the agent with a standby waiting: the agent exits, and neither the standby (nor its gate) nor the launcher is left', { skip }, async () => {
  const r = setup();
  const agent = startAgent(r);
  const sb = await readyStandby(r);
  await waitUntil(() => state(r)?.rsyncLauncherPid !== undefined, 'the launcher\'s pid in the state');
  const launcher = state(r)!.rsyncLauncherPid!;
  await waitUntil(() => groupMembers(sb.pid).length >= 2, 'rsync and its gate waiting');
  const members = groupMembers(sb.pid);
  const connects = daemonConnects();
  const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
  agent.kill('SIGTERM');
  assert.equal(await exited, 0);
  proc = null;
  await waitUntil(() => [...members, launcher].every((p) => !alive(p)), `no standby process (${members.join(',')}) and no launcher (${launcher}) left`);
  assert.equal(daemonConnects(), connects, 'the standby never connected');
});
