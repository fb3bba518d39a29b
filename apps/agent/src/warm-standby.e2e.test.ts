/**
 * The warm standby rsync client (warm-standby.ts, native/rsynchub-gate.c) with the real agent process, a real rsync
 * daemon and the real rsync client: a single edit goes through a standby started before the edit; an idle standby opens
 * no daemon connection; a killed standby is replaced; a changed password file makes it stale; the daemon being down
 * while a standby waits is an ordinary retried failure; kill -9 of the agent leaves no standby process; the switch off
 * restores starting each run when due.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { alive, groupMembers, waitConverged, waitUntil } from './e2e-support';
import { AGENT_MAIN, StandbyHarness } from './standby-e2e-support';

const h = new StandbyHarness('warm', 'warm-standby-pw');

test('a single edit is delivered by the standby started before the edit; an idle standby opens no daemon connection', async () => {
  const r = h.setup();
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  assert.equal(h.state(r)?.warmStandby?.on, true, 'the agent says standbys are on');
  // Idle: the standby is up (rsync and its gate), and for 3 s nothing reaches the h.daemon.
  const connects = h.daemonConnects();
  const idleUntil = Date.now() + 3000;
  await waitUntil(() => Date.now() >= idleUntil, 'three idle seconds', 5000);
  assert.equal(h.daemonConnects(), connects, 'the daemon logged a connection while the standby was idle');
  assert.ok(alive(sb.pid), 'the standby waited all along');
  assert.ok(groupMembers(sb.pid).length >= 2, `rsync and its gate are waiting (group ${groupMembers(sb.pid).join(',')})`);
  const editAt = Date.now();
  fs.writeFileSync(path.join(r.src, 'one.txt'), 'one edit\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit on the target');
  await waitUntil(() => h.runLines().some((l) => l.code === 0), 'the run logged');
  const run = h.runLines().find((l) => l.code === 0)!;
  assert.equal(run.warm, true, `the run went through the standby: ${JSON.stringify(run)}`);
  assert.ok(Date.parse(run.standbyStartedAt!) < editAt, `its rsync was started (${run.standbyStartedAt}) before the edit (${new Date(editAt).toISOString()})`);
  assert.equal(Date.parse(run.standbyStartedAt!), sb.readyAt, 'it is the standby seen waiting');
  await waitUntil(() => (h.target(r)?.warmStandby?.used ?? 0) >= 1, 'used counted');
  // The daemon saw exactly the run's connection, and a new standby waits (without connecting) for the next edit.
  const next = await h.readyStandby(r, sb.pid);
  assert.ok(!alive(sb.pid), 'the used standby is gone');
  assert.equal(h.daemonConnects(), connects + h.runLines().length, 'one connection per run, none from a waiting standby');
  // The second edit, once the agent is idle again (a run may still be carrying the first edit's close event).
  await waitUntil(() => h.target(r)?.queueLength === 0 && h.target(r)?.inFlight === false && (h.target(r)?.warmStandby?.pid ?? null) !== null, 'idle with a standby');
  const before = h.runLines().length;
  const edit2At = Date.now();
  fs.writeFileSync(path.join(r.src, 'two.txt'), 'two\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the second edit');
  await waitUntil(() => h.runLines().length > before, 'the second edit\'s run logged');
  const second = h.runLines()[before];
  assert.equal(second.warm, true, `the second edit went through a standby: ${JSON.stringify(second)}`);
  assert.ok(Date.parse(second.standbyStartedAt!) >= next.readyAt && Date.parse(second.standbyStartedAt!) < edit2At, 'one started after the first run, before the edit');
});

test('a standby killed while it waits is replaced, and the next edit still arrives through a standby', async () => {
  const r = h.setup();
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  // Wait past the "died young" guard, then kill rsync (not its gate: the agent must clean that up too).
  const oldEnough = sb.readyAt + 1200;
  await waitUntil(() => Date.now() >= oldEnough, 'standby older than 1 s', 5000);
  const members = groupMembers(sb.pid);
  process.kill(sb.pid, 'SIGKILL');
  const next = await h.readyStandby(r, sb.pid);
  await waitUntil(() => (h.target(r)?.warmStandby?.died ?? 0) >= 1, 'the death counted');
  await waitUntil(() => members.every((p) => !alive(p)), `the dead standby's gate is gone too (${members.join(',')})`);
  assert.match(h.output, /warm standby rsync died while waiting; replaced/);
  const editAt = Date.now();
  fs.writeFileSync(path.join(r.src, 'after-kill.txt'), 'x\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit after the kill');
  await waitUntil(() => h.runLines().some((l) => l.code === 0), 'the run logged');
  const run = h.runLines().find((l) => l.code === 0)!;
  assert.equal(run.warm, true);
  assert.equal(run.standbyStartedAt, new Date(next.readyAt).toISOString());
  assert.ok(next.readyAt < editAt);
});

test('a password file changed while a standby waits: the run starts as before, the stale standby is discarded unconnected', async () => {
  const r = h.setup();
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  const connects = h.daemonConnects();
  // Same password, new file version (another inode, new mtime): what the standby was started with no longer holds.
  const tmp = `${h.daemon.passwordFile}.new`;
  fs.writeFileSync(tmp, 'warm-standby-pw\n', { mode: 0o600 });
  fs.renameSync(tmp, h.daemon.passwordFile!);
  fs.writeFileSync(path.join(r.src, 'pw.txt'), 'pw\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit');
  await waitUntil(() => h.runLines().some((l) => l.code === 0), 'the run logged');
  assert.equal(h.runLines().find((l) => l.code === 0)!.warm, false, 'not through the stale standby');
  await h.readyStandby(r, sb.pid);
  await waitUntil(() => (h.target(r)?.warmStandby?.discarded ?? 0) >= 1 && !alive(sb.pid), 'the stale standby discarded');
  assert.equal(h.daemonConnects(), connects + h.runLines().length, 'one connection per run; the stale standby never connected');
});

test('the daemon down while a standby waits: the run fails as a connection error, is retried, and delivers once it is back', async () => {
  const r = h.setup();
  h.startAgent(r);
  await h.readyStandby(r);
  await h.daemon.stop();
  try {
    fs.writeFileSync(path.join(r.src, 'down.txt'), 'down\n');
    await waitUntil(() => (h.target(r)?.consecutiveFailures ?? 0) >= 1, 'a failed run');
    const t = h.target(r)!;
    assert.equal(t.lastErrorKind, 'connection', `classified as before: ${t.lastError}`);
    assert.ok(h.runLines().some((l) => l.warm && l.code !== 0), 'the failed run went through the standby');
  } finally {
    await h.daemon.start();
  }
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit after the daemon came back', 20_000);
});

test('kill -9 of the agent: neither an idle standby nor its gate is left behind', async () => {
  const r = h.setup();
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  const members = groupMembers(sb.pid);
  assert.ok(members.length >= 2, `rsync and its gate (${members.join(',')})`);
  const connects = h.daemonConnects();
  await h.stopAgent('SIGKILL');
  await waitUntil(() => groupMembers(sb.pid).length === 0, `no process of the standby's group left (${groupMembers(sb.pid).join(',')})`);
  assert.equal(h.daemonConnects(), connects, 'the orphaned standby never connected');
});

test('--no-warm-standby: no standby, each run started when due (as before)', async () => {
  const r = h.setup();
  h.startAgent(r, { args: ['--no-warm-standby'] });
  await waitUntil(() => h.state(r)?.warmStandby !== undefined, 'state written');
  assert.equal(h.state(r)!.warmStandby!.on, false);
  assert.match(h.state(r)!.warmStandby!.why, /no-warm-standby/);
  assert.equal(h.target(r)?.warmStandby, undefined, 'the target keeps no standby');
  fs.writeFileSync(path.join(r.src, 'cold.txt'), 'cold\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit');
  await waitUntil(() => h.runLines().some((l) => l.code === 0), 'the run logged');
  assert.equal(h.runLines().find((l) => l.code === 0)!.warm, false);
});

test('pause while a standby waits: it is discarded unconnected; resume starts a new one and an edit goes through it', async () => {
  const r = h.setup();
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  const connects = h.daemonConnects();
  const id = h.target(r)!.id;
  const cli = (args: string[]) => new Promise<number | null>((resolve) => {
    spawn(process.execPath, [AGENT_MAIN, ...args, '--target', id, '--state-dir', r.stateDir], { stdio: 'ignore' }).once('exit', resolve);
  });
  assert.equal(await cli(['pause']), 0);
  await waitUntil(() => h.target(r)?.paused === true && !alive(sb.pid) && h.target(r)?.warmStandby?.pid === null, 'paused, standby gone');
  assert.ok((h.target(r)?.warmStandby?.discarded ?? 0) >= 1);
  assert.equal(h.daemonConnects(), connects, 'the discarded standby never connected');
  assert.equal(await cli(['resume']), 0);
  const next = await h.readyStandby(r, sb.pid);
  fs.writeFileSync(path.join(r.src, 'resumed.txt'), 'r\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit after resume');
  await waitUntil(() => h.runLines().some((l) => l.code === 0), 'the run logged');
  assert.equal(h.runLines().find((l) => l.code === 0)!.standbyStartedAt, new Date(next.readyAt).toISOString());
});

test('10,000 paths in one flat run: over the standby\'s size it starts as before; the standby waits on unconnected and carries the next edit', async () => {
  const r = h.setup();
  // One batch for the whole burst (batchDelayMs), and no full sync verifying it (afterBurstEvents 0): one flat run.
  fs.writeFileSync(r.configFile, fs.readFileSync(r.configFile, 'utf8').replace('    remotes:', '    rsyncParams: -a\n    remotes:')
    .replace('batchDelayMs: 0', 'batchDelayMs: 1500\nmaxBatchDelayMs: 20000\nfullSync: { afterBurstEvents: 0 }'));
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  // Written outside the tree, then moved in one by one: 10,000 events on existing-directory paths (flat runs).
  const stage = path.join(path.dirname(r.src), 'stage');
  fs.mkdirSync(stage);
  for (let i = 0; i < 10_000; i++) fs.writeFileSync(path.join(stage, `f${i}.txt`), `file ${i}\n`);
  for (let i = 0; i < 10_000; i++) fs.renameSync(path.join(stage, `f${i}.txt`), path.join(r.src, `f${i}.txt`));
  await waitConverged(r.src, [h.daemon.moduleDir], '10,000 files on the target', 120_000);
  // The target is complete a moment before the run has ended and been logged.
  await waitUntil(() => h.runLines().filter((l) => l.code === 0).reduce((a, l) => a + (l.paths ?? 0), 0) >= 10_000, 'the runs logged', 30_000);
  const runs = h.runLines().filter((l) => l.code === 0);
  assert.ok(runs.some((l) => !l.warm && (l.paths ?? 0) >= 5000), `a run of 5,000+ paths started as before: ${JSON.stringify(runs.map((l) => [l.warm, l.paths]))}`);
  assert.doesNotMatch(h.output, /full sync (queued|done)/, 'no full sync carried them');
  assert.ok(alive(sb.pid) && h.target(r)?.warmStandby?.pid === sb.pid, 'the standby still waits');
  const editAt = Date.now();
  fs.writeFileSync(path.join(r.src, 'f1.txt'), 'edited\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit after the burst');
  await waitUntil(() => h.runLines().some((l) => l.standbyStartedAt === new Date(sb.readyAt).toISOString()), 'the edit through the standby that waited through the burst');
  assert.ok(sb.readyAt < editAt);
});
