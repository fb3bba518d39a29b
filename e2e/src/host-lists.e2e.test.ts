/**
 * Review F1 against the real daemon: a module's own hosts list next to the OTHER list set daemon-wide must still
 * admit only "allowed and not denied". rsync admits a client matching neither list when both are in effect, so a
 * module left to inherit the other list was open to every address. Distinct loopback sources via rsync --address.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { passwordFile, rsync, RunningServer, startServer } from './support/server';

const PASSWORD = crypto.randomBytes(12).toString('hex');
let server: RunningServer;
let pw: string;
let src: string;

before(async () => {
  server = await startServer();
  pw = passwordFile(PASSWORD);
  src = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-hosts-src-'));
  fs.writeFileSync(path.join(src, 'f.txt'), 'hello\n');
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'bob', password: PASSWORD })).status, 201);
  const res = await server.admin.post('/api/v1/modules', { name: 'rw', path: path.join(server.storageRoot, 'rw'), users: [{ name: 'bob', access: 'rw' }] });
  assert.equal(res.status, 201, res.text);
});

after(async () => {
  await server?.stop();
});

function push(from: string) {
  return rsync(['-r', `--address=${from}`, `--password-file=${pw}`, `${src}/`, `rsync://bob@127.0.0.1:${server.rsyncPort}/rw/`]);
}

async function configure(global: { hostsAllow: string[]; hostsDeny: string[] }, module: { hostsAllow: string[]; hostsDeny: string[] }) {
  const s = await server.admin.put('/api/v1/daemon/settings', global);
  assert.equal(s.status, 200, s.text);
  const m = await server.admin.patch('/api/v1/modules/rw', module);
  assert.equal(m.status, 200, m.text);
}

async function expectAdmitted(from: string, admitted: boolean, what: string) {
  const res = await push(from);
  if (admitted) assert.equal(res.code, 0, `${what}: ${from} must get in: ${res.stderr}`);
  else {
    assert.equal(res.code, 5, `${what}: ${from} must be refused: ${res.stderr}`);
    assert.match(res.stderr, /access denied/);
  }
}

describe('hosts allow / hosts deny across the daemon-wide and module levels (review F1)', () => {
  test('daemon-wide allow + module deny: only allowed-and-not-denied addresses get in', async () => {
    await configure({ hostsAllow: ['127.0.0.2'], hostsDeny: [] }, { hostsAllow: [], hostsDeny: ['127.0.0.3'] });
    await expectAdmitted('127.0.0.2', true, 'global allow');
    await expectAdmitted('127.0.0.3', false, 'module deny');
    await expectAdmitted('127.0.0.5', false, 'in neither list');
  });

  test('daemon-wide deny + module allow: the module allow list is respected', async () => {
    await configure({ hostsAllow: [], hostsDeny: ['127.0.0.3'] }, { hostsAllow: ['127.0.0.2'], hostsDeny: [] });
    await expectAdmitted('127.0.0.2', true, 'module allow');
    await expectAdmitted('127.0.0.3', false, 'global deny');
    await expectAdmitted('127.0.0.6', false, 'in neither list');
  });

  test('a deny address inside an allow network is refused, the rest of the network admitted', async () => {
    await configure({ hostsAllow: [], hostsDeny: [] }, { hostsAllow: ['127.0.0.0/29'], hostsDeny: ['127.0.0.4'] });
    await expectAdmitted('127.0.0.4', false, 'deny inside allow');
    await expectAdmitted('127.0.0.5', true, 'rest of the allow network');
    await expectAdmitted('127.0.0.9', false, 'outside the allow network');
  });
});
