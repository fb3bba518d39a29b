import { moduleWithDefaults } from './defaults';
/**
 * Proof with the REAL rsync daemon that what renderRsyncdConf/renderSecretsFile write is read as intended:
 * listing honours `list`, a rw user can push (with a password containing ':'), a ro user and a wrong password are
 * refused. Also exercises verifyConfigWithDaemon.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonSettingsDto, ModuleFields } from '@rsynchub/contracts';
import { renderRsyncdConf, renderSecretsFile } from './render';
import { getFreePort, parseModuleListing, runWithTimeout, stopDaemon, verifyConfigWithDaemon } from './verify';

const ALICE_PW = 'al:ice:s3cret%\\pw'; // ':' , '%' and '\' are all fine in the secrets file
const BOB_PW = 'bob-password-2';

function mod(over: Partial<ModuleFields> & Pick<ModuleFields, 'name' | 'path'>): ModuleFields {
  return moduleWithDefaults(over);
}

describe('rendered config with the real rsync daemon', () => {
  let dir = '';
  let dataRoot = '';
  let port = 0;
  let daemon: ChildProcess | null = null;
  let configText = '';
  let secretsText = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsynchub-daemon-test-'));
    // As root, a daemon without `uid` transfers as "nobody": the module dirs must be reachable/writable by it.
    await chmod(dir, 0o755);
    dataRoot = join(dir, 'data');
    await mkdir(join(dataRoot, 'pub'), { recursive: true });
    await mkdir(join(dataRoot, 'hidden'), { recursive: true });
    await mkdir(join(dir, 'lock'));
    await chmod(dataRoot, 0o755);
    await chmod(join(dataRoot, 'pub'), 0o777);
    await chmod(join(dataRoot, 'hidden'), 0o777);
    for (const m of ['archive', 'anonread', 'guarded', 'walled']) {
      await mkdir(join(dataRoot, m));
      await chmod(join(dataRoot, m), 0o777);
      await writeFile(join(dataRoot, m, 'kept.txt'), `${m}\n`);
    }

    port = await getFreePort();
    const settings: DaemonSettingsDto = {
      port,
      address: '127.0.0.1',
      motd: '',
      maxConnections: 5,
      timeout: 60,
      reverseLookup: false,
      hostsAllow: ['127.0.0.1', '::1'],
      hostsDeny: [],
    };
    const rendered = renderRsyncdConf({
      settings,
      modules: [
        mod({
          name: 'pub',
          path: join(dataRoot, 'pub'),
          comment: 'Public drop box',
          users: [
            { name: 'alice', access: 'rw' },
            { name: 'bob', access: 'ro' },
          ],
          refuseOptions: ['checksum'],
          excludes: ['*.tmp'],
        }),
        mod({ name: 'hidden', path: join(dataRoot, 'hidden'), list: false, users: [{ name: 'alice', access: 'rw' }] }),
        mod({ name: 'off', path: join(dataRoot, 'off'), enabled: false }),
        // Issue 14: read-only means read-only, anonymous read is read-only, `hosts deny = *` next to an allow list.
        mod({ name: 'archive', path: join(dataRoot, 'archive'), readOnly: true, list: false, users: [{ name: 'alice', access: 'ro' }] }),
        mod({ name: 'anonread', path: join(dataRoot, 'anonread'), readOnly: true, list: false, anonymous: 'read' }),
        mod({ name: 'guarded', path: join(dataRoot, 'guarded'), list: false, hostsAllow: ['127.0.0.1'], hostsDeny: ['*'], users: [{ name: 'alice', access: 'rw' }] }),
        mod({ name: 'walled', path: join(dataRoot, 'walled'), list: false, hostsAllow: ['10.99.99.99'], hostsDeny: ['*'], users: [{ name: 'alice', access: 'rw' }] }),
      ],
      runningAsRoot: false,
      roots: [dataRoot],
      paths: {
        secretsFile: join(dir, 'rsyncd.secrets'),
        pidFile: join(dir, 'rsyncd.pid'),
        lockDir: join(dir, 'lock'),
        logFile: join(dir, 'rsyncd.log'),
      },
    });
    configText = rendered.text;
    secretsText = renderSecretsFile([
      { name: 'bob', password: BOB_PW },
      { name: 'alice', password: ALICE_PW },
    ]);
    await writeFile(join(dir, 'rsyncd.conf'), configText, { mode: 0o600 });
    await writeFile(join(dir, 'rsyncd.secrets'), secretsText, { mode: 0o600 });

    daemon = spawn(
      'rsync',
      ['--daemon', '--no-detach', `--config=${join(dir, 'rsyncd.conf')}`, `--port=${port}`, '--address=127.0.0.1'],
      { stdio: 'ignore', detached: true },
    );
    const deadline = Date.now() + 5000;
    for (;;) {
      const probe = await runWithTimeout('rsync', ['--no-motd', '--list-only', `rsync://127.0.0.1:${port}/`], 2000);
      if (probe.code === 0) break;
      if (daemon.exitCode !== null || Date.now() > deadline) {
        throw new Error(`daemon did not start: ${await readFile(join(dir, 'rsyncd.log'), 'utf8').catch(() => '')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    if (daemon) await stopDaemon(daemon);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the disabled module is not rendered at all', () => {
    assert.doesNotMatch(configText, /\[off\]/);
    assert.doesNotMatch(configText, /\/off\b/);
  });

  test('listing shows only list = yes modules', async () => {
    // Not --no-motd: it would suppress the module list too. The settings have no MOTD.
    const r = await runWithTimeout('rsync', ['--list-only', `rsync://127.0.0.1:${port}/`], 10000);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseModuleListing(r.stdout), ['pub']);
    assert.match(r.stdout, /Public drop box/);
  });

  test('a rw user can push with --password-file (password contains ":")', async () => {
    const src = join(dir, 'upload.txt');
    await writeFile(src, 'hello from alice\n');
    const pwFile = join(dir, 'alice.pw');
    await writeFile(pwFile, ALICE_PW + '\n', { mode: 0o600 });
    const r = await runWithTimeout(
      'rsync',
      [`--password-file=${pwFile}`, src, `rsync://alice@127.0.0.1:${port}/pub/`],
      15000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(dataRoot, 'pub', 'upload.txt'), 'utf8'), 'hello from alice\n');
  });

  test('an unlisted module is still usable by its user (RSYNC_PASSWORD)', async () => {
    const src = join(dir, 'secret.txt');
    await writeFile(src, 'unlisted\n');
    const r = await runWithTimeout('rsync', [src, `rsync://alice@127.0.0.1:${port}/hidden/`], 15000, {
      ...process.env,
      RSYNC_PASSWORD: ALICE_PW,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(dataRoot, 'hidden', 'secret.txt'), 'utf8'), 'unlisted\n');
  });

  test('a ro user is refused on push', async () => {
    const src = join(dir, 'bob.txt');
    await writeFile(src, 'bob was here\n');
    const r = await runWithTimeout('rsync', [src, `rsync://bob@127.0.0.1:${port}/pub/`], 15000, {
      ...process.env,
      RSYNC_PASSWORD: BOB_PW,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /read only/i);
    await assert.rejects(stat(join(dataRoot, 'pub', 'bob.txt')));
  });

  test('a ro user can still pull', async () => {
    const dest = join(dir, 'pulled');
    await mkdir(dest);
    const r = await runWithTimeout('rsync', [`rsync://bob@127.0.0.1:${port}/pub/upload.txt`, dest + '/'], 15000, {
      ...process.env,
      RSYNC_PASSWORD: BOB_PW,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(dest, 'upload.txt'), 'utf8'), 'hello from alice\n');
  });

  test('a wrong password is refused', async () => {
    const src = join(dir, 'evil.txt');
    await writeFile(src, 'x\n');
    const r = await runWithTimeout('rsync', [src, `rsync://alice@127.0.0.1:${port}/pub/`], 15000, {
      ...process.env,
      RSYNC_PASSWORD: 'al:ice', // a prefix of the real password up to a colon must not work
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /auth failed/i);
    await assert.rejects(stat(join(dataRoot, 'pub', 'evil.txt')));
  });

  test('an anonymous client is refused on a module with auth users', async () => {
    const r = await runWithTimeout('rsync', ['--list-only', `rsync://127.0.0.1:${port}/pub/`], 15000, {
      ...process.env,
      RSYNC_PASSWORD: '',
    });
    assert.notEqual(r.code, 0);
  });

  const pushAs = async (user: string | null, module: string, name: string) => {
    const src = join(dir, name);
    await writeFile(src, `${name}\n`);
    return runWithTimeout('rsync', [src, `rsync://${user ? `${user}@` : ''}127.0.0.1:${port}/${module}/`], 15000, {
      ...process.env,
      RSYNC_PASSWORD: user === 'alice' ? ALICE_PW : '',
    });
  };

  test('read only means read only: alice (ro) cannot write into a read-only module, but can read it', async () => {
    const r = await pushAs('alice', 'archive', 'alice-into-archive.txt');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /read only/i);
    await assert.rejects(stat(join(dataRoot, 'archive', 'alice-into-archive.txt')));
    const listing = await runWithTimeout('rsync', ['--list-only', `rsync://alice@127.0.0.1:${port}/archive/`], 15000, { ...process.env, RSYNC_PASSWORD: ALICE_PW });
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /kept\.txt/);
  });

  test('the combination rsync would let write (read only = yes + alice:rw) is never rendered', () => {
    assert.throws(
      () => renderRsyncdConf({
        settings: { port, address: '127.0.0.1', motd: '', maxConnections: 0, timeout: 0, reverseLookup: false, hostsAllow: [], hostsDeny: [] },
        modules: [mod({ name: 'lie', path: join(dataRoot, 'archive'), readOnly: true, users: [{ name: 'alice', access: 'rw' }] })],
        runningAsRoot: false,
        paths: { secretsFile: join(dir, 's'), pidFile: join(dir, 'p'), lockDir: join(dir, 'lock'), logFile: join(dir, 'l') },
      }),
      /users\[0\]\.access is 'rw' but readOnly is true/,
    );
  });

  test('anonymous read: anyone can read without a password, nobody can push', async () => {
    const r = await pushAs(null, 'anonread', 'anon-push.txt');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /read only/i);
    await assert.rejects(stat(join(dataRoot, 'anonread', 'anon-push.txt')));
    const listing = await runWithTimeout('rsync', ['--list-only', `rsync://127.0.0.1:${port}/anonread/`], 15000);
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /kept\.txt/);
  });

  test('hosts deny = * next to an allow list: the allowed address gets in, any other does not', async () => {
    const ok = await pushAs('alice', 'guarded', 'from-loopback.txt');
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await pushAs('alice', 'walled', 'from-loopback.txt');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /access denied|Unknown module 'walled'/i); // rsync hides a module from a denied host
    await assert.rejects(stat(join(dataRoot, 'walled', 'from-loopback.txt')));
  });

  test('verifyConfigWithDaemon accepts the rendered config and lists its modules', async () => {
    const r = await verifyConfigWithDaemon(configText, secretsText);
    assert.deepEqual(r, { ok: true, modules: ['pub'] });
  });

  test('verifyConfigWithDaemon reports a config the daemon complains about', async () => {
    const r = await verifyConfigWithDaemon(configText + '\n[extra]\n    path = /tmp\n    read only = maybe\n', '');
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /Badly formed boolean/);
    const unknown = await verifyConfigWithDaemon(configText + '\n[extra]\n    path = /tmp\n    read_only = no\n', '');
    assert.equal(unknown.ok, false);
    if (!unknown.ok) assert.match(unknown.error, /Unknown Parameter/);
  });

  test('verifyConfigWithDaemon reports a config the daemon cannot load', async () => {
    const r = await verifyConfigWithDaemon('[broken\npath = /tmp\n', '');
    assert.equal(r.ok, false);
  });
});
