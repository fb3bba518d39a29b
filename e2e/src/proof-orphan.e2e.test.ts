/**
 * The config proof must not outlive the server (issue 10 item 4). Before, a proof ran a throwaway
 * `rsync --daemon --config=<tmp>/rsynchub-verify-*\/rsyncd.conf` on a loopback port; a server killed with kill -9
 * during a proof left it running for ever (its parent became PID 1), still serving the proof config's modules.
 *
 * Each server here gets a TMPDIR of its own, so its proofs' dirs (and the processes naming them) are told apart
 * from those of anything else running on the machine. The proof is held up by a wrapper given as
 * RSYNCHUB_RSYNC_BINARY: it runs the real rsync, after a pause when the proof's config holds `[slowproof]`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, RunningServer, rsync, startServer, waitFor } from './support/server';
import { writeProofWrapper } from './support/proof-wrapper';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Proc {
  pid: number;
  cmdline: string;
}

/** Processes whose command line contains `text`, from /proc. */
function processesMentioning(text: string): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmdline.includes(text)) out.push({ pid: Number(name), cmdline });
  }
  return out;
}

/** SIGKILLs every process naming `text` (the test's own data dir or temp dir: nobody else's). */
function killMentioning(text: string): void {
  for (const p of processesMentioning(text)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function privateTmp(): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-proof-tmp-'));
  cleanups.push(() => {
    killMentioning(tmp);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  return tmp;
}

function slowProofWrapper(dir: string): { file: string; started: string } {
  const started = path.join(dir, 'slow-started');
  const file = writeProofWrapper(path.join(dir, 'rsync-wrapper'), `if grep -q '^\\[slowproof\\]' "$conf"; then touch "${started}"; sleep 2; fi`);
  return { file, started };
}

function stopAfter(server: RunningServer): void {
  cleanups.push(async () => {
    await server.kill();
    // kill -9 leaves the daemons the server supervised behind: they name its data dir.
    killMentioning(server.dataDir);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });
}

test('kill -9 of the server during a proof leaves no rsync process with a proof config behind', async () => {
  const tmp = privateTmp();
  const wrapper = slowProofWrapper(tmp);
  const server = await startServer({ env: { TMPDIR: tmp, RSYNCHUB_RSYNC_BINARY: wrapper.file } });
  stopAfter(server);
  const proofs = path.join(tmp, 'rsynchub-verify-');
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'pusher', password: crypto.randomBytes(12).toString('hex') })).status, 201);

  const create = server.admin
    .post('/api/v1/modules', { name: 'slowproof', path: path.join(server.storageRoot, 'slowproof'), users: [{ name: 'pusher', access: 'rw' }] })
    .catch(() => undefined);
  await waitFor('the proof to start', () => fs.existsSync(wrapper.started), 30_000);
  assert.ok(processesMentioning(proofs).length > 0, 'a proof process runs while the server is killed');
  await server.kill();
  await create;

  // The proof's rsync is let go by the wrapper 2 s later; whatever it then is, it must end on its own.
  await waitFor(
    'every proof process to end after the server died',
    () => processesMentioning(proofs).length === 0,
    20_000,
  ).catch((err: Error) => {
    const left = processesMentioning(proofs).map((p) => `${p.pid}: ${p.cmdline}`);
    throw new Error(`${err.message}; still running: ${left.join(' | ')}`);
  });
});

test('at start the server ends a proof daemon an earlier run left behind (found by its pid file) and removes its dir', async () => {
  const tmp = privateTmp();
  const dir = path.join(tmp, 'rsynchub-verify-left');
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data', 'secret.txt'), 'served by an orphan');
  fs.writeFileSync(path.join(dir, 'rsyncd.conf'), `use chroot = no\n[leftover]\n    path = ${dir}/data\n    read only = yes\n`);
  const port = await freePort();
  // setsid --fork: the daemon's parent exits at once, so it is re-parented (to PID 1) like the orphan of a kill -9.
  const r = spawnSync('setsid', [
    '--fork',
    'rsync',
    '--daemon',
    '--no-detach',
    `--config=${dir}/rsyncd.conf`,
    `--port=${port}`,
    '--address=127.0.0.1',
    `--log-file=${dir}/rsyncd.log`,
    `--dparam=pidfile=${dir}/rsyncd.pid`,
  ], { stdio: 'ignore' });
  assert.equal(r.status, 0);
  const pid = await waitFor('the leftover daemon to write its pid file', () => Number(fs.readFileSync(`${dir}/rsyncd.pid`, 'utf8').trim() || 0) || undefined, 15_000).catch(() => 0);
  assert.ok(pid > 0, 'the leftover daemon runs');
  await waitFor('the leftover daemon to serve its module', async () => (await rsync(['--list-only', `rsync://127.0.0.1:${port}/`])).stdout.includes('leftover'), 15_000);

  const server = await startServer({ env: { TMPDIR: tmp } });
  stopAfter(server);
  await waitFor('the leftover daemon to be killed', () => !fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), 30_000);
  await waitFor('the leftover proof dir to be removed', () => !fs.existsSync(dir), 10_000);
  const after = await rsync(['--list-only', '--contimeout=5', `rsync://127.0.0.1:${port}/`]);
  assert.notEqual(after.code, 0, 'nothing serves the leftover module any more');
  // A module create still proves and works after the sweep.
  assert.equal((await server.admin.post('/api/v1/modules', { name: 'after', path: path.join(server.storageRoot, 'after'), anonymous: 'read' })).status, 201);
});
