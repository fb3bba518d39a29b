/**
 * Issue 10, the modules side, against the real server, the real rsync daemon and the real rsync client: the paged
 * module list covers every module exactly once, a bulk import checks overlaps (also through symlinks) and its users
 * can push, config changes are proven OUTSIDE the write transaction (log ingestion and reads go on while a proof
 * runs; a refused proof changes nothing), and the config written after many incremental proofs is accepted whole.
 *
 * The proof is slowed down or refused through RSYNCHUB_RSYNC_BINARY: a wrapper that runs the real rsync, except
 * that a throwaway proof daemon (its pid file lives in an `rsynchub-verify-` temp dir) whose config holds a module
 * named `slowproof` first sleeps, and one holding `refuseme` exits as rsync does on a config it cannot load.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTree, passwordFile, REPO_ROOT, RunningServer, rsync, startServer, waitFor } from './support/server';
import { refuseModule, writeProofWrapper } from './support/proof-wrapper';

// The e2e project does not build against libs/rsyncd; its compiled proof is what the server itself runs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { verifyConfigWithDaemon } = require(path.join(REPO_ROOT, 'libs/rsyncd/dist')) as {
  verifyConfigWithDaemon: (config: string, secrets: string, opts?: { timeoutMs?: number }) => Promise<{ ok: true; modules: string[] } | { ok: false; error: string }>;
};

let server: RunningServer;
let wrapperDir = '';
const PUSHER_PW = crypto.randomBytes(12).toString('hex');

function wrapper(): string {
  wrapperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-rsync-wrapper-'));
  // Held until the test says so (at most 18 s, within the server's 20 s proof deadline): a fixed 3 s window was not
  // always enough on a loaded machine for the push and its ingestion the test makes meanwhile.
  return writeProofWrapper(path.join(wrapperDir, 'rsync'), `
    if grep -q '^\\[slowproof\\]' "$conf"; then
      touch "${wrapperDir}/slow-started"
      i=0; while [ ! -e "${wrapperDir}/slow-release" ] && [ $i -lt 180 ]; do sleep 0.1; i=$((i+1)); done
    fi
    ${refuseModule('refuseme')}`);
}

const names = (list: { name: string }[]) => list.map((m) => m.name);

before(async () => {
  server = await startServer({ env: { RSYNCHUB_RSYNC_BINARY: wrapper() } });
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'pusher', password: PUSHER_PW })).status, 201);
});

after(async () => {
  await server?.stop();
  if (wrapperDir) fs.rmSync(wrapperDir, { recursive: true, force: true });
});

describe('paged module list', () => {
  const created: string[] = [];

  before(async () => {
    // Names that sort differently by case, and names with LIKE's wildcards (_ and %) in the middle.
    const wanted = Array.from({ length: 137 }, (_, i) => `${['Alpha', 'alpha_', 'beta', 'B.eta', 'g-amma', 'a_b', 'axb'][i % 7]}${i}`);
    let config = '';
    let secrets = '';
    for (const [i, name] of wanted.entries()) {
      config += `[${name}]\npath = ${server.storageRoot}/p${i}\nauth users = pu${i}\nread only = no\n`;
      secrets += `pu${i}:${crypto.randomBytes(12).toString('hex')}\n`;
    }
    const res = await server.admin.post('/api/v1/import', { config, secrets });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.skipped, []);
    assert.equal(res.body.createdModules.length, wanted.length);
    created.push(...wanted);
  });

  test('pages of every size cover every module exactly once, in the unpaged order, with the same content', async () => {
    const all = (await server.admin.get('/api/v1/modules')).body as { name: string; users: unknown[] }[];
    assert.ok(Array.isArray(all));
    for (const name of created) assert.ok(names(all).includes(name), name);
    for (const limit of [1, 7, 50, 500]) {
      const seen: { name: string; users: unknown[] }[] = [];
      for (let offset = 0; ; offset += limit) {
        const page = await server.admin.get(`/api/v1/modules?limit=${limit}&offset=${offset}`);
        assert.equal(page.status, 200, page.text);
        assert.equal(page.body.total, all.length);
        assert.equal(page.body.limit, limit);
        assert.equal(page.body.offset, offset);
        if (page.body.items.length === 0) break;
        assert.ok(page.body.items.length <= limit);
        seen.push(...page.body.items);
        if (limit === 1 && offset > 40) {
          // Enough single-row pages; check the rest with the bigger sizes.
          seen.push(...all.slice(seen.length));
          break;
        }
      }
      assert.deepEqual(names(seen), names(all), `limit ${limit}`);
      assert.equal(new Set(names(seen).map((n) => n.toLowerCase())).size, all.length, `no module twice (limit ${limit})`);
      // Each page reads only its own modules' grants: they must be the same as in the full list.
      assert.deepEqual(seen.map((m) => m.users), all.map((m) => m.users));
    }
  });

  test('q filters by name prefix, case-insensitively, with _ and % taken literally', async () => {
    const all = names((await server.admin.get('/api/v1/modules')).body);
    for (const q of ['alpha', 'ALPHA_', 'a_', 'a%', 'b.', 'B', 'g-amma13', 'nomatch']) {
      const want = all.filter((n) => n.toLowerCase().startsWith(q.toLowerCase()));
      const got: string[] = [];
      for (let offset = 0; ; offset += 9) {
        const page = await server.admin.get(`/api/v1/modules?limit=9&offset=${offset}&q=${encodeURIComponent(q)}`);
        assert.equal(page.status, 200, page.text);
        assert.equal(page.body.total, want.length, q);
        got.push(...names(page.body.items));
        if (page.body.items.length < 9) break;
      }
      assert.deepEqual(got, want, q);
    }
  });

  test('bad paging parameters are 400s naming the parameter', async () => {
    const cases: [string, RegExp][] = [
      ['limit=0', /limit/],
      ['limit=501', /limit/],
      ['limit=abc', /limit/],
      ['limit=5&offset=-1', /offset/],
      ['limit=5&offset=1.5', /offset/],
      ['offset=3', /limit/],
      ['q=a', /limit/],
      ['limit=5&bogus=1', /bogus/],
      ['limit=5&limit=6', /limit/],
    ];
    for (const [query, field] of cases) {
      const res = await server.admin.get(`/api/v1/modules?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.match(res.body.message, field, query);
    }
  });

  test('without a session the paged list is refused too', async () => {
    const anon = server.client();
    assert.equal((await anon.get('/api/v1/modules?limit=5')).status, 401);
  });
});

describe('bulk import', () => {
  test('overlaps inside the import and through a symlink are skipped with the reason; the rest can push', async () => {
    const real = path.join(server.storageRoot, 'bulk-real');
    fs.mkdirSync(real, { recursive: true });
    fs.symlinkSync(real, path.join(server.storageRoot, 'bulk-link'));
    const pw = crypto.randomBytes(12).toString('hex');
    const config = [
      `[bulk-a]\npath = ${real}\nauth users = bulkuser\nread only = no`,
      `[bulk-b]\npath = ${server.storageRoot}/bulk-link\nauth users = bulkuser\nread only = no`,
      `[bulk-c]\npath = ${real}/inner\nauth users = bulkuser\nread only = no`,
      `[bulk-d]\npath = ${server.storageRoot}/bulk-d\nauth users = bulkuser\nread only = no`,
    ].join('\n');
    const res = await server.admin.post('/api/v1/import', { config, secrets: `bulkuser:${pw}\n` });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.createdModules, ['bulk-a', 'bulk-d']);
    assert.deepEqual(res.body.createdUsers, ['bulkuser']);
    const reasons = Object.fromEntries(res.body.skipped.map((s: { name: string; reason: string }) => [s.name, s.reason]));
    assert.match(reasons['bulk-b'], /resolves to .*bulk-real, the same directory as module "bulk-a"/);
    assert.match(reasons['bulk-c'], /lies inside module "bulk-a"/);
    assert.equal(fs.existsSync(path.join(real, 'inner')), false, 'no directory made for a skipped module');
    const pushed = await rsync(['-rt', `--password-file=${passwordFile(pw)}`, `${makeTree(3)}/`, `bulkuser@127.0.0.1::bulk-d`, `--port=${server.rsyncPort}`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    // The same import again: every name exists now.
    const again = await server.admin.post('/api/v1/import', { config, secrets: `bulkuser:${pw}\n` });
    assert.equal(again.status, 409, again.text);
    const skipping = await server.admin.post('/api/v1/import', { config, secrets: `bulkuser:${pw}\n`, skipExisting: true });
    assert.equal(skipping.status, 200, skipping.text);
    assert.deepEqual(skipping.body.createdModules, []);
  });
});

describe('the proof of a config change runs outside the write transaction', () => {
  test('a refused proof changes nothing: no module, no directory, the same files', async () => {
    const conf = fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8');
    const dir = path.join(server.storageRoot, 'refuseme');
    const res = await server.admin.post('/api/v1/modules', { name: 'refuseme', path: dir, users: [{ name: 'pusher', access: 'rw' }] });
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.message, /refused the generated configuration/);
    assert.equal((await server.admin.get('/api/v1/modules/refuseme')).status, 404);
    assert.equal(fs.existsSync(dir), false);
    assert.equal(fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8'), conf);
  });

  test('log ingestion and reads go on while a slow proof runs', async () => {
    const created = await server.admin.post('/api/v1/modules', { name: 'pushhere', path: path.join(server.storageRoot, 'pushhere'), users: [{ name: 'pusher', access: 'rw' }] });
    assert.equal(created.status, 201, created.text);
    const sessions = async () => (await server.admin.get('/api/v1/transfers?module=pushhere&limit=500')).body.items.length as number;
    const before = await sessions();

    let slowDone = false;
    const slow = server.admin
      .post('/api/v1/modules', { name: 'slowproof', path: path.join(server.storageRoot, 'slowproof'), users: [{ name: 'pusher', access: 'rw' }] })
      .finally(() => (slowDone = true));
    // The slow change is in its proof once its dry run is over; the wrapper holds it there until slow-release
    // (at most 18 s: a push queued behind the proof would be ingested only after that, past the 10 s below).
    try {
      await waitFor('the slow proof to start', () => fs.existsSync(path.join(wrapperDir, 'slow-started')));
      const pushed = await rsync(['-rt', `--password-file=${passwordFile(PUSHER_PW)}`, `${makeTree(2)}/`, `pusher@127.0.0.1::pushhere`, `--port=${server.rsyncPort}`]);
      assert.equal(pushed.code, 0, pushed.stderr);
      await waitFor('the push to be ingested', async () => (await sessions()) > before, 10_000);
      assert.equal(slowDone, false, 'the push was ingested while the proof still ran (not queued behind it)');
      const list = await server.admin.get('/api/v1/modules?limit=5&q=pushhere');
      assert.equal(list.status, 200);
      assert.equal(slowDone, false, 'reads answer while the proof runs');
    } finally {
      fs.writeFileSync(path.join(wrapperDir, 'slow-release'), '');
    }
    const res = await slow;
    assert.equal(res.status, 201, res.text);
  });

  test('the config written after many incremental proofs is accepted whole by rsync, every module listed', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await server.admin.post('/api/v1/modules', { name: `inc${i}`, path: path.join(server.storageRoot, `inc${i}`), users: [{ name: 'pusher', access: 'rw' }] });
      assert.equal(res.status, 201, res.text);
    }
    assert.equal((await server.admin.patch('/api/v1/modules/inc2', { comment: 'changed after the rest' })).status, 200);
    assert.equal((await server.admin.delete('/api/v1/modules/inc3')).status, 200);
    const conf = fs.readFileSync(path.join(server.dataDir, 'rsyncd.conf'), 'utf8');
    const all = names((await server.admin.get('/api/v1/modules')).body);
    const proof = await verifyConfigWithDaemon(conf, '', { timeoutMs: 60_000 });
    assert.ok(proof.ok, proof.ok ? '' : proof.error);
    if (proof.ok) assert.deepEqual([...proof.modules].sort(), [...all].sort());
  });
});
