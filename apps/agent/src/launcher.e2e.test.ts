/**
 * The agent's rsync launcher under attack, with the agent as a real process, real rsync and a real daemon: edits at
 * about 1,000 per second with odd and non-UTF-8 names while the launcher is killed with SIGKILL again and again. No
 * change may be lost (the runs in flight are run again), and after the launcher's last allowed restart the agent goes
 * on with node's spawn.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import type { AgentState } from './agent';
import { RsyncDaemon, sleep, tmpDir, waitConverged, waitUntil } from './e2e-support';
import { launcherPath, MAX_LAUNCHER_RESTARTS } from './rsync-launcher';
import { encodePath } from './path-bytes';

const MAIN = path.join(__dirname, 'main.js');
const built = fs.existsSync(launcherPath());
let proc: ChildProcess | null = null;
let output = '';
const cleanup: (() => Promise<void> | void)[] = [];

after(async () => {
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  for (const c of cleanup.reverse()) await c();
  if (process.env.AGENT_TEST_LOG) fs.writeFileSync(process.env.AGENT_TEST_LOG, output);
});

test('kill -9 of the launcher again and again during 1,000 edits/s with odd names: nothing lost, then node\'s spawn', { skip: built ? false : 'launcher not built' }, async () => {
  const work = tmpDir('launcher');
  cleanup.push(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'src');
  const stateDir = path.join(work, 'state');
  fs.mkdirSync(src);
  const d = await new RsyncDaemon().start();
  cleanup.push(() => d.destroy());
  const config = path.join(work, 'agent.json');
  fs.writeFileSync(config, JSON.stringify({ watches: [{ path: src, remotes: [`rsync://127.0.0.1:${d.port}/m`] }], retry: { initialDelayMs: 200, maxDelayMs: 1000 } }));
  const child = spawn(process.execPath, [MAIN, 'run', '--config', config, '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RSYNCHUB_AGENT_SPAWN: '' } });
  proc = child;
  child.stdout!.on('data', (x) => (output += x));
  child.stderr!.on('data', (x) => (output += x));
  const state = () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as AgentState;
    } catch {
      return null;
    }
  };
  await waitUntil(() => state()?.watches.every((w) => w.watching) === true, 'agent watching');
  assert.equal(state()!.rsyncSpawn, 'launcher');

  const names = ['plain', 'with space', 'new\nline', "quote'\"", 'back\\slash', '-dash', 'é中🎉', '%VAR%', '*?[x]'];
  const odd = [Buffer.from([0x66, 0xff, 0xfe]), Buffer.from([0x6c, 0x61, 0x74, 0xe9])]; // not UTF-8
  let writes = 0;
  let kills = 0;
  const killed = new Set<number>();
  const t0 = Date.now();
  // A kill every 400 ms while edits flow: more kills than allowed restarts, so the fallback is reached too.
  let nextKill = t0 + 300;
  while (writes < 4000 || kills <= MAX_LAUNCHER_RESTARTS) {
    if (Date.now() - t0 > 60_000) throw new Error(`only ${writes} writes and ${kills} kills in 60 s`);
    for (let i = 0; i < 20; i++, writes++) {
      const k = writes % (names.length + odd.length);
      const dir = path.join(src, `d${writes % 7}`);
      fs.mkdirSync(dir, { recursive: true });
      if (k < names.length) fs.writeFileSync(path.join(dir, `${names[k]}-${writes % 50}`), `v${writes}\n`);
      else fs.writeFileSync(Buffer.concat([encodePath(`${dir}/`), odd[k - names.length], Buffer.from(`-${writes % 50}`)]), `v${writes}\n`);
      if (writes % 97 === 0) fs.rmSync(path.join(dir, `${names[0]}-${writes % 50}`), { force: true });
    }
    if (Date.now() >= nextKill) {
      const pid = state()?.rsyncLauncherPid;
      if (pid && !killed.has(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
          killed.add(pid);
          kills++;
        } catch {
          // already gone
        }
      }
      nextKill = Date.now() + 400;
    }
    await sleep(20); // ~20 writes per 20 ms: ~1,000 per second
  }
  assert.ok(kills > MAX_LAUNCHER_RESTARTS, `${kills} kills (more than the ${MAX_LAUNCHER_RESTARTS} restarts)`);
  await waitConverged(src, [d.moduleDir], 'target identical after the launcher was killed mid-runs', 60_000);
  assert.match(output, /rsync launcher died; runs in flight are run again/);
  await waitUntil(() => state()?.rsyncSpawn === 'node', 'the agent on node\'s spawn after the last restart', 10_000);
  // And it keeps working on node's spawn
  fs.writeFileSync(path.join(src, 'after.txt'), 'after');
  await waitConverged(src, [d.moduleDir], 'an edit after the fallback', 30_000);
  assert.doesNotMatch(output, /"level":"error"/);
});

test('kill -9 of the agent: its launcher exits too (no orphan helper)', { skip: built ? false : 'launcher not built' }, async () => {
  const work = tmpDir('launcher');
  cleanup.push(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'src');
  const stateDir = path.join(work, 'state');
  fs.mkdirSync(src);
  const config = path.join(work, 'agent.json');
  fs.writeFileSync(config, JSON.stringify({ watches: [{ path: src, remotes: ['rsync://127.0.0.1:9/m'] }] }));
  const child = spawn(process.execPath, [MAIN, 'run', '--config', config, '--state-dir', stateDir], { stdio: 'ignore', env: { ...process.env, RSYNCHUB_AGENT_SPAWN: '' } });
  let pid: number | undefined;
  await waitUntil(() => {
    try {
      pid = (JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as AgentState).rsyncLauncherPid;
    } catch {
      // not written yet
    }
    return pid !== undefined;
  }, 'the launcher pid in state.json');
  assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /rsynchub-spawn/);
  child.kill('SIGKILL');
  await waitUntil(() => !fs.existsSync(`/proc/${pid}`) || /^\S+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')), 'the launcher gone');
});
