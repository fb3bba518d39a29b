/**
 * Issue 10, module and user create at scale: each config change renders only what changed (cached sections), reuses
 * the dry run's render when the database did not move, and writes only the files whose content changes. Against
 * the real server, daemon and rsync:
 * - a change whose proof rsync refuses leaves rsyncd.conf, rsyncd-tls.conf and the secrets file as they were (same
 *   content, same inode: not even rewritten), and leaves nothing of itself in the render cache or the proven
 *   sections: the changes after it write exactly what a fresh process renders from the database (a restart on the
 *   same data dir, whose first render has an empty cache), and rsync accepts those files whole;
 * - a user create rewrites the secrets file but not the two configs;
 * - a generated password (chosen anew in each run of the change: dry run, then real run) is the one in the secrets
 *   file: the real run reuses the dry run's configs, never its secrets.
 * The proof is refused through RSYNCHUB_RSYNC_BINARY: a wrapper running the real rsync, except for a proof (its config
 * lives in an `rsynchub-verify-` temp dir) whose config holds a module named `refuseme`, plain or TLS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTree, passwordFile, REPO_ROOT, RunningServer, rsync, startServer } from './support/server';
import { refuseModule, writeProofWrapper } from './support/proof-wrapper';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { verifyConfigWithDaemon } = require(path.join(REPO_ROOT, 'libs/rsyncd/dist')) as {
  verifyConfigWithDaemon: (config: string, secrets: string, opts?: { timeoutMs?: number }) => Promise<{ ok: true; modules: string[] } | { ok: false; error: string }>;
};

let server: RunningServer;
let wrapperDir = '';
const FILES = ['rsyncd.conf', 'rsyncd-tls.conf', 'rsyncd.secrets'];

function wrapper(): string {
  wrapperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-rsync-refuse-'));
  return writeProofWrapper(path.join(wrapperDir, 'rsync'), refuseModule('refuseme'));
}

function snapshot(): Record<string, { text: string; ino: number; mode: number }> {
  return Object.fromEntries(
    FILES.map((f) => {
      const file = path.join(server.dataDir, f);
      const st = fs.statSync(file);
      return [f, { text: fs.readFileSync(file, 'utf8'), ino: st.ino, mode: st.mode & 0o777 }];
    }),
  );
}

const password = () => crypto.randomBytes(12).toString('hex');

before(async () => {
  server = await startServer({ env: { RSYNCHUB_RSYNC_BINARY: wrapper() } });
  for (const name of ['pusher', 'reader']) assert.equal((await server.admin.post('/api/v1/rsync-users', { name, password: password() })).status, 201);
  for (const name of ['alpha', 'beta', 'gamma']) {
    const r = await server.admin.post('/api/v1/modules', { name, path: path.join(server.storageRoot, name), users: [{ name: 'pusher', access: 'rw' }] });
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => {
  await server?.stop();
  if (wrapperDir) fs.rmSync(wrapperDir, { recursive: true, force: true });
});

test('a refused proof leaves all three files as they were, not even rewritten, and nothing of it cached', async () => {
  const before = snapshot();
  for (const attempt of [
    () => server.admin.post('/api/v1/modules', { name: 'refuseme', path: path.join(server.storageRoot, 'refuseme'), users: [{ name: 'pusher', access: 'rw' }] }),
    // The TLS-only variant: its plain section is closed, the TLS file's section is the full one; both are refused.
    () => server.admin.post('/api/v1/modules', { name: 'refuseme', path: path.join(server.storageRoot, 'refuseme'), users: [{ name: 'reader', access: 'ro' }], readOnly: true, tlsOnly: true }),
  ]) {
    const res = await attempt();
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.message, /refused the generated configuration/);
    assert.deepEqual(snapshot(), before, 'same content, same inode, mode 0600');
  }
  assert.equal((await server.admin.get('/api/v1/modules/refuseme')).status, 404);
  for (const f of FILES) assert.equal(before[f]!.mode, 0o600, f);

  // Changes after the refusal: an update, a create, a delete, a user with a grant.
  assert.equal((await server.admin.patch('/api/v1/modules/beta', { comment: 'after the refusal' })).status, 200);
  assert.equal((await server.admin.post('/api/v1/modules', { name: 'delta', path: path.join(server.storageRoot, 'delta'), users: [{ name: 'reader', access: 'ro' }], readOnly: true })).status, 201);
  assert.equal((await server.admin.delete('/api/v1/modules/gamma')).status, 200);
  const conf = fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8');
  assert.doesNotMatch(conf, /refuseme/);
  assert.match(conf, /\[beta\][^[]*comment = after the refusal/);

  // rsync accepts the incrementally proven file whole.
  const whole = await verifyConfigWithDaemon(conf, '', { timeoutMs: 20_000 });
  assert.ok(whole.ok, whole.ok ? '' : whole.error);
  assert.deepEqual([...whole.modules].sort(), ['alpha', 'beta', 'delta']);

  // A fresh process renders the same bytes from the database (its first render has no cache at all).
  const written = snapshot();
  await server.stop();
  server = await startServer({
    dataDir: server.dataDir,
    httpPort: server.httpPort,
    rsyncPort: server.rsyncPort,
    rsyncTlsPort: server.rsyncTlsPort,
    env: { RSYNCHUB_RSYNC_BINARY: path.join(wrapperDir, 'rsync') },
  });
  const fresh = snapshot();
  for (const f of FILES) assert.equal(fresh[f]!.text, written[f]!.text, `${f}: the incremental writes equal a render from scratch`);
});

test('a user create rewrites the secrets file only; a grant to it then rewrites the configs', async () => {
  const before = snapshot();
  const res = await server.admin.post('/api/v1/rsync-users', { name: 'newcomer', password: password() });
  assert.equal(res.status, 201, res.text);
  const after = snapshot();
  assert.deepEqual(after['rsyncd.conf'], before['rsyncd.conf'], 'rsyncd.conf not rewritten');
  assert.deepEqual(after['rsyncd-tls.conf'], before['rsyncd-tls.conf'], 'rsyncd-tls.conf not rewritten');
  assert.notEqual(after['rsyncd.secrets']!.text, before['rsyncd.secrets']!.text);
  assert.match(after['rsyncd.secrets']!.text, /^newcomer:/m);
  assert.equal(after['rsyncd.secrets']!.mode, 0o600);

  const grant = await server.admin.patch('/api/v1/modules/alpha', { users: [{ name: 'pusher', access: 'rw' }, { name: 'newcomer', access: 'ro' }] });
  assert.equal(grant.status, 200, grant.text);
  const granted = snapshot();
  for (const f of ['rsyncd.conf', 'rsyncd-tls.conf']) assert.match(granted[f]!.text, /\[alpha\][^[]*auth users = pusher:rw, newcomer:ro/, f);
});

test('a user created without a password can push with the generated password the API returned', async () => {
  const created = await server.admin.post('/api/v1/rsync-users', { name: 'generated' });
  assert.equal(created.status, 201, created.text);
  const generated = created.body.generatedPassword as string;
  assert.ok(generated && generated.length >= 12);
  // Right after the create, before any other change rewrites the file.
  const secrets = fs.readFileSync(path.join(server.dataDir, 'rsyncd.secrets'), 'utf8');
  assert.ok(secrets.split('\n').includes(`generated:${generated}`), 'the secrets file holds the password the API returned');
  const mod = await server.admin.post('/api/v1/modules', { name: 'gen', path: path.join(server.storageRoot, 'gen'), users: [{ name: 'generated', access: 'rw' }] });
  assert.equal(mod.status, 201, mod.text);
  const pushed = await rsync(['-rt', `--password-file=${passwordFile(generated)}`, `${makeTree(2)}/`, 'generated@127.0.0.1::gen', `--port=${server.rsyncPort}`]);
  assert.equal(pushed.code, 0, pushed.stderr);
});
