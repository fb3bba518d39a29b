/**
 * The server as an unprivileged user (how most first tries run it): uid/gid/chroot are left out of the config and
 * the API says why, and pushes still work. Tests run as root here, so the server is started as `nobody`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTree, passwordFile, rsync, RunningServer, startServer, treeDigest } from '@rsynchub/testing';

const NOBODY = { uid: 65534, gid: 65534 };
const isRoot = process.getuid?.() === 0;
let server: RunningServer;

before(async () => {
  if (!isRoot) return;
  server = await startServer({ runAs: NOBODY, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'rh-nonroot-')) });
});

after(async () => {
  await server?.stop();
});

test('uid, gid and use chroot are left out with a warning, and a push works', { skip: !isRoot && 'needs root to start the server as another user' }, async () => {
  const daemon = (await server.admin.get('/api/v1/daemon')).body;
  assert.equal(daemon.runningAsRoot, false);
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'bob', password: 'bob-password-12' })).status, 201);
  const res = await server.admin.post('/api/v1/modules', {
    name: 'plain',
    path: path.join(server.storageRoot, 'plain'),
    uid: 'www-data',
    gid: 'www-data',
    useChroot: true,
    users: [{ name: 'bob', access: 'rw' }],
  });
  assert.equal(res.status, 201, res.text);
  assert.ok(res.body.warnings.some((w: string) => /uid/.test(w) && /root/.test(w)), JSON.stringify(res.body.warnings));
  const conf = fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8');
  assert.doesNotMatch(conf, /^\s*uid\s*=/m);
  assert.doesNotMatch(conf, /^\s*gid\s*=/m);
  assert.match(conf, /^\s*use chroot = no$/m);
  const stat = fs.statSync(path.join(server.dataDir, 'rsyncd.secrets'));
  assert.equal(stat.uid, NOBODY.uid, 'files belong to the user the server runs as');
  assert.equal(stat.mode & 0o777, 0o600);
  const src = makeTree(4);
  const push = await rsync(['-rt', `--password-file=${passwordFile('bob-password-12')}`, `${src}/`, `bob@127.0.0.1::plain`, `--port=${server.rsyncPort}`]);
  assert.equal(push.code, 0, push.stderr);
  assert.deepEqual(treeDigest(path.join(server.storageRoot, 'plain')), treeDigest(src));
});
