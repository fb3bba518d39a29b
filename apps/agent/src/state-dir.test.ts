/**
 * A state dir that cannot be created is a clear error naming it, with exit 1, in the foreground and with --daemon:
 * `--state-dir /proc/nope` used to hang at full CPU inside Node's recursive mkdir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeStateDir } from './state-dir';

const MAIN = path.join(__dirname, 'main.js');

function work(): { dir: string; watch: string; pass: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-state-dir-'));
  const watch = path.join(dir, 'src');
  fs.mkdirSync(watch);
  const pass = path.join(dir, 'pass');
  fs.writeFileSync(pass, 'a-long-random-password\n', { mode: 0o600 });
  return { dir, watch, pass };
}

for (const mode of ['foreground', '--daemon'] as const) {
  test(`--state-dir under /proc (${mode}): exit 1 with an error naming the state dir, no hang`, (t) => {
    if (!fs.existsSync('/proc/self')) return t.skip('no /proc');
    const w = work();
    try {
      const args = [MAIN, 'run', ...(mode === '--daemon' ? ['--daemon'] : []), '--watch', w.watch,
        '--to', 'rsync://u1@127.0.0.1:9/m', '--password-file', w.pass, '--state-dir', '/proc/nope/state'];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      assert.equal(r.signal, null, `killed after 30 s: it hung (stderr: ${r.stderr})`);
      assert.equal(r.status, 1, r.stderr + r.stdout);
      assert.match(r.stderr, /cannot create state dir \/proc\/nope\/state: mkdir \/proc\/nope failed: ENOENT/);
    } finally {
      fs.rmSync(w.dir, { recursive: true, force: true });
    }
  });
}

test('makeStateDir: creates missing levels 0700, accepts an existing dir, names the state dir when a file is in the way', () => {
  const w = work();
  try {
    const sd = path.join(w.dir, 'a', 'b');
    makeStateDir(sd, 'journal');
    assert.equal(fs.statSync(path.join(sd, 'journal')).mode & 0o777, 0o700);
    makeStateDir(sd, 'journal'); // again: nothing to do
    fs.writeFileSync(path.join(w.dir, 'file'), 'x');
    assert.throws(() => makeStateDir(path.join(w.dir, 'file', 'sub')), new RegExp(`cannot create state dir ${w.dir}/file/sub: .*ENOTDIR`));
    assert.throws(() => makeStateDir(path.join(w.dir, 'file')), /exists and is not a directory/);
  } finally {
    fs.rmSync(w.dir, { recursive: true, force: true });
  }
});
