/**
 * Issue 10 (one module / user create at 10,000 modules): the API keeps the modules and the secrets in memory and
 * brings them up to date from the config change log that SQLite's triggers write (migration 1764101600000,
 * apps/api/src/daemon/config-change-log.ts); a create renders one section and joins the rest (RenderCache.quick);
 * the overlap check of a create uses an in-memory index (apps/api/src/modules/path-catalogue.ts). None of that may
 * ever serve stale data:
 *   - rows changed behind the server's back (another SQLite connection) are in the very next write, and the overlap
 *     check sees them;
 *   - after random creates, updates, deletes, refused writes (a rolled-back change) and rows changed behind its
 *     back, every file equals what a fresh process renders from the database (a restart: its first render has
 *     nothing in memory).
 * Real server, real daemon, real rsync (a wrapper refuses the proof of a config holding `[refuseme]`), real SQLite.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sqlite3 from 'sqlite3';
import { RunningServer, startServer } from './support/server';
import { refuseModule, writeProofWrapper } from './support/proof-wrapper';

let server: RunningServer;
let wrapperDir = '';
const FILES = ['rsyncd.conf', 'rsyncd-tls.conf', 'rsyncd.secrets'];
const password = () => crypto.randomBytes(12).toString('hex');

function files(): Record<string, string> {
  return Object.fromEntries(FILES.map((f) => [f, fs.readFileSync(path.join(server.dataDir, f), 'utf8')]));
}

/** Statements run through a connection of their own, as another process (or an admin with sqlite3) would. */
async function behindTheBack(sql: string[]): Promise<void> {
  const db = new sqlite3.Database(path.join(server.dataDir, 'rsynchub.sqlite'));
  try {
    db.configure('busyTimeout', 20_000);
    for (const s of sql) await new Promise<void>((resolve, reject) => db.run(s, (err) => (err ? reject(err) : resolve())));
  } finally {
    await new Promise<void>((r) => db.close(() => r()));
  }
}

/** A new server process on the same data dir: its start-up render has nothing in memory. */
async function restart(): Promise<void> {
  const { dataDir, httpPort, rsyncPort, rsyncTlsPort } = server;
  await server.stop();
  server = await startServer({ dataDir, httpPort, rsyncPort, rsyncTlsPort, env: { RSYNCHUB_RSYNC_BINARY: path.join(wrapperDir, 'rsync') } });
}

before(async () => {
  wrapperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-mirror-wrapper-'));
  server = await startServer({ env: { RSYNCHUB_RSYNC_BINARY: writeProofWrapper(path.join(wrapperDir, 'rsync'), refuseModule('refuseme')) } });
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'pusher', password: password() })).status, 201);
});

after(async () => {
  await server?.stop();
  if (wrapperDir) fs.rmSync(wrapperDir, { recursive: true, force: true });
});

test('rows changed behind the server\'s back are in the next write, and the overlap check of a create sees them', async () => {
  for (const name of ['alpha', 'beta']) {
    const r = await server.admin.post('/api/v1/modules', { name, path: path.join(server.storageRoot, name), users: [{ name: 'pusher', access: 'rw' }] });
    assert.equal(r.status, 201, r.text);
  }
  const now = new Date().toISOString();
  await behindTheBack([
    `UPDATE rsync_modules SET comment = 'changed elsewhere' WHERE name = 'alpha'`,
    `DELETE FROM module_grants WHERE module_name = 'beta'`,
    `DELETE FROM rsync_modules WHERE name = 'beta'`,
    `INSERT INTO rsync_modules (name, path, comment, read_only, anonymous, created_at, updated_at) VALUES ('ghost', '${path.join(server.storageRoot, 'ghost')}', 'inserted elsewhere', 1, 'read', '${now}', '${now}')`,
    `UPDATE rsync_users SET comment = 'x' WHERE name = 'pusher'`,
  ]);
  // An unrelated change (a user create): its write renders the modules as the database has them now.
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'bystander', password: password() })).status, 201);
  const conf = files()['rsyncd.conf']!;
  assert.match(conf, /\[alpha\][^[]*comment = changed elsewhere/);
  assert.doesNotMatch(conf, /\[beta\]/);
  assert.match(conf, /\[ghost\][^[]*comment = inserted elsewhere/);
  // The overlap check: the path of the module inserted behind its back is taken, the deleted one's is free.
  const taken = await server.admin.post('/api/v1/modules', { name: 'again', path: path.join(server.storageRoot, 'ghost'), users: [{ name: 'pusher', access: 'rw' }] });
  assert.equal(taken.status, 400, taken.text);
  assert.match(taken.body.message, /already the path of module "ghost"/);
  const inner = await server.admin.post('/api/v1/modules', { name: 'inner', path: path.join(server.storageRoot, 'ghost', 'inner'), users: [{ name: 'pusher', access: 'rw' }] });
  assert.equal(inner.status, 400, inner.text);
  assert.match(inner.body.message, /inside module "ghost"/);
  const reuse = await server.admin.post('/api/v1/modules', { name: 'beta2', path: path.join(server.storageRoot, 'beta'), users: [{ name: 'pusher', access: 'rw' }] });
  assert.equal(reuse.status, 201, reuse.text);
  // A password changed behind its back is in the next secrets file (the row's sealed value; here: another user's).
  const sealed = await new Promise<string>((resolve, reject) => {
    const db = new sqlite3.Database(path.join(server.dataDir, 'rsynchub.sqlite'), sqlite3.OPEN_READONLY);
    db.get(`SELECT password_encrypted AS p FROM rsync_users WHERE name = 'bystander'`, (err, row) => {
      db.close();
      if (err) reject(err);
      else resolve((row as { p: string }).p);
    });
  });
  await behindTheBack([`UPDATE rsync_users SET password_encrypted = '${sealed}' WHERE name = 'pusher'`]);
  assert.equal((await server.admin.patch('/api/v1/modules/alpha', { comment: 'a module change' })).status, 200);
  const secrets = files()['rsyncd.secrets']!.split('\n');
  const pw = (user: string) => secrets.find((l) => l.startsWith(`${user}:`))?.slice(user.length + 1);
  assert.equal(pw('pusher'), pw('bystander'), 'pusher has the password set behind the back');
  // The unpaged list (served from the in-memory modules) says what each module's own GET says (read from its row).
  const all = await server.admin.get('/api/v1/modules');
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.body.map((m: { name: string }) => m.name), ['alpha', 'beta2', 'ghost']);
  for (const m of all.body as { name: string }[]) assert.deepEqual(m, (await server.admin.get(`/api/v1/modules/${m.name}`)).body, m.name);
  const written = files();
  await restart();
  assert.deepEqual(files(), written, 'what was written equals what a fresh process renders');
});

test('random creates, updates, deletes, refused writes and changes behind its back: every file equals a fresh render', async () => {
  // mulberry32, seeded: a failure replays.
  let a = 20261202;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const users = ['pusher', 'bystander'];
  const modules: string[] = (await server.admin.get('/api/v1/modules')).body.map((m: { name: string }) => m.name);
  let next = 0;
  for (let step = 0; step < 48; step++) {
    const r = rnd();
    const what = `step ${step}`;
    if (r < 0.25 || modules.length < 2) {
      const name = `r${next++}`;
      const res = await server.admin.post('/api/v1/modules', { name, path: path.join(server.storageRoot, name), users: [{ name: pick(users), access: 'rw' }] });
      assert.equal(res.status, 201, `${what}: ${res.text}`);
      modules.push(name);
    } else if (r < 0.4) {
      const name = pick(modules);
      const res = await server.admin.patch(`/api/v1/modules/${name}`, pick([{ comment: `c${step}` }, { users: [{ name: pick(users), access: 'ro' }], readOnly: true }, { maxConnections: 3 }, { enabled: rnd() < 0.5 }]));
      assert.equal(res.status, 200, `${what}: ${res.text}`);
    } else if (r < 0.5) {
      const name = modules.splice(Math.floor(rnd() * modules.length), 1)[0]!;
      const res = await server.admin.delete(`/api/v1/modules/${name}`);
      assert.ok(res.status === 200 || res.status === 204, `${what}: ${res.status} ${res.text}`);
    } else if (r < 0.6) {
      const name = `ru${next++}`;
      const res = await server.admin.post('/api/v1/rsync-users', { name, password: password() });
      assert.equal(res.status, 201, `${what}: ${res.text}`);
      users.push(name);
    } else if (r < 0.7) {
      // Refused by rsync after the dry run: rolled back, nothing written, nothing of it may be kept.
      const before = files();
      const res = await server.admin.post('/api/v1/modules', { name: 'refuseme', path: path.join(server.storageRoot, 'refuseme'), users: [{ name: pick(users), access: 'rw' }] });
      assert.equal(res.status, 400, `${what}: ${res.text}`);
      assert.deepEqual(files(), before, `${what}: a refused change writes nothing`);
    } else if (r < 0.8) {
      const name = pick(modules);
      await behindTheBack([`UPDATE rsync_modules SET comment = 'elsewhere ${step}' WHERE name = '${name}'`]);
      // Noticed by the next change, whatever it is (here a user create).
      const u = `bu${next++}`;
      assert.equal((await server.admin.post('/api/v1/rsync-users', { name: u, password: password() })).status, 201, what);
      users.push(u);
      assert.match(files()['rsyncd.conf']!, new RegExp(`\\[${name}\\][^[]*comment = elsewhere ${step}\\n`), what);
    } else if (r < 0.85) {
      const name = users.length > 2 ? users[2 + Math.floor(rnd() * (users.length - 2))]! : null;
      if (name) {
        // Refused (400, nothing written) when a module would be left without any user; else the user goes.
        const before = files();
        const res = await server.admin.delete(`/api/v1/rsync-users/${name}?removeGrants=true`);
        if (res.status === 400) assert.deepEqual(files(), before, `${what}: a refused change writes nothing`);
        else {
          assert.ok(res.status === 200 || res.status === 204, `${what}: ${res.status} ${res.text}`);
          users.splice(users.indexOf(name), 1);
        }
      }
    } else {
      const written = files();
      await restart();
      assert.deepEqual(files(), written, `${what}: what was written equals what a fresh process renders`);
    }
  }
  const written = files();
  await restart();
  assert.deepEqual(files(), written, 'at the end: what was written equals what a fresh process renders');
});

test('the change log is pruned once thousands of lines are behind every state, and a prune in a dry run does not stick', async () => {
  let config = '';
  let secrets = '';
  for (let i = 0; i < 2100; i++) {
    config += `[bulk${i}]\npath = ${server.storageRoot}/bulk${i}\nauth users = bulku${i}\nread only = no\n`;
    secrets += `bulku${i}:${password()}\n`;
  }
  const imported = await server.admin.post('/api/v1/import', { config, secrets });
  assert.equal(imported.status, 200, imported.text);
  const lines = () =>
    new Promise<{ first: number; last: number }>((resolve, reject) => {
      const db = new sqlite3.Database(path.join(server.dataDir, 'rsynchub.sqlite'), sqlite3.OPEN_READONLY);
      db.get(`SELECT min(seq) AS first, max(seq) AS last FROM config_changes`, (err, row) => {
        db.close();
        if (err) reject(err);
        else resolve(row as { first: number; last: number });
      });
    });
  const afterImport = await lines();
  assert.ok(afterImport.last - afterImport.first > 6000, `an import of 2,100 modules and users logs a line per row: ${JSON.stringify(afterImport)}`);
  // Two changes: the first's states are the import's; by the second, the import's lines are behind every state.
  for (const name of ['prune1', 'prune2', 'prune3']) assert.equal((await server.admin.post('/api/v1/rsync-users', { name, password: password() })).status, 201);
  const pruned = await lines();
  assert.ok(pruned.first > afterImport.last - 10, `pruned up to the last few lines: ${JSON.stringify({ afterImport, pruned })}`);
  const written = files();
  await restart();
  assert.deepEqual(files(), written, 'what was written equals what a fresh process renders');
});
