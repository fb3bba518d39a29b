/**
 * Warm standbys started through the rsync launcher (warm-standby.ts, rsync-launcher.ts, native/rsynchub-spawn.c), with
 * the real agent process, a real rsync daemon and the real rsync client and gate: the standby's parent is the launcher
 * (the agent's event loop does not fork the agent for it); kill -9 of the launcher while a standby waits leaves no
 * standby or gate behind, never connects, and the next edit goes through a standby of a new launcher; with
 * RSYNCHUB_AGENT_SPAWN=node standbys are started with node's spawn as before; a standby whose gate is stopped (SIGSTOP)
 * is killed whole by the stall watchdog once released, and the edit is retried and arrives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, groupMembers, parentOf, waitConverged, waitUntil } from './e2e-support';
import { StandbyHarness, type StandbyRun } from './standby-e2e-support';

const built = fs.existsSync(path.join(__dirname, 'rsynchub-spawn')) && fs.existsSync(path.join(__dirname, 'rsynchub-gate'));
const skip = built ? false : 'the launcher or the gate is not built';
const h = new StandbyHarness('warm-launcher', 'warm-launcher-pw', { RSYNCHUB_AGENT_SPAWN: '', RSYNCHUB_AGENT_STANDBY_SPAWN: '' });

/** The edit goes through a standby started before it, and arrives. */
async function editThroughStandby(r: StandbyRun, name: string, sb: { readyAt: number }): Promise<void> {
  await waitUntil(() => h.target(r)?.queueLength === 0 && h.target(r)?.inFlight === false, 'idle');
  const before = h.runLines().length;
  fs.writeFileSync(path.join(r.src, name), `${name}\n`);
  await waitConverged(r.src, [h.daemon.moduleDir], `${name} on the target`);
  await waitUntil(() => h.runLines().slice(before).some((l) => l.code === 0), 'the run logged');
  const run = h.runLines().slice(before).find((l) => l.code === 0)!;
  assert.equal(run.warm, true, `the run went through the standby: ${JSON.stringify(run)}`);
  assert.equal(Date.parse(run.standbyStartedAt!), sb.readyAt, 'the standby seen waiting');
}

test('a standby is started by the rsync launcher (its parent is the launcher, not the agent) and carries the edit', { skip }, async () => {
  const r = h.setup();
  const agent = h.startAgent(r);
  const sb = await h.readyStandby(r);
  const launcher = await h.launcherPid(r);
  assert.equal(sb.via, 'launcher');
  assert.equal(parentOf(sb.pid), launcher, `the standby's parent is the launcher (${launcher}), not the agent (${agent.pid})`);
  assert.equal(parentOf(launcher), agent.pid);
  const w = h.target(r)!.warmStandby!;
  assert.ok(w.viaLauncher >= 1 && w.viaLauncher === w.started, `every standby through the launcher: ${JSON.stringify(w)}`);
  assert.equal(typeof w.lastStartMs, 'number');
  await editThroughStandby(r, 'one.txt', sb);
  const next = await h.readyStandby(r, sb.pid);
  assert.equal(parentOf(next.pid), launcher, 'the next standby too');
});

test('kill -9 of the launcher while a standby waits: standby and gate end unconnected, a new launcher\'s standby carries the next edit', { skip }, async () => {
  const r = h.setup();
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  const launcher = await h.launcherPid(r);
  await waitUntil(() => groupMembers(sb.pid).length >= 2, 'rsync and its gate waiting');
  const members = groupMembers(sb.pid);
  const connects = h.daemonConnects();
  process.kill(launcher, 'SIGKILL');
  await waitUntil(() => members.every((p) => !alive(p)), `the standby's processes gone (${members.join(',')})`);
  const next = await h.readyStandby(r, sb.pid);
  assert.equal(next.via, 'launcher', 'the replacement goes through a new launcher');
  await waitUntil(() => (h.state(r)?.rsyncLauncherPid ?? launcher) !== launcher, 'a new launcher in the state');
  assert.equal(parentOf(next.pid), h.state(r)!.rsyncLauncherPid);
  assert.ok((h.target(r)?.warmStandby?.died ?? 0) >= 1, 'the lost standby counted as died');
  assert.match(h.output, /rsync launcher died/);
  assert.equal(h.daemonConnects(), connects, 'the lost standby never connected');
  await editThroughStandby(r, 'after-launcher-kill.txt', next);
});

test('RSYNCHUB_AGENT_SPAWN=node: standbys are started with node\'s spawn (the agent is their parent) and still carry edits', { skip }, async () => {
  const r = h.setup();
  const agent = h.startAgent(r, { env: { RSYNCHUB_AGENT_SPAWN: 'node' } });
  const sb = await h.readyStandby(r);
  assert.equal(sb.via, 'node');
  assert.equal(parentOf(sb.pid), agent.pid);
  assert.equal(h.target(r)!.warmStandby!.viaLauncher, 0);
  await editThroughStandby(r, 'node.txt', sb);
});

test('a standby whose gate is stopped (SIGSTOP): the released run stalls, the watchdog kills its whole group (the stopped gate too), the edit arrives on retry', { skip }, async () => {
  const r = h.setup(['stallKillSec: 2']);
  h.startAgent(r);
  const sb = await h.readyStandby(r);
  await waitUntil(() => groupMembers(sb.pid).length >= 3, 'rsync, its connect fork and the gate waiting');
  const gate = groupMembers(sb.pid).find((p) => { try { return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'rsynchub-gate'; } catch { return false; } });
  assert.ok(gate, `the gate among ${groupMembers(sb.pid).join(',')}`);
  process.kill(gate, 'SIGSTOP');
  const members = groupMembers(sb.pid);
  fs.writeFileSync(path.join(r.src, 'stopped-gate.txt'), 'x\n');
  await waitConverged(r.src, [h.daemon.moduleDir], 'the edit after the stalled run', 30_000);
  await waitUntil(() => members.every((p) => !alive(p)), `every process of the stalled standby gone, the stopped gate too (${members.join(',')})`);
  const lines = h.runLines();
  assert.ok(lines.some((l) => l.warm && l.code !== 0), `the run through the stopped gate failed: ${JSON.stringify(lines)}`);
  assert.match(h.output, /"msg":"push failed; will retry"[^\n]*rsync stalled/, 'the failure was the stall watchdog\'s');
});

test('SIGTERM of the agent with a standby waiting: the agent exits, and neither the standby (nor its gate) nor the launcher is left', { skip }, async () => {
  const r = h.setup();
  const agent = h.startAgent(r);
  const sb = await h.readyStandby(r);
  const launcher = await h.launcherPid(r);
  await waitUntil(() => groupMembers(sb.pid).length >= 2, 'rsync and its gate waiting');
  const members = groupMembers(sb.pid);
  const connects = h.daemonConnects();
  const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
  agent.kill('SIGTERM');
  assert.equal(await exited, 0);
  await waitUntil(() => [...members, launcher].every((p) => !alive(p)), `no standby process (${members.join(',')}) and no launcher (${launcher}) left`);
  assert.equal(h.daemonConnects(), connects, 'the standby never connected');
});
