/**
 * A flood of refused connections (unknown module, failed authentication) against the real daemon must not push
 * real transfer history out through the retention caps: refusals are counted and pruned apart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { passwordFile, rsync, RunningServer, startServer, waitFor } from './support/server';

const PASSWORD = crypto.randomBytes(12).toString('hex');
let server: RunningServer;

before(async () => {
  server = await startServer({
    env: {
      RSYNCHUB_RETENTION_MAX_SESSIONS: '3',
      RSYNCHUB_RETENTION_MAX_REFUSED: '5',
      RSYNCHUB_RETENTION_INTERVAL_SECONDS: '1',
      // Bans are not what this test is about (its failed logins all come from 127.0.0.1).
      RSYNCHUB_BAN_THRESHOLD: '0',
    },
  });
});

after(async () => {
  await server?.stop();
});

interface Session {
  id: number;
  status: string;
}

async function sessions(): Promise<Session[]> {
  const res = await server.admin.get('/api/v1/transfers?limit=200');
  assert.equal(res.status, 200, res.text);
  return res.body.items;
}

test('refused connections beyond the cap are pruned among themselves; real sessions stay', async () => {
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'keeper', password: PASSWORD })).status, 201);
  const created = await server.admin.post('/api/v1/modules', { name: 'kept', path: path.join(server.storageRoot, 'kept'), users: [{ name: 'keeper', access: 'rw' }] });
  assert.equal(created.status, 201, created.text);
  const pw = passwordFile(PASSWORD);
  const bad = passwordFile(crypto.randomBytes(12).toString('hex'));
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-ret-src-'));
  for (let i = 0; i < 3; i++) {
    fs.writeFileSync(path.join(src, `f${i}.txt`), `${i}\n`);
    const res = await rsync(['-r', `--password-file=${pw}`, `${src}/`, `rsync://keeper@127.0.0.1:${server.rsyncPort}/kept/`]);
    assert.equal(res.code, 0, res.stderr);
  }
  const real = await waitFor('the three pushes ingested', async () => {
    const list = (await sessions()).filter((s) => s.status === 'success');
    return list.length === 3 ? list : null;
  });

  // The flood: more refusals than both caps together.
  for (let i = 0; i < 12; i++) {
    const res = await rsync(['-r', `${src}/`, `rsync://127.0.0.1:${server.rsyncPort}/no-such-module-${i}/`]);
    assert.notEqual(res.code, 0);
  }
  for (let i = 0; i < 4; i++) {
    const res = await rsync(['-r', `--password-file=${bad}`, `${src}/`, `rsync://keeper@127.0.0.1:${server.rsyncPort}/kept/`]);
    assert.notEqual(res.code, 0);
  }
  // Retention runs every second here: wait until the refusals are down to their cap.
  const after = await waitFor(
    'refusals pruned to their cap',
    async () => {
      const list = await sessions();
      const refusals = list.filter((s) => s.status === 'refused' || s.status === 'auth_failed');
      return refusals.length === 5 && list.length >= 5 ? list : null;
    },
    20_000,
  );
  const kept = after.filter((s) => s.status === 'success').map((s) => s.id).sort();
  assert.deepEqual(kept, real.map((s) => s.id).sort(), 'every real session is still there');
  // The newest refusals are the ones kept (the four failed logins came last).
  assert.equal(after.filter((s) => s.status === 'auth_failed').length, 4);
});
