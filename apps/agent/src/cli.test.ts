import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { explainStartError, findTarget, loadConfig, parseCli } from './cli';
import { tmpDir } from './e2e-support';

const MAIN = path.join(__dirname, 'main.js');

test('parseCli: commands and sersync-style short flags', () => {
  assert.equal(parseCli([]).command, 'run');
  assert.equal(parseCli(['status', '--json']).json, true);
  const s = parseCli(['-r', '-d', '-o', '/etc/confxml.xml']);
  assert.deepEqual([s.command, s.fullSync, s.daemon, s.fromSersync], ['run', true, true, '/etc/confxml.xml']);
  assert.equal(parseCli(['import-sersync', 'c.xml']).fromSersync, 'c.xml');
  assert.throws(() => parseCli(['--port', 'abc']), /--port: expected a number/);
  assert.throws(() => parseCli(['--bogus']), /Unknown option/);
});

test('one-line form: --watch /src --to user@host::module --port N --password-file F', () => {
  const a = parseCli(['run', '--watch', '/src/', '--to', 'admin1@hub::myhub1', '--to', 'rsync://other:9000/m2', '--port', '8873',
    '--password-file', '/etc/rsync.pas', '--exclude', '*.tmp', '--delay', '50']);
  const { config } = loadConfig(a, {});
  assert.deepEqual(config.watches[0].remotes, [
    { host: 'hub', port: 8873, module: 'myhub1', user: 'admin1', passwordFile: '/etc/rsync.pas' },
    { host: 'other', port: 9000, module: 'm2' }, // anonymous: no password file
  ]);
  assert.equal(config.watches[0].path, '/src');
  assert.deepEqual(config.watches[0].excludes, ['*.tmp']);
  assert.equal(config.batchDelayMs, 50);
});

test('loadConfig: exactly one source of configuration', () => {
  assert.throws(() => loadConfig(parseCli([]), {}), /no configuration/);
  assert.throws(() => loadConfig(parseCli(['--config', 'a', '--watch', '/b']), {}), /only one of/);
  assert.throws(() => loadConfig(parseCli(['--config', '/nonexistent/agent.yaml']), {}), /cannot read \(ENOENT\)/);
});

/** A temp dir with an empty `src` and a password file `rsync.pas` of mode 0644 (readable by others). */
function sourceWithLoosePasswordFile(): { dir: string; pass: string } {
  const dir = tmpDir('cli');
  fs.mkdirSync(path.join(dir, 'src'));
  const pass = path.join(dir, 'rsync.pas');
  fs.writeFileSync(pass, 'pw\n');
  fs.chmodSync(pass, 0o644);
  return { dir, pass };
}

test('CLI refuses a password file readable by others, saying so (like rsync)', () => {
  const { dir, pass } = sourceWithLoosePasswordFile();
  try {
    const r = spawnSync(process.execPath, [MAIN, '--watch', path.join(dir, 'src'), '--to', 'u@127.0.0.1::m', '--password-file', pass,
      '--state-dir', path.join(dir, 'state')], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /refusing to start[\s\S]*rsync\.pas has mode 0644; it must not be accessible by group or others \(chmod 600/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI check-config also runs the start checks, as warnings: a 0644 password file and a missing watch path are named, the config still prints', () => {
  const { dir, pass } = sourceWithLoosePasswordFile();
  try {
    const f = path.join(dir, 'agent.json');
    const remote = { host: '127.0.0.1', module: 'm', user: 'u', passwordFile: pass };
    fs.writeFileSync(f, JSON.stringify({ watches: [{ path: path.join(dir, 'src'), remotes: [remote] }, { path: path.join(dir, 'gone'), remotes: [remote] }] }));
    const r = spawnSync(process.execPath, [MAIN, 'check-config', '--config', f], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).watches.length, 2);
    assert.match(r.stderr, /warning: on this machine the agent would refuse to start: .*rsync\.pas has mode 0644/);
    assert.match(r.stderr, /warning: on this machine the agent would refuse to start: watch path .*gone does not exist/);
    fs.chmodSync(pass, 0o600);
    fs.mkdirSync(path.join(dir, 'gone'));
    const clean = spawnSync(process.execPath, [MAIN, 'check-config', '--config', f], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(clean.status, 0, clean.stderr);
    assert.doesNotMatch(clean.stderr, /would refuse to start/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: invalid config file gives every problem', () => {
  const dir = tmpDir('cli');
  try {
    const f = path.join(dir, 'agent.json');
    fs.writeFileSync(f, JSON.stringify({ watches: [{ path: 'relative', remotes: [{ host: 'h' }] }] }));
    const r = spawnSync(process.execPath, [MAIN, 'check-config', '--config', f], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /watches\[0\]\.path: must be an absolute path/);
    assert.match(r.stderr, /watches\[0\]\.remotes\[0\]\.module: required/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI import-sersync prints the config and warnings', () => {
  const r = spawnSync(process.execPath, [MAIN, 'import-sersync', path.join(__dirname, '..', 'src', 'fixtures', 'sersync-confxml.xml'), '--format', 'json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).watches[0].path, '/opt/tongbu');
  assert.match(r.stderr, /warning: plugin sections/);
});

test('--params "-artz" (space-separated, as documented) and --exclude with a leading dash', () => {
  const a = parseCli(['--watch', '/src', '--to', 'h::m', '--params', '-artz --delete-after', '--exclude', '-x']);
  assert.equal(a.params, '-artz --delete-after');
  assert.deepEqual(a.excludes, ['-x']);
  assert.equal(parseCli(['--params=-az', '--watch', '/s', '--to', 'h::m']).params, '-az');
});

test('--password-file without any user@ in --to is refused (rsync would never send it)', () => {
  assert.throws(() => loadConfig(parseCli(['--watch', '/src', '--to', 'hub::m', '--password-file', '/etc/p']), {}), /--password-file needs a user in --to/);
});

test('pause/resume need --target; findTarget by id, url, host::module or module', () => {
  assert.throws(() => parseCli(['pause']), /pause: give --target/);
  const a = parseCli(['pause', '--target', 'm', '--reason', 'maintenance']);
  assert.equal(a.command, 'pause');
  assert.equal(a.reason, 'maintenance');
  const t = (id: string, module: string) => ({ id, url: `rsync://h:873/${module}/`, host: 'h', port: 873, module }) as never;
  const state = { targets: [t('h_873_a_1', 'a'), t('h_873_b_1', 'b'), t('h_873_b_2', 'b')] } as never;
  assert.equal((findTarget(state, 'a') as { id: string }).id, 'h_873_a_1');
  assert.equal((findTarget(state, 'h_873_b_2') as { id: string }).id, 'h_873_b_2');
  assert.match(findTarget(state, 'b') as string, /names 2 targets/);
  assert.match(findTarget(state, 'zz') as string, /no target "zz"/);
});

test('explainStartError names fs.inotify.max_user_watches for ENOSPC', () => {
  assert.match(explainStartError('inotify_add_watch on /x failed: No space left on device'), /fs\.inotify\.max_user_watches.*sysctl -w fs\.inotify\.max_user_watches=/);
  assert.equal(explainStartError('other'), 'other');
});

test('one-line form with --tls-fingerprint / --tls-ca-file: tls remotes on port 874 unless --port; refused with --config', () => {
  const fp = 'ab'.repeat(32);
  const { config } = loadConfig(parseCli(['--watch', '/src', '--to', 'u@hub::m', '--tls-fingerprint', `sha256:${fp}`]), {});
  assert.deepEqual(config.watches[0].remotes, [{ host: 'hub', port: 874, module: 'm', user: 'u', tls: true, fingerprint: 'AB:'.repeat(31) + 'AB' }]);
  const ca = loadConfig(parseCli(['--watch', '/src', '--to', 'hub::m', '--port', '8874', '--tls-ca-file', '/etc/ca.pem']), {}).config;
  assert.deepEqual(ca.watches[0].remotes, [{ host: 'hub', port: 8874, module: 'm', tls: true, caFile: '/etc/ca.pem' }]);
  assert.throws(() => loadConfig(parseCli(['--watch', '/src', '--to', 'hub::m', '--tls-fingerprint', 'nope']), {}), /remotes\[0\]\.fingerprint: must be a SHA-256/);
  assert.throws(() => loadConfig(parseCli(['--config', '/x.yaml', '--tls']), {}), /belong to the one-line form/);
});
