/**
 * Issue 10 (one module / user create at scale), against the real server, daemon and rsync:
 *   - the config proofs run in the server's proof helper process (apps/api/src/daemon/proof-helper.ts); a helper
 *     killed with kill -9 in the middle of a proof refuses that change (503, nothing written, nothing in the
 *     database), and the next change gets a new helper and goes through;
 *   - the overlap check lists a storage directory holding many module paths once instead of an lstat per module:
 *     a module directory replaced by a symbolic link afterwards is still seen through.
 *
 * The proof is held up by a wrapper given as RSYNCHUB_RSYNC_BINARY: it runs the real rsync, after waiting for a go
 * file when the proof's config holds `[slowproof]`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningServer, startServer, waitFor } from './support/server';
import { writeProofWrapper } from './support/proof-wrapper';

let server: RunningServer;
let wrapperDir = '';
const grant = [{ name: 'owner', access: 'rw' }];

function wrapper(): string {
  wrapperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-helper-wrapper-'));
  return writeProofWrapper(path.join(wrapperDir, 'rsync'), `
    if grep -q '^\\[slowproof\\]' "$conf"; then
      touch "${wrapperDir}/slow-started"
      i=0; while [ ! -e "${wrapperDir}/slow-release" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
    fi`);
}

/** The server's proof helper processes (children of the server running proof-helper.js). */
function helperPids(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z' && Number(ppid) === server.process.pid && cmdline.includes('proof-helper.js')) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

const conf = () => fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8');

before(async () => {
  server = await startServer({ env: { RSYNCHUB_RSYNC_BINARY: wrapper() } });
  const res = await server.admin.post('/api/v1/rsync-users', { name: 'owner', password: crypto.randomBytes(12).toString('hex') });
  assert.equal(res.status, 201, res.text);
});

after(async () => {
  await server?.stop();
  if (wrapperDir) fs.rmSync(wrapperDir, { recursive: true, force: true });
});

test('a proof helper killed mid-proof refuses that change (503, nothing written); the next change gets a new helper', async () => {
  const [helper] = await waitFor('the proof helper', () => (helperPids().length === 1 ? helperPids() : undefined), 30_000);
  const before = { conf: conf(), secrets: fs.readFileSync(path.join(server.dataDir, 'rsyncd.secrets'), 'utf8') };
  const pending = server.admin.post('/api/v1/modules', { name: 'slowproof', path: path.join(server.storageRoot, 'slowproof'), users: grant });
  await waitFor('the proof to be under way', () => fs.existsSync(path.join(wrapperDir, 'slow-started')), 30_000);
  process.kill(helper!, 'SIGKILL');
  const res = await pending;
  fs.writeFileSync(path.join(wrapperDir, 'slow-release'), '');
  assert.equal(res.status, 503, res.text);
  assert.match(res.body.message, /not written: its proof by rsync could not run \(the proof helper ended mid-proof \(signal SIGKILL\)/);
  assert.equal(conf(), before.conf, 'rsyncd.conf untouched');
  assert.equal(fs.readFileSync(path.join(server.dataDir, 'rsyncd.secrets'), 'utf8'), before.secrets);
  assert.equal((await server.admin.get('/api/v1/modules/slowproof')).status, 404, 'nothing in the database');
  assert.equal(fs.existsSync(path.join(server.storageRoot, 'slowproof')), false, 'the directory it made is gone');

  const next = await server.admin.post('/api/v1/modules', { name: 'after-kill', path: path.join(server.storageRoot, 'after-kill'), users: grant });
  assert.equal(next.status, 201, next.text);
  assert.match(conf(), /^\[after-kill\]$/m);
  const now = helperPids();
  assert.equal(now.length, 1, `one helper: ${now.join(', ')}`);
  assert.notEqual(now[0], helper);
});

test('among many modules in one directory, a module directory replaced by a symlink is still seen through', async () => {
  // Enough modules side by side that the overlap check lists their directory instead of an lstat each.
  let config = '';
  let secrets = '';
  for (let i = 0; i < 40; i++) {
    config += `[side${i}]\npath = ${server.storageRoot}/side${i}\nauth users = sideu${i}\nread only = no\n`;
    secrets += `sideu${i}:${crypto.randomBytes(12).toString('hex')}\n`;
  }
  const imported = await server.admin.post('/api/v1/import', { config, secrets });
  assert.equal(imported.status, 200, imported.text);
  assert.equal(imported.body.createdModules.length, 40);
  // side7's directory becomes a link to a directory no module has (yet).
  const target = path.join(server.storageRoot, 'elsewhere');
  fs.mkdirSync(target);
  fs.rmSync(path.join(server.storageRoot, 'side7'), { recursive: true });
  fs.symlinkSync(target, path.join(server.storageRoot, 'side7'));
  for (const [name, p, why] of [
    ['same', target, /resolves to .*elsewhere, the same directory as module "side7"/],
    ['inner', path.join(target, 'inner'), /resolves to .*elsewhere\/inner, inside module "side7"/],
  ] as const) {
    const res = await server.admin.post('/api/v1/modules', { name, path: p, users: grant });
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.message, why);
  }
  // A module path that is missing on disk (removed by hand) resolves through its parent, as before.
  fs.rmSync(path.join(server.storageRoot, 'side8'), { recursive: true });
  const fresh = await server.admin.post('/api/v1/modules', { name: 'fresh', path: path.join(server.storageRoot, 'fresh'), users: grant });
  assert.equal(fresh.status, 201, fresh.text);
});
