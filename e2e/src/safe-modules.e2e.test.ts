/**
 * Issue 14 ("safe by default"), the module side, against the real server, the real rsync daemon and the real rsync
 * client: nothing is open that the admin did not open (anonymous access is explicit, read-only is read-only), import
 * never widens access, no module reaches the data dir or another module through a symlink, purges do not follow a
 * link, root ids need an opt-in, and filesystem limits or hostile bodies are 400s, never 500s.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sqlite3 from 'sqlite3';
import { makeTree, passwordFile, RunningServer, rsync, startServer } from './support/server';

let server: RunningServer;
const ALICE = 'alice';
const ALICE_PW = crypto.randomBytes(12).toString('hex');

function generated(): { conf: string; secrets: string } {
  return {
    conf: fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8'),
    secrets: fs.readFileSync(path.join(server.dataDir, 'rsyncd.secrets'), 'utf8'),
  };
}

function push(src: string, target: string, extra: string[] = []) {
  return rsync(['-rt', ...extra, `${src}/`, target, `--port=${server.rsyncPort}`]);
}

before(async () => {
  server = await startServer();
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: ALICE, password: ALICE_PW })).status, 201);
});

after(async () => {
  await server?.stop();
});

describe('item 1: no anonymous write by default', () => {
  test('a module with only a name and a path is refused (400 naming users) and nothing changes', async () => {
    const before = generated();
    const p = path.join(server.storageRoot, 'open');
    const res = await server.admin.post('/api/v1/modules', { name: 'open', path: p });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.body.details.map((d: { field: string }) => d.field), ['users']);
    assert.match(res.body.message, /users: must grant at least one rsync user.*anonymous/);
    assert.deepEqual(generated(), before);
    assert.equal(fs.existsSync(p), false, 'no directory left behind');
    assert.equal((await server.admin.get('/api/v1/modules/open')).status, 404);
  });

  test('anonymous read-write must be asked for; it is flagged in warnings and works without a password', async () => {
    const res = await server.admin.post('/api/v1/modules', { name: 'dropbox', path: path.join(server.storageRoot, 'dropbox'), anonymous: 'read-write' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.anonymous, 'read-write');
    assert.ok(res.body.warnings.some((w: string) => /^anonymous read-write: anyone/.test(w)), JSON.stringify(res.body.warnings));
    const pushed = await push(makeTree(2), '127.0.0.1::dropbox');
    assert.equal(pushed.code, 0, pushed.stderr);
  });

  test('anonymous read is read-only: pull works, push is refused by the daemon', async () => {
    const res = await server.admin.post('/api/v1/modules', { name: 'mirror', path: path.join(server.storageRoot, 'mirror'), anonymous: 'read' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.readOnly, true, 'anonymous read makes the module read-only');
    const pushed = await push(makeTree(1), '127.0.0.1::mirror');
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /read only/i);
  });

  test('anonymous access cannot go with grants; granting a user closes anonymous access', async () => {
    const both = await server.admin.post('/api/v1/modules', {
      name: 'both',
      path: path.join(server.storageRoot, 'both'),
      anonymous: 'read-write',
      users: [{ name: ALICE, access: 'rw' }],
    });
    assert.equal(both.status, 400, both.text);
    assert.deepEqual(both.body.details.map((d: { field: string }) => d.field), ['anonymous']);
    const closed = await server.admin.patch('/api/v1/modules/dropbox', { users: [{ name: ALICE, access: 'rw' }] });
    assert.equal(closed.status, 200, closed.text);
    assert.equal(closed.body.anonymous, 'none');
    const anon = await push(makeTree(1), '127.0.0.1::dropbox');
    assert.notEqual(anon.code, 0, 'no anonymous push any more');
  });
});

describe('item 2: read-only means read-only', () => {
  test('read-only with an rw grant is refused, naming both fields; nothing changes', async () => {
    const before = generated();
    const res = await server.admin.post('/api/v1/modules', {
      name: 'ledger',
      path: path.join(server.storageRoot, 'ledger'),
      readOnly: true,
      users: [{ name: ALICE, access: 'rw' }],
    });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.body.details.map((d: { field: string }) => d.field), ['users[0].access']);
    assert.match(res.body.message, /'rw' but readOnly is true/);
    assert.deepEqual(generated(), before);
  });

  test('with the real daemon: alice (ro) cannot write into the read-only module; making it read-only with her rw grant is refused', async () => {
    const created = await server.admin.post('/api/v1/modules', {
      name: 'ledger',
      path: path.join(server.storageRoot, 'ledger'),
      readOnly: true,
      users: [{ name: ALICE, access: 'ro' }],
    });
    assert.equal(created.status, 201, created.text);
    const pushed = await push(makeTree(1), `${ALICE}@127.0.0.1::ledger`, [`--password-file=${passwordFile(ALICE_PW)}`]);
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /read only/i);
    assert.deepEqual(fs.readdirSync(path.join(server.storageRoot, 'ledger')), []);
    // A writable module with an rw grant cannot be relabelled read-only while the grant says rw.
    const relabel = await server.admin.patch('/api/v1/modules/dropbox', { readOnly: true });
    assert.equal(relabel.status, 400, relabel.text);
    assert.match(relabel.body.message, /users\[0\]\.access: is 'rw' but readOnly is true/);
  });
});

describe('item 3: import never widens access', () => {
  test('hosts deny = * next to an allow list imports; a module with a filter is skipped; each problem once, in its section', async () => {
    const conf = [
      'pid file = /var/run/rsyncd.pid',
      'dont compress = *.gz',
      '',
      '[walled]',
      `    path = ${path.join(server.storageRoot, 'walled')}`,
      '    auth users = carol',
      '    hosts allow = 192.168.1.0/24 backup.example.com',
      '    hosts deny = *',
      '    read only = no',
      '    bogus line without equals',
      '',
    ].join('\n');
    // The global dont compress applies to [walled]: it is skipped for that, and the global line is reported once.
    const first = await server.admin.post('/api/v1/import', { config: conf, secrets: `carol:${crypto.randomBytes(12).toString('hex')}\n` });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body.createdModules, []);
    const names = first.body.skipped.map((s: { kind: string; name: string }) => `${s.kind}:${s.name}`);
    assert.deepEqual(names, ['parameter:walled.line 10', 'global:dont compress', 'global:pid file', 'module:walled', 'user:carol']);
    assert.match(first.body.skipped[3].reason, /inherits from the global section 'dont compress = \*\.gz'/);

    const second = await server.admin.post('/api/v1/import', {
      config: conf.replace('dont compress = *.gz\n', '').replace('    bogus line without equals\n', ''),
      secrets: `carol:${crypto.randomBytes(12).toString('hex')}\n`,
    });
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body.createdModules, ['walled']);
    const mod = (await server.admin.get('/api/v1/modules/walled')).body;
    assert.deepEqual(mod.hostsAllow, ['192.168.1.0/24', 'backup.example.com']);
    assert.deepEqual(mod.hostsDeny, ['*']);
    assert.match(generated().conf, /\[walled\][\s\S]*hosts allow = 192\.168\.1\.0\/24 backup\.example\.com\n\s+hosts deny = \*\n/);
    const filtered = await server.admin.post('/api/v1/import', {
      config: `[filtered]\npath = ${path.join(server.storageRoot, 'filtered')}\nauth users = alice\nfilter = - /private/\n`,
      skipExisting: true,
    });
    assert.equal(filtered.status, 200, filtered.text);
    assert.deepEqual(filtered.body.createdModules, []);
    assert.match(filtered.body.skipped.find((s: { kind: string }) => s.kind === 'module').reason, /filter = - \/private\/.*cannot carry over/);
    assert.equal(fs.existsSync(path.join(server.storageRoot, 'filtered')), false);
  });
});

describe('item 5: nothing reaches the data dir', () => {
  test('the server refuses to start when a storage root contains the data dir, naming both', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-parent-'));
    const dataDir = path.join(parent, 'data');
    fs.mkdirSync(dataDir);
    await assert.rejects(
      startServer({ dataDir, env: { RSYNCHUB_STORAGE_ROOTS: parent }, waitForDaemon: false }),
      (err: Error) => err.message.includes(`RSYNCHUB_STORAGE_ROOTS entry ${parent} contains the data dir (RSYNCHUB_DATA_DIR ${dataDir})`),
    );
    await assert.rejects(
      startServer({ dataDir, env: { RSYNCHUB_STORAGE_ROOTS: path.join(dataDir, 'locks') }, waitForDaemon: false }),
      /RSYNCHUB_STORAGE_ROOTS entry .*locks is or lies inside .*which RsyncHub itself writes/,
    );
    assert.equal(fs.existsSync(path.join(dataDir, 'rsynchub.sqlite')), false, 'refused before anything was written');
  });

  test('a module path that leads into the data dir through a link is refused', async () => {
    fs.symlinkSync(server.dataDir, path.join(server.storageRoot, 'backdoor'));
    for (const p of ['backdoor', 'backdoor/x']) {
      const res = await server.admin.post('/api/v1/modules', { name: 'bd', path: path.join(server.storageRoot, p), users: [{ name: ALICE, access: 'rw' }] });
      assert.equal(res.status, 400, `${p}: ${res.text}`);
      assert.equal(res.body.details[0].field, 'path');
    }
    assert.equal(fs.existsSync(path.join(server.dataDir, 'x')), false);
  });
});

describe('item 6: resolved paths, purges and root ids', () => {
  const grant = [{ name: ALICE, access: 'rw' }];

  test('a module whose real path lies inside another module (through a symlink) is refused', async () => {
    const a = path.join(server.storageRoot, 'team-a');
    assert.equal((await server.admin.post('/api/v1/modules', { name: 'team-a', path: a, users: grant })).status, 201);
    fs.symlinkSync(a, path.join(server.storageRoot, 'alias'));
    const inside = await server.admin.post('/api/v1/modules', { name: 'team-b', path: path.join(server.storageRoot, 'alias', 'b'), users: grant });
    assert.equal(inside.status, 400, inside.text);
    assert.match(inside.body.message, /resolves to .*team-a\/b, inside module "team-a"/);
    const same = await server.admin.post('/api/v1/modules', { name: 'team-c', path: path.join(server.storageRoot, 'alias'), users: grant });
    assert.equal(same.status, 400, same.text);
    assert.match(same.body.message, /the same directory as module "team-a"/);
    assert.equal(fs.existsSync(path.join(a, 'b')), false);
  });

  test('a purge of a module whose directory is a symbolic link removes the link only; the target is untouched', async () => {
    const p = path.join(server.storageRoot, 'linked');
    assert.equal((await server.admin.post('/api/v1/modules', { name: 'linked', path: p, users: grant })).status, 201);
    const victim = path.join(server.storageRoot, 'victim');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'precious.txt'), 'keep me');
    fs.rmSync(p, { recursive: true });
    fs.symlinkSync(victim, p);
    const res = await server.admin.delete('/api/v1/modules/linked?purge=true');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { name: 'linked', purged: true });
    assert.equal(fs.existsSync(p), false, 'the link is gone');
    assert.equal(fs.readFileSync(path.join(victim, 'precious.txt'), 'utf8'), 'keep me');
  });

  test('uid / gid root need allowRootIds', async () => {
    for (const ids of [{ uid: 'root' }, { gid: '0' }]) {
      const res = await server.admin.post('/api/v1/modules', { name: 'rooted', path: path.join(server.storageRoot, 'rooted'), users: grant, ...ids });
      assert.equal(res.status, 400, res.text);
      assert.match(res.body.message, /transfer as root; set allowRootIds to true/);
    }
    const ok = await server.admin.post('/api/v1/modules', { name: 'rooted', path: path.join(server.storageRoot, 'rooted'), users: grant, uid: 'root', allowRootIds: true });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.body.allowRootIds, true);
  });
});

describe('item 7: filesystem limits and hostile bodies are 400s', () => {
  const grant = [{ name: ALICE, access: 'rw' }];

  test('a path component over NAME_MAX, a path over PATH_MAX, or through a file: 400 with the reason', async () => {
    const cases: [string, RegExp][] = [
      [path.join(server.storageRoot, 'x'.repeat(256)), /256 bytes.*NAME_MAX/],
      [server.storageRoot + '/abcdefgh'.repeat(512), /PATH_MAX|at most 4096/],
    ];
    fs.writeFileSync(path.join(server.storageRoot, 'plainfile'), 'x');
    cases.push([path.join(server.storageRoot, 'plainfile', 'sub'), /cannot be created: a part of the path is a file, not a directory \(ENOTDIR\)|exists and is not a directory/]);
    for (const [p, re] of cases) {
      const res = await server.admin.post('/api/v1/modules', { name: 'toolong', path: p, users: grant });
      assert.equal(res.status, 400, `${p.slice(-40)}: ${res.status} ${res.text.slice(0, 300)}`);
      assert.equal(res.body.details[0].field, 'path');
      assert.match(res.body.message, re);
    }
  });

  test('100k nested arrays or objects are a 400 naming the rule, and the server keeps serving', async () => {
    for (const body of ['['.repeat(100_000) + ']'.repeat(100_000), '{"name":' + '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_001)]) {
      const res = await fetch(`${server.baseUrl}/api/v1/modules`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${server.admin.token}` },
        body,
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { message: string }).message, /nests deeper than 32 levels/);
    }
    assert.equal((await server.admin.get('/api/v1/modules')).status, 200);
  });
});

describe('item 1 migration: modules that were anonymous before stay exactly as open, and say so', () => {
  test('a database from before the change keeps its modules behaving the same, now flagged', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-migrate-'));
    let old = await startServer({ dataDir });
    const port = { httpPort: old.httpPort, rsyncPort: old.rsyncPort };
    assert.equal((await old.admin.post('/api/v1/rsync-users', { name: 'dave', password: crypto.randomBytes(12).toString('hex') })).status, 201);
    for (const [name, readOnly] of [['oldrw', false], ['oldro', true], ['oldlie', true]] as const) {
      const res = await old.admin.post('/api/v1/modules', { name, path: path.join(old.storageRoot, name), users: [{ name: 'dave', access: 'ro' }], readOnly });
      assert.equal(res.status, 201, res.text);
    }
    await old.stop();
    // Back to the schema and data of before: grants removed (the old API allowed modules without users), one
    // read-only module with an rw grant, root ids set without an opt-in, and the migration not yet run.
    await runSql(path.join(dataDir, 'rsynchub.sqlite'), [
      `DELETE FROM module_grants WHERE module_name IN ('oldrw', 'oldro')`,
      `UPDATE module_grants SET access = 'rw' WHERE module_name = 'oldlie'`,
      `UPDATE rsync_modules SET uid = 'root' WHERE name = 'oldlie'`,
      `ALTER TABLE rsync_modules DROP COLUMN anonymous`,
      `ALTER TABLE rsync_modules DROP COLUMN allow_root_ids`,
      `DELETE FROM migrations WHERE name = 'ModuleAccessModel1764100100000'`,
    ]);
    old = await startServer({ dataDir, ...port });
    try {
      const byName = new Map<string, { anonymous: string; readOnly: boolean; warnings: string[]; allowRootIds: boolean }>(
        (await old.admin.get('/api/v1/modules')).body.map((m: { name: string }) => [m.name, m]),
      );
      assert.equal(byName.get('oldrw')!.anonymous, 'read-write');
      assert.ok(byName.get('oldrw')!.warnings.some((w) => /^anonymous read-write/.test(w)));
      assert.equal(byName.get('oldro')!.anonymous, 'read');
      assert.equal(byName.get('oldro')!.readOnly, true);
      assert.equal(byName.get('oldlie')!.anonymous, 'none');
      assert.equal(byName.get('oldlie')!.readOnly, false, 'labelled as what rsync did: dave could write');
      assert.equal(byName.get('oldlie')!.allowRootIds, true, 'an admin had set uid root before the rule existed');
      // Still as open as before: an anonymous push into the formerly anonymous writable module works.
      const pushed = await rsync(['-rt', `${makeTree(1)}/`, '127.0.0.1::oldrw', `--port=${old.rsyncPort}`]);
      assert.equal(pushed.code, 0, pushed.stderr);
    } finally {
      await old.stop();
    }
  });
});

function runSql(file: string, statements: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (err) => {
      if (err) return reject(err);
      db.serialize(() => {
        for (const s of statements) db.run(s, (e: Error | null) => e && reject(new Error(`${s}: ${e.message}`)));
        db.close((e) => (e ? reject(e) : resolve()));
      });
    });
  });
}
