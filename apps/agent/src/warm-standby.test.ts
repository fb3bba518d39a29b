/**
 * The warm standby's pure parts: when it is on (config, env, the user's own rsync transport, the gate built), what makes
 * a standby stale (its key), and the switch in the config and on the command line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, parseCli } from './cli';
import { ConfigError, validateConfig } from './config';
import { chooseWarmStandby, type StandbySpec, standbyKey } from './warm-standby';

const gate = process.execPath; // any executable file

test('chooseWarmStandby: on by default; off by config, by env, with the user\'s own rsync transport, without the gate', () => {
  const cases: [boolean, NodeJS.ProcessEnv, string, boolean, RegExp][] = [
    [true, {}, gate, true, /held before it connects/],
    [false, {}, gate, false, /warmStandby: false/],
    [true, { RSYNCHUB_AGENT_WARM_STANDBY: '0' }, gate, false, /RSYNCHUB_AGENT_WARM_STANDBY=0/],
    [true, { RSYNCHUB_AGENT_WARM_STANDBY: 'off' }, gate, false, /=off/],
    [true, { RSYNCHUB_AGENT_WARM_STANDBY: '1' }, gate, true, /held/],
    [true, { RSYNC_CONNECT_PROG: 'ssh proxy nc %H 873' }, gate, false, /RSYNC_CONNECT_PROG is set/],
    [true, { RSYNC_PROXY: 'proxy:3128' }, gate, false, /RSYNC_PROXY is set/],
    [true, { RSYNC_SHELL: '/bin/sh' }, gate, false, /RSYNC_SHELL is set/],
    [true, {}, '/nonexistent/rsynchub-gate', false, /not built/],
  ];
  for (const [configOn, env, g, on, why] of cases) {
    const r = chooseWarmStandby(configOn, env, g);
    assert.equal(r.on, on, JSON.stringify([configOn, env, g]));
    assert.match(r.why, why);
  }
});

test('standbyKey: what rsync took in at its start makes a standby stale when it changes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-agent-key-'));
  try {
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    const pw = path.join(dir, 'pw');
    fs.writeFileSync(pw, 'secret-one\n', { mode: 0o600 });
    const ex = path.join(dir, 'excludes');
    fs.writeFileSync(ex, '*.tmp\n');
    const spec: StandbySpec = {
      exe: '/usr/bin/rsync', args: ['-a', `--exclude-from=${ex}`, '--files-from=-', '.', 'rsync://h/m/'], cwd: root, env: { PATH: '/bin' },
      host: 'h', port: 873, connectTimeoutMs: 10_000, passwordFile: pw,
    };
    const k = standbyKey(spec);
    assert.equal(standbyKey({ ...spec }), k, 'the same spec, the same key');
    fs.writeFileSync(path.join(root, 'new-file'), 'x'); // the root's mtime changes with every edit: not part of it
    assert.equal(standbyKey(spec), k, 'an edit in the root does not make it stale');
    const changed: [string, () => StandbySpec][] = [
      ['other arguments', () => ({ ...spec, args: [...spec.args.slice(0, -1), 'rsync://h/other/'] })],
      ['another environment', () => ({ ...spec, env: { PATH: '/usr/bin' } })],
      ['another port', () => ({ ...spec, port: 874 })],
      ['another connect limit', () => ({ ...spec, connectTimeoutMs: 1000 })],
      ['another rsync', () => ({ ...spec, exe: '/usr/local/bin/rsync' })],
      ['the own-connector (TLS) form', () => ({ ...spec, ownConnector: true })],
    ];
    for (const [what, make] of changed) assert.notEqual(standbyKey(make()), k, what);
    // Files it read: the password file rewritten, the exclude file edited, the root replaced by a new directory.
    fs.writeFileSync(`${pw}.new`, 'secret-two\n', { mode: 0o600 });
    fs.renameSync(`${pw}.new`, pw);
    const k2 = standbyKey(spec);
    assert.notEqual(k2, k, 'password file replaced');
    fs.appendFileSync(ex, '*.bak\n');
    const k3 = standbyKey(spec);
    assert.notEqual(k3, k2, 'exclude-from file edited');
    fs.renameSync(root, `${root}.old`);
    fs.mkdirSync(root);
    assert.notEqual(standbyKey(spec), k3, 'the root replaced by another directory of the same name');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('warmStandby in the config (default true, boolean only) and --no-warm-standby on the command line', () => {
  const watches = [{ path: '/srv', remotes: ['rsync://h/m'] }];
  assert.equal(validateConfig({ watches }).warmStandby, true);
  assert.equal(validateConfig({ watches, warmStandby: false }).warmStandby, false);
  assert.throws(() => validateConfig({ watches, warmStandby: 'no' }), (e: unknown) => e instanceof ConfigError && e.problems.includes('warmStandby: must be true or false'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-agent-cli-'));
  try {
    assert.equal(parseCli(['run', '--watch', dir, '--to', 'h::m', '--no-warm-standby']).noWarmStandby, true);
    assert.equal(loadConfig(parseCli(['run', '--watch', dir, '--to', 'h::m', '--no-warm-standby'])).config.warmStandby, false);
    assert.equal(loadConfig(parseCli(['run', '--watch', dir, '--to', 'h::m'])).config.warmStandby, true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
