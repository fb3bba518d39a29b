/**
 * kill -9 during a stream of module creates: after a restart on the same data dir, every module in the database
 * (and so in the regenerated files) has its audit entry, and no empty directory made for a create that never
 * committed is left behind.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiClient, RunningServer, sleep, startServer, waitFor } from './support/server';

const ROUNDS = 3;
const CONCURRENCY = 4;
let server: RunningServer | null = null;

after(async () => {
  await server?.stop();
});

async function auditTargets(admin: ApiClient): Promise<Set<string>> {
  const targets = new Set<string>();
  let cursor: string | null = null;
  do {
    const res: { status: number; text: string; body: { items: { target: string }[]; nextCursor: string | null } } = await admin.get(`/api/v1/audit?action=module.create&outcome=success&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200, res.text);
    for (const e of res.body.items) targets.add(e.target);
    cursor = res.body.nextCursor;
  } while (cursor);
  return targets;
}

test('kill -9 at any moment of a stream of module creates loses no audit entry and leaves no orphan directory', async () => {
  server = await startServer();
  const { dataDir, httpPort, rsyncPort, storageRoot } = server;
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'crash', password: crypto.randomBytes(12).toString('hex') })).status, 201);
  let next = 0;
  let committedBefore = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const current = server;
    let stop = false;
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (!stop) {
        const name = `crash${next++}`;
        // Nested, so a create makes more than one directory.
        await current.admin
          .post('/api/v1/modules', { name, path: path.join(storageRoot, 'r', name, 'data'), users: [{ name: 'crash', access: 'rw' }] })
          .catch(() => undefined);
      }
    });
    // Let some creates of this round commit (however busy the machine is), then kill at a random moment of the stream.
    const before = committedBefore;
    // (A listing may include the one create whose transaction is still open: changes are serialised, so two more
    // than before means at least one committed.)
    await waitFor('a create of this round to commit', async () => ((await current.admin.get('/api/v1/modules')).body as unknown[]).length > before + 1, 60_000);
    await sleep(Math.floor(Math.random() * 1000));
    await current.kill();
    stop = true;
    await Promise.all(workers);
    server = await startServer({ dataDir, httpPort, rsyncPort });

    const modules = (await server.admin.get('/api/v1/modules')).body as { name: string; path: string }[];
    assert.ok(modules.length > committedBefore, 'some creates committed');
    committedBefore = modules.length;
    const audited = await auditTargets(server.admin);
    const missing = modules.filter((m) => !audited.has(m.name)).map((m) => m.name);
    assert.deepEqual(missing, [], `round ${round}: committed modules without an audit entry`);
    // The regenerated config names exactly the modules of the database.
    const conf = fs.readFileSync(path.join(dataDir, 'rsyncd.conf'), 'utf8');
    const sections = [...conf.matchAll(/^\[([^\]]+)\]$/gm)].map((m) => m[1]).sort();
    assert.deepEqual(sections, modules.map((m) => m.name).sort());
    // Every directory under the stream's root belongs to a committed module.
    const root = path.join(storageRoot, 'r');
    const orphans = fs.readdirSync(root).filter((d) => !modules.some((m) => m.path.startsWith(path.join(root, d) + '/')));
    assert.deepEqual(orphans, [], `round ${round}: directories of creates that never committed`);
  }
});
