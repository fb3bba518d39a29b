/**
 * The config proof over a pipe (`rsync --server --daemon`) and the start-up sweep of what earlier proofs left.
 * Real rsync, real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sweepStaleProofs, verifyConfigWithDaemon } from './verify';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rh-verify-test-'));
}

test('the proof lists every listable module, including one the client address is not allowed into', async () => {
  const dir = tempDir();
  const config = `use chroot = no\n[alpha]\n    path = ${dir}\n    comment = first\n[beta]\n    path = ${dir}\n    hosts allow = 10.0.0.0/8\n[hidden]\n    path = ${dir}\n    list = no\n`;
  const r = await verifyConfigWithDaemon(config, '');
  assert.deepEqual(r, { ok: true, modules: ['alpha', 'beta'] });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a config with the PROXY protocol on (the TLS listener\'s daemon) is proven too', async () => {
  const dir = tempDir();
  const config = `proxy protocol = yes\nproxy protocol hosts = 127.0.0.1\nuse chroot = no\n[alpha]\n    path = ${dir}\n`;
  assert.deepEqual(await verifyConfigWithDaemon(config, ''), { ok: true, modules: ['alpha'] });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a broken config is refused with rsync\'s own words, and no proof dir is left', async () => {
  // A temp dir of this test's own (proofs of other test files run meanwhile in the shared one).
  const tmp = tempDir();
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    const r = await verifyConfigWithDaemon('[a\n', '');
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /Badly formed line|Failed/);
    const missing = await verifyConfigWithDaemon('[a]\n path = /tmp\n', '', { rsyncPath: '/nonexistent/rsync' });
    assert.equal(missing.ok, false);
    assert.match((missing as { error: string }).error, /cannot start/);
    assert.deepEqual(fs.readdirSync(tmp), [], 'the proofs removed their dirs');
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('sweepStaleProofs removes stale proof dirs and kills their processes, and leaves a proof in flight alone', async () => {
  const tmp = tempDir();
  const young = path.join(tmp, 'rsynchub-verify-young');
  const stale = path.join(tmp, 'rsynchub-verify-stale');
  const empty = path.join(tmp, 'rsynchub-verify-empty');
  for (const d of [young, stale, empty]) fs.mkdirSync(d);
  // A process naming each dir, with this test as its parent (not orphaned): only age makes it stale.
  const start = (d: string) => spawn('sh', ['-c', 'sleep 60', `${d}/rsyncd.conf`], { stdio: 'ignore' });
  const inFlight = start(young);
  const old = start(stale);
  const exited = new Promise((r) => old.once('exit', r));
  const twoMinutesAgo = new Date(Date.now() - 120_000);
  fs.utimesSync(stale, twoMinutesAgo, twoMinutesAgo);
  fs.utimesSync(empty, twoMinutesAgo, twoMinutesAgo);
  try {
    const killed = await sweepStaleProofs(tmp);
    assert.deepEqual(killed, [old.pid]);
    await exited;
    assert.equal(old.signalCode, 'SIGKILL');
    assert.equal(fs.existsSync(stale), false);
    assert.equal(fs.existsSync(empty), false);
    assert.equal(fs.existsSync(young), true);
    assert.equal(inFlight.exitCode, null, 'the young proof\'s process still runs');
  } finally {
    inFlight.kill('SIGKILL');
    old.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
