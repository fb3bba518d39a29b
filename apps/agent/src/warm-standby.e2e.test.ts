/**
 * The warm standby rsync client (warm-standby.ts, native/rsynchub-gate.c) with the real agent process, a real rsync
 * daemon and the real rsync client: a single edit goes through a standby started before the edit; an idle standby opens
 * no daemon connection; a killed standby is replaced; a changed password file makes it stale; the daemon being down
 * while a standby waits is an ordinary retried failure; kill -9 of the agent leaves no standby process; the switch off
 * restores starting each run when due.
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
  // A fresh module directory per run: every test compares its own source with it.
  fs.rmSync(daemon.moduleDir, { recursive: true, force: true });
  fs.mkdirSync(daemon.moduleDir, { recursive: true });
  return { src, stateDir: path.join(dir, 'state'), configFile };
}

function startAgent(r: Run, args: string[] = []): ChildProcess {
  output = '';
  const child = spawn(process.execPath, [MAIN, 'run', '--config', r.configFile, '--state-dir', r.stateDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
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

/** Waits for a standby that is waiting (started, not used) and returns its pid and start time. */
async function readyStandby(r: Run, not?: number): Promise<{ pid: number; readyAt: number }> {
  let got: { pid: number; readyAt: number } | undefined;
  await waitUntil(() => {
    const w = target(r)?.warmStandby;
    if (!w?.pid || !w.readyAt || w.pid === not) return false;
    got = { pid: w.pid, readyAt: Date.parse(w.readyAt) };
    return true;
  }, 'a warm standby waiting', 20_000);
  return got!;
}

function runLines(): { warm: boolean; standbyStartedAt?: string; code: number | null; paths?: number }[] {
  return output.split('\n').filter((l) => l.includes('"msg":"rsync run"')).map((l) => JSON.parse(l));
}

function daemonConnects(): number {
  try {
    return fs.readFileSync(path.join(daemon.dir, 'rsyncd.log'), 'utf8').split('\n').filter((l) => / connect from /.test(l)).length;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(st);
  } catch {
    return false;
  }
}

/** Processes in process group `pgid` (a standby's rsync, its connect fork and the gate share it). */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (f[0] !== 'Z' && Number(f[2]) === pgid) out.push(Number(d));
    } catch {
      // gone
    }
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

before(async () => {
  work = tmpDir('warm');
  daemon = await new RsyncDaemon({ auth: { user: 'syncer', password: 'warm-standby-pw' } }).start();
});

afterEach(async () => {
  if (process.env.AGENT_TEST_LOG) fs.appendFileSync(process.env.AGENT_TEST_LOG, output);
  await stopAgent('SIGKILL');
});

after(async () => {
  await daemon?.destroy();
  fs.rmSync(work, { recursive: true, force: true });
});

test('a single edit is delivered by the standby started before the edit; an idle standby opens no daemon connection', async () => {
  const r = setup();
  startAgent(r);
  const sb = await readyStandby(r);
  assert.equal(state(r)?.warmStandby?.on, true, 'the agent says standbys are on');
  // Idle: the standby is up (rsync and its gate), and for 3 s nothing reaches the daemon.
  const connects = daemonConnects();
  const idleUntil = Date.now() + 3000;
  await waitUntil(() => Date.now() >= idleUntil, 'three idle seconds', 5000);
  assert.equal(daemonConnects(), connects, 'the daemon logged a connection while the standby was idle');
  assert.ok(alive(sb.pid), 'the standby waited all along');
  assert.ok(groupMembers(sb.pid).length >= 2, `rsync and its gate are waiting (group ${groupMembers(sb.pid).join(',')})`);
  const editAt = Date.now();
  fs.writeFileSync(path.join(r.src, 'one.txt'), 'one edit\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the edit on the target');
  await waitUntil(() => runLines().some((l) => l.code === 0), 'the run logged');
  const run = runLines().find((l) => l.code === 0)!;
  assert.equal(run.warm, true, `the run went through the standby: ${JSON.stringify(run)}`);
  assert.ok(Date.parse(run.standbyStartedAt!) < editAt, `its rsync was started (${run.standbyStartedAt}) before the edit (${new Date(editAt).toISOString()})`);
  assert.equal(Date.parse(run.standbyStartedAt!), sb.readyAt, 'it is the standby seen waiting');
  await waitUntil(() => (target(r)?.warmStandby?.used ?? 0) >= 1, 'used counted');
  // The daemon saw exactly the run's connection, and a new standby waits (without connecting) for the next edit.
  const next = await readyStandby(r, sb.pid);
  assert.ok(!alive(sb.pid), 'the used standby is gone');
  assert.equal(daemonConnects(), connects + runLines().length, 'one connection per run, none from a waiting standby');
  // The second edit, once the agent is idle again (a run may still be carrying the first edit's close event).
  await waitUntil(() => target(r)?.queueLength === 0 && target(r)?.inFlight === false && (target(r)?.warmStandby?.pid ?? null) !== null, 'idle with a standby');
  const before = runLines().length;
  const edit2At = Date.now();
  fs.writeFileSync(path.join(r.src, 'two.txt'), 'two\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the second edit');
  await waitUntil(() => runLines().length > before, 'the second edit\'s run logged');
  const second = runLines()[before];
  assert.equal(second.warm, true, `the second edit went through a standby: ${JSON.stringify(second)}`);
  assert.ok(Date.parse(second.standbyStartedAt!) >= next.readyAt && Date.parse(second.standbyStartedAt!) < edit2At, 'one started after the first run, before the edit');
});

test('a standby killed while it waits is replaced, and the next edit still arrives through a standby', async () => {
  const r = setup();
  startAgent(r);
  const sb = await readyStandby(r);
  // Wait past the "died young" guard, then kill rsync (not its gate: the agent must clean that up too).
  const oldEnough = sb.readyAt + 1200;
  await waitUntil(() => Date.now() >= oldEnough, 'standby older than 1 s', 5000);
  const members = groupMembers(sb.pid);
  process.kill(sb.pid, 'SIGKILL');
  const next = await readyStandby(r, sb.pid);
  await waitUntil(() => (target(r)?.warmStandby?.died ?? 0) >= 1, 'the death counted');
  await waitUntil(() => members.every((p) => !alive(p)), `the dead standby's gate is gone too (${members.join(',')})`);
  assert.match(output, /warm standby rsync died while waiting; replaced/);
  const editAt = Date.now();
  fs.writeFileSync(path.join(r.src, 'after-kill.txt'), 'x\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the edit after the kill');
  await waitUntil(() => runLines().some((l) => l.code === 0), 'the run logged');
  const run = runLines().find((l) => l.code === 0)!;
  assert.equal(run.warm, true);
  assert.equal(run.standbyStartedAt, new Date(next.readyAt).toISOString());
  assert.ok(next.readyAt < editAt);
});

test('a password file changed while a standby waits: the run starts as before, the stale standby is discarded unconnected', async () => {
  const r = setup();
  startAgent(r);
  const sb = await readyStandby(r);
  const connects = daemonConnects();
  // Same password, new file version (another inode, new mtime): what the standby was started with no longer holds.
  const tmp = `${daemon.passwordFile}.new`;
  fs.writeFileSync(tmp, 'warm-standby-pw\n', { mode: 0o600 });
  fs.renameSync(tmp, daemon.passwordFile!);
  fs.writeFileSync(path.join(r.src, 'pw.txt'), 'pw\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the edit');
  await waitUntil(() => runLines().some((l) => l.code === 0), 'the run logged');
  assert.equal(runLines().find((l) => l.code === 0)!.warm, false, 'not through the stale standby');
  await readyStandby(r, sb.pid);
  await waitUntil(() => (target(r)?.warmStandby?.discarded ?? 0) >= 1 && !alive(sb.pid), 'the stale standby discarded');
  assert.equal(daemonConnects(), connects + runLines().length, 'one connection per run; the stale standby never connected');
});

test('the daemon down while a standby waits: the run fails as a connection error, is retried, and delivers once it is back', async () => {
  const r = setup();
  startAgent(r);
  await readyStandby(r);
  await daemon.stop();
  try {
    fs.writeFileSync(path.join(r.src, 'down.txt'), 'down\n');
    await waitUntil(() => (target(r)?.consecutiveFailures ?? 0) >= 1, 'a failed run');
    const t = target(r)!;
    assert.equal(t.lastErrorKind, 'connection', `classified as before: ${t.lastError}`);
    assert.ok(runLines().some((l) => l.warm && l.code !== 0), 'the failed run went through the standby');
  } finally {
    await daemon.start();
  }
  await waitConverged(r.src, [daemon.moduleDir], 'the edit after the daemon came back', 20_000);
});

test('kill -9 of the agent: neither an idle standby nor its gate is left behind', async () => {
  const r = setup();
  startAgent(r);
  const sb = await readyStandby(r);
  const members = groupMembers(sb.pid);
  assert.ok(members.length >= 2, `rsync and its gate (${members.join(',')})`);
  const connects = daemonConnects();
  await stopAgent('SIGKILL');
  await waitUntil(() => groupMembers(sb.pid).length === 0, `no process of the standby's group left (${groupMembers(sb.pid).join(',')})`);
  assert.equal(daemonConnects(), connects, 'the orphaned standby never connected');
});

test('--no-warm-standby: no standby, each run started when due (as before)', async () => {
  const r = setup();
  startAgent(r, ['--no-warm-standby']);
  await waitUntil(() => state(r)?.warmStandby !== undefined, 'state written');
  assert.equal(state(r)!.warmStandby!.on, false);
  assert.match(state(r)!.warmStandby!.why, /no-warm-standby/);
  assert.equal(target(r)?.warmStandby, undefined, 'the target keeps no standby');
  fs.writeFileSync(path.join(r.src, 'cold.txt'), 'cold\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the edit');
  await waitUntil(() => runLines().some((l) => l.code === 0), 'the run logged');
  assert.equal(runLines().find((l) => l.code === 0)!.warm, false);
});

test('pause while a standby waits: it is discarded unconnected; resume starts a new one and an edit goes through it', async () => {
  const r = setup();
  startAgent(r);
  const sb = await readyStandby(r);
  const connects = daemonConnects();
  const id = target(r)!.id;
  const cli = (args: string[]) => new Promise<number | null>((resolve) => {
    spawn(process.execPath, [MAIN, ...args, '--target', id, '--state-dir', r.stateDir], { stdio: 'ignore' }).once('exit', resolve);
  });
  assert.equal(await cli(['pause']), 0);
  await waitUntil(() => target(r)?.paused === true && !alive(sb.pid) && target(r)?.warmStandby?.pid === null, 'paused, standby gone');
  assert.ok((target(r)?.warmStandby?.discarded ?? 0) >= 1);
  assert.equal(daemonConnects(), connects, 'the discarded standby never connected');
  assert.equal(await cli(['resume']), 0);
  const next = await readyStandby(r, sb.pid);
  fs.writeFileSync(path.join(r.src, 'resumed.txt'), 'r\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the edit after resume');
  await waitUntil(() => runLines().some((l) => l.code === 0), 'the run logged');
  assert.equal(runLines().find((l) => l.code === 0)!.standbyStartedAt, new Date(next.readyAt).toISOString());
});

test('10,000 paths in one flat run: over the standby\'s size it starts as before; the standby waits on unconnected and carries the next edit', async () => {
  const r = setup();
  // One batch for the whole burst (batchDelayMs), and no full sync verifying it (afterBurstEvents 0): one flat run.
  fs.writeFileSync(r.configFile, fs.readFileSync(r.configFile, 'utf8').replace('    remotes:', '    rsyncParams: -a\n    remotes:')
    .replace('batchDelayMs: 0', 'batchDelayMs: 1500\nmaxBatchDelayMs: 20000\nfullSync: { afterBurstEvents: 0 }'));
  startAgent(r);
  const sb = await readyStandby(r);
  // Written outside the tree, then moved in one by one: 10,000 events on existing-directory paths (flat runs).
  const stage = path.join(path.dirname(r.src), 'stage');
  fs.mkdirSync(stage);
  for (let i = 0; i < 10_000; i++) fs.writeFileSync(path.join(stage, `f${i}.txt`), `file ${i}\n`);
  for (let i = 0; i < 10_000; i++) fs.renameSync(path.join(stage, `f${i}.txt`), path.join(r.src, `f${i}.txt`));
  await waitConverged(r.src, [daemon.moduleDir], '10,000 files on the target', 120_000);
  // The target is complete a moment before the run has ended and been logged.
  await waitUntil(() => runLines().filter((l) => l.code === 0).reduce((a, l) => a + (l.paths ?? 0), 0) >= 10_000, 'the runs logged', 30_000);
  const runs = runLines().filter((l) => l.code === 0);
  assert.ok(runs.some((l) => !l.warm && (l.paths ?? 0) >= 5000), `a run of 5,000+ paths started as before: ${JSON.stringify(runs.map((l) => [l.warm, l.paths]))}`);
  assert.doesNotMatch(output, /full sync (queued|done)/, 'no full sync carried them');
  assert.ok(alive(sb.pid) && target(r)?.warmStandby?.pid === sb.pid, 'the standby still waits');
  const editAt = Date.now();
  fs.writeFileSync(path.join(r.src, 'f1.txt'), 'edited\n');
  await waitConverged(r.src, [daemon.moduleDir], 'the edit after the burst');
  await waitUntil(() => runLines().some((l) => l.standbyStartedAt === new Date(sb.readyAt).toISOString()), 'the edit through the standby that waited through the burst');
  assert.ok(sb.readyAt < editAt);
});
