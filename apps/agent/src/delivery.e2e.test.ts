/**
 * Delivery guarantees of issue 12, each against a real rsync daemon with auth (long random password): rollbacks are
 * pushed, a hung target is killed and logged, the delete guard pauses a target instead of wiping it (emptied source,
 * too large a share, unmounted file system), pause/resume from the CLI, sersync filters as full matches on every run
 * kind, a top-level change pushes only its names, status clears old errors and finished progress.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Agent, readState } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { RsyncDaemon, tmpDir, waitConverged, waitUntil } from './e2e-support';

const MAIN = path.join(__dirname, 'main.js');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Setup {
  work: string;
  src: string;
  stateDir: string;
  daemon: RsyncDaemon;
  logs: string[];
  agent: (extra?: Record<string, unknown>, watch?: Record<string, unknown>, opts?: { fullSyncAtStart?: boolean }) => Promise<Agent>;
}

async function setup(name: string): Promise<Setup> {
  const work = tmpDir(name);
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon({ auth: { user: 'pusher', password: crypto.randomBytes(12).toString('hex') } }).start();
  const logs: string[] = [];
  const stateDir = path.join(work, 'state');
  let running: Agent | null = null;
  cleanups.push(async () => {
    await running?.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  });
  return {
    work, src, stateDir, daemon, logs,
    agent: async (extra = {}, watch = {}, opts = {}) => {
      await running?.stop();
      const config = validateConfig({
        watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: daemon.port, module: 'm', user: 'pusher', passwordFile: daemon.passwordFile }], ...watch }],
        retry: { initialDelayMs: 200, maxDelayMs: 1000, factor: 2, jitter: 0.2 },
        connectTimeoutSec: 5,
        ...extra,
      });
      running = new Agent(config, { stateDir, log: createLogger('debug', (l) => logs.push(l)), fullSyncAtStart: opts.fullSyncAtStart });
      await running.start();
      return running;
    },
  };
}

function writeFiles(root: string, n: number, prefix = 'f'): void {
  for (let i = 0; i < n; i++) {
    const f = path.join(root, `${prefix}${i}.txt`);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, `${prefix} ${i}\n`);
  }
}

const countFiles = (dir: string): number => fs.readdirSync(dir, { recursive: true }).length;

test('5. rollbacks are pushed with the default params: an older file restored with cp -p replaces the newer one', async () => {
  const s = await setup('rollback');
  const f = path.join(s.src, 'page.html');
  const old = path.join(s.work, 'backup-page.html');
  fs.writeFileSync(old, 'version 1\n');
  fs.utimesSync(old, new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
  const agent = await s.agent();
  fs.writeFileSync(f, 'version 2, the newer one\n');
  await waitConverged(s.src, [s.daemon.moduleDir], 'v2 pushed');
  execFileSync('cp', ['-p', old, f]); // the restore: older content, older mtime
  await waitConverged(s.src, [s.daemon.moduleDir], 'the restored older file pushed');
  assert.equal(fs.readFileSync(path.join(s.daemon.moduleDir, 'page.html'), 'utf8'), 'version 1\n');
  // tar x restores old mtimes too: a whole restored directory arrives
  const tarDir = path.join(s.work, 'tarball');
  fs.mkdirSync(path.join(tarDir, 'site'), { recursive: true });
  fs.writeFileSync(path.join(tarDir, 'site', 'a.txt'), 'old a\n');
  fs.utimesSync(path.join(tarDir, 'site', 'a.txt'), new Date('2023-05-05'), new Date('2023-05-05'));
  execFileSync('tar', ['-C', tarDir, '-cf', path.join(s.work, 'site.tar'), 'site']);
  fs.mkdirSync(path.join(s.src, 'site'));
  fs.writeFileSync(path.join(s.src, 'site', 'a.txt'), 'new a, longer\n');
  await waitConverged(s.src, [s.daemon.moduleDir], 'new site');
  execFileSync('tar', ['-C', s.src, '-xf', path.join(s.work, 'site.tar')]);
  await waitConverged(s.src, [s.daemon.moduleDir], 'site restored by tar x');
  assert.equal(fs.readFileSync(path.join(s.daemon.moduleDir, 'site', 'a.txt'), 'utf8'), 'old a\n');
  assert.deepEqual(agent.targets()[0].lastError, null);
});

test('7. a hung target (accepts TCP, never replies) is killed by the watchdog, logged and counted as a failure', async () => {
  const s = await setup('hung');
  const sockets: net.Socket[] = [];
  const hung = net.createServer((c) => sockets.push(c)); // accepts, never writes a byte
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => {
    for (const c of sockets) c.destroy();
    hung.close(() => r());
  }));
  const port = (hung.address() as net.AddressInfo).port;
  // rsync's own --timeout switched off: only the agent's watchdog can end the run.
  const config = validateConfig({
    watches: [{ path: s.src, remotes: [{ host: '127.0.0.1', port, module: 'm', user: 'pusher', passwordFile: s.daemon.passwordFile }] }],
    retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, factor: 1, jitter: 0 },
    timeoutSec: 0, stallKillSec: 2,
  });
  const agent = new Agent(config, { stateDir: s.stateDir, log: createLogger('debug', (l) => s.logs.push(l)) });
  await agent.start();
  cleanups.push(() => agent.stop());
  const started = Date.now();
  fs.writeFileSync(path.join(s.src, 'x.txt'), 'x');
  await waitUntil(() => agent.targets()[0].consecutiveFailures >= 1, 'the stalled run counted as a failure', 20_000);
  const took = Date.now() - started;
  const t = agent.targets()[0];
  assert.match(t.lastError ?? '', /stalled/);
  assert.ok(took < 15_000, `stall detected after ${took} ms`);
  assert.ok(s.logs.some((l) => /push failed; will retry/.test(l) && /stalled/.test(l)), 'a log line names the stall');
});

test('11. an emptied source never wipes the target: the full sync is refused, the target paused with the reason', async () => {
  const s = await setup('guard-empty');
  writeFiles(s.src, 30);
  let agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitConverged(s.src, [s.daemon.moduleDir], 'initial');
  await agent.stop();
  for (const f of fs.readdirSync(s.src)) fs.rmSync(path.join(s.src, f)); // emptied while the agent was down
  agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitUntil(() => agent.targets()[0].paused, 'target paused by the delete guard');
  const t = agent.targets()[0];
  assert.match(t.pauseReason ?? '', /watched root is empty but the target is not \(30 entries would be deleted\)/);
  assert.equal(countFiles(s.daemon.moduleDir), 30, 'target intact');
  assert.ok(s.logs.some((l) => /target paused/.test(l)));
  // status (a separate process) shows it, and the resume hint
  await waitUntil(() => readState(s.stateDir)?.targets[0].paused === true, 'state.json shows the pause');
  const st = spawnSync(process.execPath, [MAIN, 'status', '--state-dir', s.stateDir], { encoding: 'utf8' });
  assert.match(st.stdout, /PAUSED/);
  assert.match(st.stdout, /watched root is empty.*resume: rsynchub-agent resume --target/);
  // An explicit resume accepts the source as it is: the deletion goes through.
  const r = spawnSync(process.execPath, [MAIN, 'resume', '--target', 'm', '--state-dir', s.stateDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await waitConverged(s.src, [s.daemon.moduleDir], 'resumed: the empty source mirrored');
  assert.equal(agent.targets()[0].paused, false);
});

test('11. a full sync that would delete more than deleteGuard.maxDeletePercent of the target is refused', async () => {
  const s = await setup('guard-share');
  writeFiles(s.src, 40);
  let agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitConverged(s.src, [s.daemon.moduleDir], 'initial');
  await agent.stop();
  for (let i = 0; i < 25; i++) fs.rmSync(path.join(s.src, `f${i}.txt`)); // 25 of 40: 62 %
  agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitUntil(() => agent.targets()[0].paused, 'target paused');
  assert.match(agent.targets()[0].pauseReason ?? '', /would delete 25 of 40 entries.*maxDeletePercent 50%/);
  assert.equal(countFiles(s.daemon.moduleDir), 40, 'target intact');
  // Under the limit (or with the guard raised) it goes through.
  agent = await s.agent({ deleteGuard: { maxDeletePercent: 70 } }, {}, { fullSyncAtStart: true });
  // The pause persists across restarts until an explicit resume.
  assert.equal(agent.targets()[0].paused, true);
  spawnSync(process.execPath, [MAIN, 'resume', '--target', 'm', '--state-dir', s.stateDir]);
  await waitConverged(s.src, [s.daemon.moduleDir], 'after resume');
});

test('11. a rename seen only by a full sync (mv data2 data3 while the agent was down) is mirrored, not refused as a mass deletion', async () => {
  const s = await setup('guard-rename');
  writeFiles(path.join(s.src, 'data2'), 100);
  for (let i = 1; i <= 5; i++) fs.writeFileSync(path.join(s.src, `top${i}`), `top ${i}\n`);
  let agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitConverged(s.src, [s.daemon.moduleDir], 'initial');
  await agent.stop();
  // 101 of 106 target entries deleted and 101 created: the source did not shrink.
  fs.renameSync(path.join(s.src, 'data2'), path.join(s.src, 'data3'));
  agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitConverged(s.src, [s.daemon.moduleDir], 'the rename mirrored by the full sync');
  assert.equal(agent.targets()[0].paused, false, agent.targets()[0].pauseReason ?? '');
  assert.ok(!fs.existsSync(path.join(s.daemon.moduleDir, 'data2')));
  // A rename plus a real mass deletion (net loss 60 of 106) is still refused.
  await agent.stop();
  for (let i = 0; i < 60; i++) fs.rmSync(path.join(s.src, 'data3', `f${i}.txt`));
  fs.renameSync(path.join(s.src, 'data3'), path.join(s.src, 'data4'));
  agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitUntil(() => agent.targets()[0].paused, 'target paused');
  assert.match(agent.targets()[0].pauseReason ?? '', /would delete 101 and create 41 \(net loss 60\) of 106 entries.*maxDeletePercent 50%/);
  assert.ok(fs.existsSync(path.join(s.daemon.moduleDir, 'data3', 'f0.txt')), 'target intact');
});

test('11. an unmounted source file system (tmpfs) is refused: the root is on another device', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a tmpfs');
  const s = await setup('guard-unmount');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', s.src]);
  } catch {
    return t.skip('mount -t tmpfs not permitted here');
  }
  cleanups.push(() => {
    spawnSync('umount', [s.src]);
  });
  writeFiles(s.src, 20);
  let agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitConverged(s.src, [s.daemon.moduleDir], 'initial');
  await agent.stop();
  execFileSync('umount', [s.src]); // the mount point is an empty directory on the parent file system now
  fs.writeFileSync(path.join(s.src, 'stray.txt'), 'written into the bare mount point');
  agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitUntil(() => agent.targets()[0].paused, 'target paused');
  assert.match(agent.targets()[0].pauseReason ?? '', /on another device now.*looks unmounted/);
  assert.equal(countFiles(s.daemon.moduleDir), 20, 'target intact');
  assert.ok(!fs.existsSync(path.join(s.daemon.moduleDir, 'stray.txt')), 'nothing pushed from the bare mount point');
});

test('12. pause/resume from the CLI: nothing is pushed while paused, everything after resume; status and heartbeat state say so', async () => {
  const s = await setup('pause');
  const agent = await s.agent();
  fs.writeFileSync(path.join(s.src, 'before.txt'), 'b');
  await waitConverged(s.src, [s.daemon.moduleDir], 'before pause');
  const p = spawnSync(process.execPath, [MAIN, 'pause', '--target', `127.0.0.1::m`, '--reason', 'maintenance', '--state-dir', s.stateDir], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  await waitUntil(() => agent.targets()[0].paused, 'paused');
  assert.equal(agent.targets()[0].pauseReason, 'paused by admin: maintenance');
  fs.writeFileSync(path.join(s.src, 'during.txt'), 'd');
  await waitUntil(() => agent.targets()[0].queueLength > 0, 'journaled while paused');
  await new Promise((r) => setTimeout(r, 600)); // a run would have started by now (batch delay 50 ms)
  assert.ok(!fs.existsSync(path.join(s.daemon.moduleDir, 'during.txt')), 'not pushed while paused');
  const st = spawnSync(process.execPath, [MAIN, 'status', '--json', '--state-dir', s.stateDir], { encoding: 'utf8' });
  const json = JSON.parse(st.stdout) as { targets: { paused: boolean; pauseReason: string }[] };
  assert.equal(json.targets[0].paused, true);
  assert.equal(json.targets[0].pauseReason, 'paused by admin: maintenance');
  const bad = spawnSync(process.execPath, [MAIN, 'resume', '--target', 'nope', '--state-dir', s.stateDir], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no target "nope"/);
  spawnSync(process.execPath, [MAIN, 'resume', '--target', 'm', '--state-dir', s.stateDir]);
  await waitConverged(s.src, [s.daemon.moduleDir], 'after resume');
});

test('6. sersync filters are full matches on every run kind; crontabfilter applies to scheduled full syncs only', async () => {
  const s = await setup('filters');
  for (const f of ['statics/x.gz.txt', 'information/doc.txt', 'keep.txt', 'app.php', 'drop.gz', 'info/secret.txt', 'a/b.svn/c.txt']) {
    fs.mkdirSync(path.dirname(path.join(s.src, f)), { recursive: true });
    fs.writeFileSync(path.join(s.src, f), f);
  }
  const watch = { excludeRegex: ['(.*)\\.svn', '(.*)\\.gz', '^info/*', '^static/*'], fullSyncExcludes: ['*.php'] };
  await s.agent({}, watch, { fullSyncAtStart: true });
  const has = (f: string) => fs.existsSync(path.join(s.daemon.moduleDir, f));
  await waitUntil(() => has('keep.txt') && has('app.php'), 'the -r full sync (crontabfilter not applied)');
  assert.ok(has('statics/x.gz.txt'), 'statics/x.gz.txt does not fully match (.*)\\.gz');
  assert.ok(has('information/doc.txt'), 'information/ does not fully match ^info/*');
  for (const f of ['drop.gz', 'info', 'a/b.svn']) assert.ok(!has(f), `${f} excluded by the full sync`);
  // Events: a top-level excluded file changed together with another top-level file is still not pushed.
  fs.writeFileSync(path.join(s.src, 'new.gz'), 'no');
  fs.writeFileSync(path.join(s.src, 'new.txt'), 'yes');
  fs.mkdirSync(path.join(s.src, 'newdir/deep.svn'), { recursive: true });
  fs.writeFileSync(path.join(s.src, 'newdir/deep.svn/x'), 'no');
  fs.writeFileSync(path.join(s.src, 'newdir/y.gz.txt'), 'yes');
  await waitUntil(() => has('new.txt') && has('newdir/y.gz.txt'), 'events pushed');
  assert.ok(!has('new.gz'), 'top-level excluded file not pushed by the flat run');
  assert.ok(!has('newdir/deep.svn'), 'excluded directory inside a new directory not pushed by the recursive run');
});

test('9. a top-level change pushes its own name only, not every top-level file', async () => {
  const s = await setup('flat-root');
  writeFiles(s.src, 2000);
  const agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitConverged(s.src, [s.daemon.moduleDir], 'initial');
  // Tamper with a target file keeping size and mtime: only a run that re-sends every top-level file would undo it.
  const victim = path.join(s.daemon.moduleDir, 'f7.txt');
  const st = fs.statSync(victim);
  fs.writeFileSync(victim, 'F 7\n');
  fs.utimesSync(victim, st.atime, st.mtime);
  fs.writeFileSync(path.join(s.src, 'created.txt'), 'new');
  await waitUntil(() => fs.existsSync(path.join(s.daemon.moduleDir, 'created.txt')), 'created.txt pushed');
  await waitUntil(() => Math.floor(fs.statSync(s.src).mtimeMs / 1000) === Math.floor(fs.statSync(s.daemon.moduleDir).mtimeMs / 1000), 'root mtime follows');
  await waitUntil(() => agent.targets()[0].queueLength === 0 && !agent.targets()[0].inFlight, 'the push finished');
  assert.equal(fs.readFileSync(victim, 'utf8'), 'F 7\n', 'f7.txt was not re-sent');
});

test('14. status: a later success clears the last error (kept in history); no stale full sync progress', async () => {
  const s = await setup('status');
  writeFiles(s.src, 50);
  await s.daemon.stop();
  const agent = await s.agent({}, {}, { fullSyncAtStart: true });
  await waitUntil(() => agent.targets()[0].lastError !== null, 'a failure while the target is down');
  await s.daemon.start();
  agent.retryNow();
  await waitConverged(s.src, [s.daemon.moduleDir], 'after the target is back');
  await waitUntil(() => agent.targets()[0].lastError === null, 'last error cleared');
  const t = agent.targets()[0];
  assert.ok(t.errorHistory.length >= 1 && /rsync exit/.test(t.errorHistory[0].error) && t.errorHistory[0].at, 'kept as history with a time');
  await waitUntil(() => {
    const st = readState(s.stateDir);
    return !!st && st.targets[0].lastError === null && st.targets[0].lastSuccessAt !== null && !st.targets[0].inFlight;
  }, 'state.json shows the success');
  assert.deepEqual(readState(s.stateDir)?.fullSyncProgress, {}, 'no progress left once the full sync ended');
  const st = spawnSync(process.execPath, [MAIN, 'status', '--state-dir', s.stateDir], { encoding: 'utf8' });
  assert.doesNotMatch(st.stdout, /eta/);
  assert.match(st.stdout, /earlier errors/);
});

test('hard links with -H: a write through one name reaches the other name on the target', async () => {
  const s = await setup('hardlinks');
  fs.mkdirSync(path.join(s.src, 'x'));
  fs.writeFileSync(path.join(s.src, 'x/a.txt'), 'one\n');
  fs.linkSync(path.join(s.src, 'x/a.txt'), path.join(s.src, 'b.txt'));
  await s.agent({}, { rsyncParams: '-artzH' }, { fullSyncAtStart: true });
  await waitConverged(s.src, [s.daemon.moduleDir], 'initial');
  fs.appendFileSync(path.join(s.src, 'x/a.txt'), 'two\n');
  await waitConverged(s.src, [s.daemon.moduleDir], 'the write through x/a.txt on both names');
  const ta = fs.statSync(path.join(s.daemon.moduleDir, 'x/a.txt'));
  const tb = fs.statSync(path.join(s.daemon.moduleDir, 'b.txt'));
  assert.equal(ta.ino, tb.ino, 'still one file with two names on the target');
  assert.equal(fs.readFileSync(path.join(s.daemon.moduleDir, 'b.txt'), 'utf8'), 'one\ntwo\n');
});

test('--daemon waits for the child: a failed start is an error with its reason and a non-zero exit', async () => {
  const s = await setup('daemon');
  const pass = path.join(s.work, 'loose.pass');
  fs.writeFileSync(pass, 'x', { mode: 0o644 });
  fs.chmodSync(pass, 0o644);
  const to = `pusher@127.0.0.1::m`;
  const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, '--daemon', '--port', String(s.daemon.port), '--state-dir', s.stateDir, ...args], { encoding: 'utf8', timeout: 60_000 });
  let r = run('--watch', path.join(s.work, 'missing'), '--to', to);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /could not start.*\n?.*watch path .*missing does not exist/);
  r = run('--watch', s.src, '--to', to, '--password-file', pass);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /mode 0644/);
  r = run('--watch', s.src, '--to', to, '--password-file', s.daemon.passwordFile!, '--params', '-artz');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /started in the background, pid (\d+) \(ready\)/);
  const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
  cleanups.push(() => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  });
  r = run('--watch', s.src, '--to', to, '--password-file', s.daemon.passwordFile!);
  assert.equal(r.status, 1, 'a second agent on the same state dir');
  assert.match(r.stderr, new RegExp(`another agent \\(pid ${pid}\\) is running`));
  fs.writeFileSync(path.join(s.src, 'via-daemon.txt'), 'd');
  await waitUntil(() => fs.existsSync(path.join(s.daemon.moduleDir, 'via-daemon.txt')), 'the daemonized agent pushes');
  process.kill(pid, 'SIGTERM');
  await waitUntil(() => !fs.existsSync(path.join(s.stateDir, 'agent.pid')), 'clean stop');
});

test('a stale agent.pid naming an alive unrelated process (pid reuse) does not block start-up; a real second agent still does', async () => {
  const s = await setup('stale-pid');
  fs.mkdirSync(s.stateDir, { recursive: true });
  const other = spawn('sleep', ['120'], { stdio: 'ignore' });
  cleanups.push(() => {
    other.kill('SIGKILL');
  });
  fs.writeFileSync(path.join(s.stateDir, 'agent.pid'), `${other.pid}\n`);
  const to = `pusher@127.0.0.1::m`;
  const run = () => spawnSync(process.execPath, [MAIN, '--daemon', '--port', String(s.daemon.port), '--state-dir', s.stateDir,
    '--watch', s.src, '--to', to, '--password-file', s.daemon.passwordFile!], { encoding: 'utf8', timeout: 60_000 });
  let r = run();
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
  cleanups.push(() => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  });
  assert.notEqual(pid, other.pid);
  assert.equal(other.exitCode, null, 'the unrelated process is untouched');
  fs.writeFileSync(path.join(s.src, 'after-stale-pid.txt'), 'x');
  await waitUntil(() => fs.existsSync(path.join(s.daemon.moduleDir, 'after-stale-pid.txt')), 'the agent runs and pushes');
  r = run();
  assert.equal(r.status, 1, 'a real second agent on the same state dir is refused');
  assert.match(r.stderr, new RegExp(`another agent \\(pid ${pid}\\) is running with state dir`));
  process.kill(pid, 'SIGTERM');
  await waitUntil(() => !fs.existsSync(path.join(s.stateDir, 'agent.pid')), 'clean stop');
});

test('10. files written slowly cost a bounded number of rsync runs, and their final content arrives', async (t) => {
  const s = await setup('slow-writer');
  const agent = await s.agent();
  fs.writeFileSync(path.join(s.src, 'warm.txt'), 'w');
  await waitConverged(s.src, [s.daemon.moduleDir], 'warm-up');
  const runsBefore = agent.targets()[0].rsyncRuns;
  // 3 files, each appended 64 KiB every 100 ms for 6 s (60 writes each, like a download at 640 KiB/s).
  const fds = [0, 1, 2].map((i) => fs.openSync(path.join(s.src, `slow${i}.bin`), 'w'));
  const chunk = crypto.randomBytes(64 * 1024);
  const started = Date.now();
  for (let n = 0; n < 60; n++) {
    for (const fd of fds) fs.writeSync(fd, chunk);
    await new Promise((r) => setTimeout(r, Math.max(0, started + (n + 1) * 100 - Date.now())));
  }
  for (const fd of fds) fs.closeSync(fd);
  const lastWrite = Date.now();
  await waitConverged(s.src, [s.daemon.moduleDir], 'final content of the slow files', 20_000);
  const runs = agent.targets()[0].rsyncRuns - runsBefore;
  t.diagnostic(`rsync runs for 3 files x 60 writes over 6 s: ${runs}; final content ${Date.now() - lastWrite} ms after the last write`);
  // Bound: BUSY_AFTER (5) runs at once, backoff runs at 1 s, 2 s, 4 s within the 6 s, one after QUIET_MS: 9 when each
  // tick's three writes share a batch. Under load a tick's writes can straddle two batches while a (now ~40 ms
  // shorter) run is in flight, so allow 3 more: still bounded, against 18 before the backoff and 180 writes.
  assert.ok(runs <= 12, `${runs} rsync runs (18 before the per-path backoff)`);
  // An ordinary edit right after is not held back.
  const t0 = Date.now();
  fs.writeFileSync(path.join(s.src, 'slow0.bin'), 'edited');
  await waitConverged(s.src, [s.daemon.moduleDir], 'an ordinary edit');
  t.diagnostic(`ordinary edit after the busy spell: ${Date.now() - t0} ms`);
});
