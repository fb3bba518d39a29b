/**
 * rsync password guessing against the real daemon, from distinct loopback addresses (rsync --address): after N
 * failures an address is refused even with the right password, others are not; lifting, restarts and expiry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LiveClient, passwordFile, rsync, RunningServer, startServer, waitFor } from './support/server';

const THRESHOLD = 3;
const env = { RSYNCHUB_BAN_THRESHOLD: String(THRESHOLD), RSYNCHUB_BAN_WINDOW_SECONDS: '60', RSYNCHUB_BAN_DURATION_SECONDS: '600' };
/**
 * Short bans for the expiry test: long enough to outlast a restart on a busy machine. 25 s was not: at load ~18 a
 * stop + start took ~28 s, and the ban had rightly expired before "still listed after the restart" was checked.
 */
const shortEnv = { ...env, RSYNCHUB_BAN_DURATION_SECONDS: '60' };
const PASSWORD = crypto.randomBytes(12).toString('hex');
let server: RunningServer;
let goodPw: string;
let badPw: string;
let src: string;

before(async () => {
  server = await startServer({ env });
  goodPw = passwordFile(PASSWORD);
  badPw = passwordFile(crypto.randomBytes(12).toString('hex'));
  src = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-ban-src-'));
  fs.writeFileSync(path.join(src, 'f.txt'), 'hello\n');
  assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'guard', password: PASSWORD })).status, 201);
  for (const [name, hostsAllow] of [
    ['open', []],
    ['loopnet', ['127.0.0.0/8']],
    ['only6', ['127.0.0.6']],
  ] as const) {
    const res = await server.admin.post('/api/v1/modules', { name, path: path.join(server.storageRoot, name), hostsAllow, users: [{ name: 'guard', access: 'rw' }] });
    assert.equal(res.status, 201, res.text);
  }
});

after(async () => {
  await server?.stop();
});

function push(from: string, module: string, pw: string) {
  return rsync(['-r', `--address=${from}`, `--password-file=${pw}`, `${src}/`, `rsync://guard@127.0.0.1:${server.rsyncPort}/${module}/`]);
}

async function banned(address: string): Promise<boolean> {
  const res = await server.admin.get('/api/v1/bans');
  assert.equal(res.status, 200, res.text);
  return res.body.items.some((b: { address: string }) => b.address === address);
}

async function guess(from: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const res = await push(from, 'open', badPw);
    assert.notEqual(res.code, 0, 'a wrong password must fail');
  }
}

describe('automatic bans of rsync password guessers', () => {
  test('after N bad passwords an address is refused even with the right one; others keep working; lifting restores it', async () => {
    const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
    try {
      assert.equal((await push('127.0.0.5', 'open', goodPw)).code, 0, 'works before');
      const bannedEvent = live.next((m) => m.type === 'ban.changed' && m.data.address === '127.0.0.5' && m.data.change === 'banned', 20_000);
      await guess('127.0.0.5', THRESHOLD);
      await bannedEvent;
      assert.ok(await banned('127.0.0.5'));

      for (const module of ['open', 'loopnet']) {
        const refused = await push('127.0.0.5', module, goodPw);
        assert.equal(refused.code, 5, `${module}: ${refused.stderr}`);
        assert.match(refused.stderr, /access denied/);
      }
      // Everyone else is unaffected, and a module that admitted only .6 still admits only .6.
      assert.equal((await push('127.0.0.6', 'open', goodPw)).code, 0);
      assert.equal((await push('127.0.0.6', 'loopnet', goodPw)).code, 0);
      assert.equal((await push('127.0.0.6', 'only6', goodPw)).code, 0);
      assert.equal((await push('127.0.0.8', 'only6', goodPw)).code, 5, 'the ban must not open an allow-only module');
      const conf = (await server.admin.get('/api/v1/daemon/config')).body.config as string;
      assert.match(conf, /\[only6\]\n(?:.*\n)*?\s+hosts allow = 127\.0\.0\.6\n\s+hosts deny = \*\n/);

      const audit = (await server.admin.get('/api/v1/audit?action=ban.create&target=127.0.0.5')).body.items;
      assert.equal(audit.length, 1);
      assert.equal(audit[0].actorType, 'system');

      const liftedEvent = live.next((m) => m.type === 'ban.changed' && m.data.address === '127.0.0.5' && m.data.change === 'lifted');
      const lift = await server.admin.delete('/api/v1/bans/127.0.0.5');
      assert.equal(lift.status, 200, lift.text);
      await liftedEvent;
      assert.equal((await push('127.0.0.5', 'open', goodPw)).code, 0, 'access restored');
      assert.equal((await server.admin.get('/api/v1/audit?action=ban.lift&target=127.0.0.5')).body.items.length, 1);
    } finally {
      live.close();
    }
  });

  test('lifting: a non-address is a 400 and an address that is not banned a 404', async () => {
    assert.equal((await server.admin.delete('/api/v1/bans/not-an-ip')).status, 400);
    assert.equal((await server.admin.delete(`/api/v1/bans/${encodeURIComponent('1.2.3.4\n[x]')}`)).status, 400);
    assert.equal((await server.admin.delete('/api/v1/bans/10.9.8.7')).status, 404);
  });

  test("the server's own Test connection never counts toward a ban of its address; a real client there still does", async () => {
    const failuresFrom = async (ip: string) =>
      ((await server.admin.get('/api/v1/transfers?status=auth_failed&limit=200')).body.items as { clientIp: string }[]).filter((s) => s.clientIp === ip).length;
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: 'outsider', password: crypto.randomBytes(12).toString('hex') })).status, 201);
    const before = await failuresFrom('127.0.0.1');
    // A user without a grant on the module: the daemon refuses the login and logs an auth failure from 127.0.0.1.
    for (let i = 0; i < THRESHOLD + 2; i++) {
      const res = await server.admin.post('/api/v1/modules/open/test-connection', { user: 'outsider' });
      assert.equal(res.body.problem, 'auth_failed', res.text);
    }
    await waitFor('the probes\' auth failures ingested', async () => (await failuresFrom('127.0.0.1')) >= before + THRESHOLD + 2);
    // Real guessing from the same address is still counted: the ban comes from these, not from the probes.
    const realStart = new Date().toISOString();
    await guess('127.0.0.1', THRESHOLD);
    await waitFor('127.0.0.1 banned by the real guesses', () => banned('127.0.0.1'));
    const ban = (await server.admin.get('/api/v1/bans')).body.items.find((b: { address: string }) => b.address === '127.0.0.1');
    assert.ok(ban.bannedAt >= realStart, `banned at ${ban.bannedAt}, before the real guesses began (${realStart}): the probes counted`);
    assert.equal((await server.admin.delete('/api/v1/bans/127.0.0.1')).status, 200);
  });

  test('guessing from many addresses at once bans every one of them; the rest of the world keeps working', async () => {
    const addresses = Array.from({ length: 20 }, (_, i) => `127.0.1.${i + 1}`);
    await Promise.all(addresses.map((a) => guess(a, THRESHOLD)));
    await waitFor(
      'every guesser banned',
      async () => {
        const listed = new Set(((await server.admin.get('/api/v1/bans')).body.items as { address: string }[]).map((b) => b.address));
        return addresses.every((a) => listed.has(a));
      },
      30_000,
    );
    await waitFor('the last ban in the files', async () => (await push(addresses[19]!, 'open', goodPw)).code === 5);
    assert.equal((await push('127.0.0.6', 'open', goodPw)).code, 0);
    for (const a of addresses) assert.equal((await server.admin.delete(`/api/v1/bans/${a}`)).status, 200, a);
  });

  test('a ban survives a restart and ends by itself when it expires', async () => {
    await server.stop();
    server = await startServer({ env: shortEnv, dataDir: server.dataDir, httpPort: server.httpPort, rsyncPort: server.rsyncPort });
    const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
    // The live event goes out once the ban committed (a listing may show it a moment earlier).
    const bannedEvent = live.next((m) => m.type === 'ban.changed' && m.data.address === '127.0.0.7' && m.data.change === 'banned', 20_000);
    await guess('127.0.0.7', THRESHOLD);
    await bannedEvent.finally(() => live.close());
    const { dataDir, httpPort, rsyncPort } = server;
    await server.stop();
    server = await startServer({ env: shortEnv, dataDir, httpPort, rsyncPort });
    assert.ok(await banned('127.0.0.7'), 'still listed after the restart');
    assert.equal((await push('127.0.0.7', 'open', goodPw)).code, 5, 'still refused after the restart');
    const ban = (await server.admin.get('/api/v1/bans')).body.items.find((b: { address: string }) => b.address === '127.0.0.7');
    const left = Date.parse(ban.expiresAt) - Date.now();
    const watcher = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
    await watcher
      .next((m) => m.type === 'ban.changed' && m.data.address === '127.0.0.7' && m.data.change === 'expired', left + 30_000)
      .finally(() => watcher.close());
    assert.equal(await banned('127.0.0.7'), false);
    assert.equal((await push('127.0.0.7', 'open', goodPw)).code, 0, 'access back after expiry');
    assert.equal((await server.admin.get('/api/v1/audit?action=ban.expire&target=127.0.0.7')).body.items.length, 1);
  });

  test('an address on the never-ban list is never banned', async () => {
    const { dataDir, httpPort, rsyncPort } = server;
    await server.stop();
    server = await startServer({ env: { ...env, RSYNCHUB_BAN_NEVER: '127.0.0.9, 10.0.0.0/8' }, dataDir, httpPort, rsyncPort });
    await guess('127.0.0.9', THRESHOLD + 1);
    // The failures were ingested (seen as auth failures) and still no ban.
    await waitFor('the failures ingested', async () => {
      const res = await server.admin.get('/api/v1/transfers?status=auth_failed&limit=200');
      return res.body.items.filter((s: { clientIp: string }) => s.clientIp === '127.0.0.9').length >= THRESHOLD + 1;
    });
    assert.equal(await banned('127.0.0.9'), false);
    assert.equal((await push('127.0.0.9', 'open', goodPw)).code, 0);
  });
});
