/**
 * The seed's hand-built target (rsyncd.conf + secrets + rsync --daemon) driven entirely over REST, against the real
 * server process, the real rsync daemon it supervises, the real rsync client and a real SQLite file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTree, passwordFile, rsync, treeDigest } from './support/rsync';
import { freePort, readyAuditor, RunningServer, startServer, waitFor } from './support/server';

let server: RunningServer;

before(async () => {
  server = await startServer({ pinListen: false });
});

after(async () => {
  await server?.stop();
});

function generatedFiles(): { conf: string; secrets: string } {
  return {
    conf: fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8'),
    secrets: fs.readFileSync(path.join(server.dataDir, 'rsyncd.secrets'), 'utf8'),
  };
}

function push(src: string, user: string, module: string, pwFile: string, extra: string[] = []) {
  return rsync(['-artuz', `--password-file=${pwFile}`, ...extra, `${src}/`, `${user}@127.0.0.1::${module}`, `--port=${server.rsyncPort}`]);
}

describe('the seed flow over REST', () => {
  const password = 'seed-password-1234';
  let modulePath: string;

  test('create rsync user admin1 and module myhub1', async () => {
    const user = await server.admin.post('/api/v1/rsync-users', { name: 'admin1', password, comment: 'PC back up' });
    assert.equal(user.status, 201, user.text);
    assert.equal(user.body.user.name, 'admin1');
    assert.equal(user.body.generatedPassword, undefined);
    assert.ok(!user.text.includes(password), 'the password is never returned');

    modulePath = path.join(server.storageRoot, 'myhub1');
    const mod = await server.admin.post('/api/v1/modules', {
      name: 'myhub1',
      path: modulePath,
      comment: 'PC back up',
      ignoreErrors: true,
      users: [{ name: 'admin1', access: 'rw' }],
    });
    assert.equal(mod.status, 201, mod.text);
    assert.equal(mod.body.readOnly, false);
    assert.deepEqual(mod.body.users, [{ name: 'admin1', access: 'rw' }]);
    assert.ok(fs.statSync(modulePath).isDirectory(), 'create makes the module directory');
    assert.match(generatedFiles().conf, /\[myhub1\][\s\S]*auth users = admin1:rw/);
  });

  test('rsync -artuz pushes a tree that arrives byte-identical', async () => {
    const src = makeTree();
    const res = await push(src, 'admin1', 'myhub1', passwordFile(password));
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(treeDigest(modulePath), treeDigest(src));
  });

  test('a wrong password is refused', async () => {
    const res = await push(makeTree(2), 'admin1', 'myhub1', passwordFile('not-the-password'));
    assert.equal(res.code, 5, res.stderr);
    assert.match(res.stderr, /auth failed on module myhub1/);
  });

  test('a user with ro access cannot push, but can pull', async () => {
    const ro = await server.admin.post('/api/v1/rsync-users', { name: 'reader' });
    assert.equal(ro.status, 201, ro.text);
    const generated: string = ro.body.generatedPassword;
    assert.ok(generated && generated.length >= 20, 'a strong password is generated and returned once');
    const again = await server.admin.get('/api/v1/rsync-users/reader');
    assert.ok(!again.text.includes(generated), 'and never again');

    const upd = await server.admin.patch('/api/v1/modules/myhub1', { users: [{ name: 'admin1', access: 'rw' }, { name: 'reader', access: 'ro' }] });
    assert.equal(upd.status, 200, upd.text);
    const pw = passwordFile(generated);
    const pushRes = await push(makeTree(2), 'reader', 'myhub1', pw);
    assert.notEqual(pushRes.code, 0, 'push as ro must fail');
    assert.match(pushRes.stderr, /read only|read-only/i);
    const dest = fs.mkdtempSync(path.join(server.dataDir, 'pull-'));
    const pull = await rsync(['-a', `--password-file=${pw}`, `reader@127.0.0.1::myhub1/`, `${dest}/`, `--port=${server.rsyncPort}`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.deepEqual(treeDigest(dest), treeDigest(modulePath));
  });

  test('rotating the password takes effect at once, without a daemon restart', async () => {
    const pidBefore = (await server.admin.get('/api/v1/daemon')).body.pid;
    const rot = await server.admin.patch('/api/v1/rsync-users/admin1', { password: 'rotated-password-99' });
    assert.equal(rot.status, 200, rot.text);
    assert.ok(!rot.text.includes('rotated-password-99'));
    assert.notEqual((await push(makeTree(1), 'admin1', 'myhub1', passwordFile(password))).code, 0, 'old password refused');
    const ok = await push(makeTree(1), 'admin1', 'myhub1', passwordFile('rotated-password-99'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await server.admin.get('/api/v1/daemon')).body.pid, pidBefore);
  });

  test('both generated files are mode 0600 and the config never shows a secret', async () => {
    for (const f of ['rsyncd.conf', 'rsyncd.secrets']) {
      assert.equal(fs.statSync(path.join(server.dataDir, f)).mode & 0o777, 0o600, f);
    }
    const cfg = await server.admin.get('/api/v1/daemon/config');
    assert.equal(cfg.status, 200);
    assert.match(cfg.body.config, /\[myhub1\]/);
    assert.ok(!cfg.text.includes('rotated-password-99'));
    assert.ok(generatedFiles().secrets.includes('admin1:rotated-password-99'));
  });

  test('the database and its WAL files are mode 0600 (they hold password hashes and sealed secrets)', async () => {
    const files = fs.readdirSync(server.dataDir).filter((f) => f.startsWith('rsynchub.sqlite'));
    assert.ok(files.includes('rsynchub.sqlite') && files.includes('rsynchub.sqlite-wal'), files.join(' '));
    for (const f of files) assert.equal(fs.statSync(path.join(server.dataDir, f)).mode & 0o777, 0o600, f);
  });

  test('a user still granted on a module cannot be deleted', async () => {
    const del = await server.admin.delete('/api/v1/rsync-users/reader');
    assert.equal(del.status, 409);
    assert.match(del.body.message, /still granted on module myhub1/);
  });

  test('a deleted module answers "Unknown module" and keeps its data unless purged', async () => {
    const del = await server.admin.delete('/api/v1/modules/myhub1');
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.body, { name: 'myhub1', purged: false });
    const res = await push(makeTree(1), 'admin1', 'myhub1', passwordFile('rotated-password-99'));
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /Unknown module 'myhub1'/);
    assert.ok(fs.existsSync(path.join(modulePath, 'empty.txt')), 'data kept by default');
    assert.equal((await server.admin.get('/api/v1/modules/myhub1')).status, 404);
  });

  test('delete with ?purge=true removes the data too', async () => {
    const p = path.join(server.storageRoot, 'scratch');
    assert.equal((await server.admin.post('/api/v1/modules', { name: 'scratch', path: p, users: [{ name: 'admin1', access: 'rw' }] })).status, 201);
    fs.writeFileSync(path.join(p, 'x'), 'x');
    const del = await server.admin.delete('/api/v1/modules/scratch?purge=true');
    assert.deepEqual(del.body, { name: 'scratch', purged: true });
    assert.equal(fs.existsSync(p), false);
  });
});

describe('hostile input changes nothing', () => {
  const cases: { what: string; method: 'POST' | 'PATCH' | 'PUT'; url: string; body: (root: string) => unknown }[] = [
    { what: 'newline in a comment', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: 'x\n[evil]\npath = /' }) },
    { what: 'carriage return in a comment', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: 'x\rpath = /' }) },
    { what: 'trailing backslash', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: 'joins the next line \\' }) },
    { what: '%VAR% expansion', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: '%HOME%' }) },
    { what: '] in a module name', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1]', path: `${r}/h1` }) },
    { what: '; at the start of a name', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: ';h1', path: `${r}/h1` }) },
    { what: 'a module called global', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'Global', path: `${r}/g` }) },
    { what: '.. in a path', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/../../etc` }) },
    { what: 'a relative path', method: 'POST', url: '/api/v1/modules', body: () => ({ name: 'h1', path: 'modules/h1' }) },
    { what: 'a path outside the roots', method: 'POST', url: '/api/v1/modules', body: () => ({ name: 'h1', path: '/etc/h1' }) },
    { what: 'the path /', method: 'POST', url: '/api/v1/modules', body: () => ({ name: 'h1', path: '/' }) },
    { what: 'a duplicate name in other case', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'BASE', path: `${r}/base2` }) },
    { what: 'an oversize comment', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: 'x'.repeat(5000) }) },
    { what: 'a unicode line separator', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: 'a\u2028b' }) },
    { what: 'a NEL control char', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: 'a\u0085b' }) },
    { what: 'a right-to-left override', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: 'a\u202Eb' }) },
    { what: 'leading space', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, comment: ' lead' }) },
    { what: 'a config line smuggled into hosts allow', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, hostsAllow: ['evil.example\nread only = no'] }) },
    { what: 'a list separator inside a hosts entry', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, hostsAllow: ['10.0.0.1 *'] }) },
    { what: 'a bad CIDR', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, hostsDeny: ['10.0.0.0/33'] }) },
    { what: 'a space inside an exclude', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, excludes: ['a b'] }) },
    { what: 'an unknown user in a grant', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, users: [{ name: 'ghost', access: 'rw' }] }) },
    { what: 'a bad access level', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, users: [{ name: 'keeper', access: 'admin' }] }) },
    { what: 'a wrong type', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, readOnly: 'no' }) },
    { what: 'an unknown field', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/h1`, postXferExec: '/bin/sh' }) },
    { what: 'newline in a patched comment', method: 'PATCH', url: '/api/v1/modules/base', body: () => ({ comment: 'ok\nread only = no' }) },
    { what: 'a path patched outside the roots', method: 'PATCH', url: '/api/v1/modules/base', body: () => ({ path: '/var/lib' }) },
    { what: 'newline in a user name', method: 'POST', url: '/api/v1/rsync-users', body: () => ({ name: 'bob\nalice', password: 'pw-123456789' }) },
    { what: 'upper case user name', method: 'POST', url: '/api/v1/rsync-users', body: () => ({ name: 'Bob', password: 'pw-123456789' }) },
    { what: 'a duplicate user name in other case', method: 'POST', url: '/api/v1/rsync-users', body: () => ({ name: 'KEEPER', password: 'pw-123456789' }) },
    { what: 'newline in a password', method: 'POST', url: '/api/v1/rsync-users', body: () => ({ name: 'bob', password: 'pw\nmallory:pw' }) },
    { what: 'newline in a rotated password', method: 'PATCH', url: '/api/v1/rsync-users/keeper', body: () => ({ password: 'pw\nmallory:pw' }) },
    { what: 'trailing space in a password', method: 'PATCH', url: '/api/v1/rsync-users/keeper', body: () => ({ password: 'password123 ' }) },
    { what: 'newline in the motd is fine but %... in the address is not', method: 'PUT', url: '/api/v1/daemon/settings', body: () => ({ address: '%HOSTNAME%' }) },
    { what: 'a port out of range', method: 'PUT', url: '/api/v1/daemon/settings', body: () => ({ port: 70000 }) },
    { what: 'a hostname as the bind address', method: 'PUT', url: '/api/v1/daemon/settings', body: () => ({ address: 'localhost' }) },
    { what: 'a control char in the motd', method: 'PUT', url: '/api/v1/daemon/settings', body: () => ({ motd: 'hello\u0007' }) },
    { what: 'a motd line the protocol reads as a daemon error', method: 'PUT', url: '/api/v1/daemon/settings', body: () => ({ motd: 'Welcome\n@ERROR: maintenance' }) },
    { what: 'the same path as another module', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/base` }) },
    { what: 'a path inside another module', method: 'POST', url: '/api/v1/modules', body: (r) => ({ name: 'h1', path: `${r}/base/h1` }) },
  ];

  before(async () => {
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'keeper', password: 'keeper-password-1' })).status, 201);
    const base = await server.admin.post('/api/v1/modules', { name: 'base', path: path.join(server.storageRoot, 'base'), users: [{ name: 'keeper', access: 'rw' }] });
    assert.equal(base.status, 201, base.text);
  });

  for (const c of cases) {
    test(`${c.what} -> 400 or 409, both files byte-identical`, async () => {
      const before = generatedFiles();
      const modulesBefore = (await server.admin.get('/api/v1/modules')).text;
      const body = c.body(server.storageRoot) as Record<string, unknown>;
      // Each case is about one rule: a module is otherwise valid, i.e. it grants a user (modules need one).
      if (c.method === 'POST' && c.url === '/api/v1/modules' && !('users' in body)) body.users = [{ name: 'keeper', access: 'rw' }];
      const res = await server.admin.request(c.method, c.url, body);
      assert.ok(res.status === 400 || res.status === 409, `${res.status} ${res.text}`);
      assert.equal(typeof res.body.message, 'string');
      assert.ok(res.body.message.length > 0);
      assert.deepEqual(generatedFiles(), before);
      assert.equal((await server.admin.get('/api/v1/modules')).text, modulesBefore);
      assert.equal(fs.existsSync(path.join(server.storageRoot, 'h1')), false, 'no directory left behind');
    });
  }

  test('a 400 names the field and the rule', async () => {
    const res = await server.admin.post('/api/v1/modules', { name: 'h1', path: path.join(server.storageRoot, 'h1'), comment: 'a\nb', users: [{ name: 'keeper', access: 'rw' }] });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'validation');
    assert.deepEqual(res.body.details.map((d: { field: string }) => d.field), ['comment']);
    assert.match(res.body.message, /comment: .*newline/);
  });
});

describe('daemon supervision', () => {
  test('status reports a running daemon with version and port', async () => {
    const st = await server.admin.get('/api/v1/daemon');
    assert.equal(st.body.state, 'running');
    assert.equal(st.body.version, '3.5.0');
    assert.equal(st.body.port, server.rsyncPort);
    assert.ok(st.body.pid > 0);
  });

  test('a daemon killed with SIGKILL comes back by itself and the status says what happened', async () => {
    const before = (await server.admin.get('/api/v1/daemon')).body;
    process.kill(before.pid, 'SIGKILL');
    const after = await waitFor('the daemon to come back', async () => {
      const st = (await server.admin.get('/api/v1/daemon')).body;
      return st.state === 'running' && st.pid !== before.pid ? st : null;
    });
    assert.equal(after.restarts, before.restarts + 1);
    assert.equal(after.lastExit.signal, 'SIGKILL');
    const health = await server.client().get('/api/v1/health');
    assert.equal(health.status, 200);
  });

  test('stop and start over REST', async () => {
    const stopped = await server.admin.post('/api/v1/daemon/stop');
    assert.equal(stopped.body.state, 'stopped');
    assert.equal((await server.client().get('/api/v1/health')).status, 503);
    const list = await rsync([`rsync://127.0.0.1:${server.rsyncPort}/`]);
    assert.notEqual(list.code, 0, 'nothing listens while stopped');
    const started = await server.admin.post('/api/v1/daemon/start');
    assert.equal(started.body.state, 'running');
  });

  test('changing the port restarts the daemon on the new port', async () => {
    const port = await freePort();
    const res = await server.admin.put('/api/v1/daemon/settings', { port, motd: 'Welcome to RsyncHub\nsecond line' });
    assert.equal(res.status, 200, res.text);
    const st = await waitFor('the daemon on the new port', async () => {
      const s = (await server.admin.get('/api/v1/daemon')).body;
      return s.state === 'running' && s.port === port ? s : null;
    });
    assert.equal(st.port, port);
    const list = await rsync([`rsync://127.0.0.1:${port}/`]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /Welcome to RsyncHub/);
    assert.match(list.stdout, /^base\s/m);
    server.rsyncPort = port;
  });
});

describe('import of existing configs', () => {
  test("the seed's rsyncd.conf and secrets file import", async () => {
    const root = server.storageRoot;
    const seedConf = [
      ' uid = root ',
      ' gid = root',
      ' use chroot = yes ',
      ' max connections = 4',
      ' log file = /home/user2/log',
      ' [myhub2]',
      ` path = ${root}/target/`,
      ' comment = PC back up',
      ' ignore errors = yes',
      ' read only = no',
      ' auth users = admin2',
      ' secrets file = /etc/rsyncd.secret',
    ].join('\n');
    const res = await server.admin.post('/api/v1/import', { config: seedConf, secrets: 'admin2:1234\n' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.createdModules, ['myhub2']);
    assert.deepEqual(res.body.createdUsers, ['admin2']);
    assert.ok(!res.text.includes('1234'), 'secrets are not echoed');
    const mod = (await server.admin.get('/api/v1/modules/myhub2')).body;
    assert.equal(mod.readOnly, false);
    assert.equal(mod.ignoreErrors, true);
    assert.deepEqual(mod.users, [{ name: 'admin2', access: 'rw' }]);
    // and it works: the imported secret authenticates a push
    const src = makeTree(3);
    const push = await rsync(['-artuz', `--password-file=${passwordFile('1234')}`, `${src}/`, `admin2@127.0.0.1::myhub2`, `--port=${server.rsyncPort}`]);
    assert.equal(push.code, 0, push.stderr);
    assert.deepEqual(treeDigest(path.join(root, 'target')), treeDigest(src));
  });

  test("Debian's example rsyncd.conf imports, reporting what it could not map", async () => {
    const example = fs.readFileSync(path.join(__dirname, '../../libs/rsyncd/src/fixtures/debian-example-rsyncd.conf'), 'utf8');
    const res = await server.admin.post('/api/v1/import', { config: example });
    assert.equal(res.status, 200, res.text);
    // Its paths (/home/ftp, ...) lie outside our storage roots: reported, not created, and nothing else breaks.
    assert.ok(res.body.skipped.length > 0);
    for (const s of res.body.skipped) assert.ok(s.reason.length > 0);
    assert.equal((await server.admin.get('/api/v1/daemon')).body.state, 'running');
  });
});

describe('every route needs auth, and auditors cannot mutate', () => {
  async function routes(): Promise<{ method: string; path: string }[]> {
    const spec = (await server.admin.get('/api/docs-json')).body;
    const out: { method: string; path: string }[] = [];
    for (const [p, methods] of Object.entries<any>(spec.paths)) {
      for (const m of Object.keys(methods)) out.push({ method: m.toUpperCase(), path: p.replace(/\{[^}]+\}/g, '1') });
    }
    return out;
  }

  test('the OpenAPI document is served to logged-in users only', async () => {
    assert.equal((await server.client().get('/api/docs')).status, 401);
    assert.equal((await server.client().get('/api/docs-json')).status, 401);
    const ui = await server.admin.get('/api/docs');
    assert.equal(ui.status, 200);
    assert.match(ui.text, /swagger/i);
    const spec = (await server.admin.get('/api/docs-json')).body;
    assert.ok(Object.keys(spec.paths).length > 20);
  });

  test('no route but login and health answers without a session or token', async () => {
    const anonymous = server.client();
    const all = await routes();
    assert.ok(all.length > 25, `found ${all.length} routes`);
    for (const r of all) {
      const res = await anonymous.request(r.method, r.path, r.method === 'GET' || r.method === 'DELETE' ? undefined : {});
      if (r.path === '/api/v1/auth/login') assert.notEqual(res.status, 401, 'login is public');
      else if (r.path === '/api/v1/health') assert.equal(res.status, 200);
      else assert.equal(res.status, 401, `${r.method} ${r.path} answered ${res.status} without auth`);
    }
    assert.equal((await anonymous.get('/metrics')).status, 401);
    assert.equal((await anonymous.get('/api/v1/made-up')).status, 401);
  });

  test('an auditor gets 403 on every mutating route (except its own logout/password) and can read', async () => {
    const auditor = (await readyAuditor(server, 'auditor1')).client;
    for (const r of await routes()) {
      if (r.method === 'GET' || r.path.startsWith('/api/v1/auth/')) continue;
      // Auditors may create `read` tokens (and only those): any other scope is a 403, below.
      const body = r.method === 'DELETE' ? undefined : r.method === 'POST' && r.path === '/api/v1/tokens' ? { name: 'escalate', scope: 'admin' } : {};
      const res = await auditor.request(r.method, r.path, body);
      assert.equal(res.status, 403, `${r.method} ${r.path} answered ${res.status} for an auditor`);
    }
    assert.equal((await auditor.get('/api/v1/modules')).status, 200);
    assert.equal((await auditor.get('/api/v1/daemon/config')).status, 200);
    assert.equal((await auditor.get('/api/v1/admins')).status, 403, 'admin accounts are for admins only');
  });

  test('a logged-out token is dead', async () => {
    const c = server.client();
    await c.login('admin', server.adminPassword);
    assert.equal((await c.get('/api/v1/modules')).status, 200);
    assert.equal((await c.post('/api/v1/auth/logout')).status, 204);
    assert.equal((await c.get('/api/v1/modules')).status, 401);
  });
});

describe('max connections', () => {
  test('a module with maxConnections 1 refuses a second concurrent client (per-module lock file)', async () => {
    const modPath = path.join(server.storageRoot, 'single');
    const res = await server.admin.post('/api/v1/modules', { name: 'single', path: modPath, maxConnections: 1, users: [{ name: 'keeper', access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
    assert.match(generatedFiles().conf, /\[single\][^[]*max connections = 1[^[]*lock file = \S+single\.lock/);
    const big = fs.mkdtempSync(path.join(server.dataDir, 'big-'));
    // random, so -z cannot shrink it: at 100 kB/s the first client holds its connection for ~3 s
    fs.writeFileSync(path.join(big, 'slow.bin'), crypto.randomBytes(300_000));
    const pw = passwordFile('keeper-password-1');
    const slow = push(big, 'keeper', 'single', pw, ['--bwlimit=100']);
    await new Promise((r) => setTimeout(r, 700));
    const second = await push(makeTree(1), 'keeper', 'single', pw);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /max connections \(1\) reached/);
    assert.equal((await slow).code, 0);
  });
});
