import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText, parseRemoteSpec, passwordFileModeProblem, validateConfig } from './config';

test('parseRemoteSpec', () => {
  const cases: [string, object][] = [
    ['admin1@107.170.213.95::myhub1', { host: '107.170.213.95', port: 873, module: 'myhub1', user: 'admin1' }],
    ['host::mod/', { host: 'host', port: 873, module: 'mod' }],
    ['rsync://u@h:8873/mod', { host: 'h', port: 8873, module: 'mod', user: 'u' }],
    ['rsync://[::1]/mod/', { host: '::1', port: 873, module: 'mod' }],
  ];
  for (const [spec, want] of cases) assert.deepEqual(parseRemoteSpec(spec), want, spec);
  for (const bad of ['host:/path', 'rsync://h/mod/sub', 'justahost']) assert.throws(() => parseRemoteSpec(bad), ConfigError, bad);
});

test('validateConfig fills defaults', () => {
  const c = validateConfig({ watches: [{ path: '/data/', remotes: ['u@h::m'] }] });
  assert.equal(c.watches[0].path, '/data');
  assert.deepEqual(c.watches[0].rsyncParams, ['-artz'], 'no -u: rollbacks must be pushed');
  assert.equal(c.timeoutSec, 60, 'every run has an I/O timeout by default');
  assert.equal(c.deleteGuard.enabled, true);
  assert.deepEqual(c.watches[0].remotes, [{ host: 'h', port: 873, module: 'm', user: 'u' }]);
  assert.equal(c.batchDelayMs, 0, 'the watcher already coalesces (50 ms quiet); waiting again only adds latency');
  assert.deepEqual(c.retry, { initialDelayMs: 1000, maxDelayMs: 60_000, factor: 2, jitter: 0.2 });
  assert.equal(c.recoverWithFullSync, true);
  assert.equal(c.fullSync.afterBurstEvents, undefined, 'derived from the kernel queue at start');
  assert.equal(validateConfig({ watches: [{ path: '/a', remotes: ['h::m'] }], fullSync: { afterBurstEvents: 0 } }).fullSync.afterBurstEvents, 0);
});

test('validateConfig: every problem is named with its field', () => {
  const cases: [unknown, RegExp][] = [
    [null, /must be an object/],
    [{}, /watches: must be a non-empty list/],
    [{ watches: [{ path: 'rel', remotes: [] }] }, /watches\[0\]\.path: must be an absolute path[\s\S]*watches\[0\]\.remotes: must be a non-empty list/],
    [{ watches: [{ path: '/a', remotes: [{ host: 'h', module: 'm', port: 70000 }] }] }, /watches\[0\]\.remotes\[0\]\.port: must be a number between 1 and 65535/],
    [{ watches: [{ path: '/a', remotes: [{ host: 'h' }] }] }, /watches\[0\]\.remotes\[0\]\.module: required/],
    [{ watches: [{ path: '/a', remotes: [{ host: 'h', module: 'm', passwordFile: '/p' }] }] }, /passwordFile: given without user/],
    [{ watches: [{ path: '/a', remotes: ['h::m'], rsyncParams: '-a --delete' }] }, /"--delete" is managed by the agent/],
    [{ watches: [{ path: '/a', remotes: ['h::m'], excludeRegex: ['(('] }] }, /not a valid regular expression/],
    [{ watches: [{ path: '/a', remotes: ['h::m'] }, { path: '/a/b', remotes: ['h::m'] }] }, /"\/a\/b" is inside "\/a"/],
    [{ watches: [{ path: '/a', remotes: ['h::m'] }], batchDelay: 5 }, /batchDelay: unknown setting/],
    [{ watches: [{ path: '/a', remotes: ['h::m'] }], fullSync: { afterBurstEvents: -1 } }, /fullSync\.afterBurstEvents: must be a number between 0/],
    [{ watches: [{ path: '/a', remotes: ['h::m'] }], fullSync: { every: 5 } }, /fullSync\.every: unknown setting/],
    [{ watches: [{ path: '/a', remotes: ['h::m'] }], heartbeat: { url: 'hub' } }, /heartbeat\.url: must start with http[\s\S]*needs token or tokenFile/],
  ];
  for (const [raw, re] of cases) assert.throws(() => validateConfig(raw), (e: Error) => e instanceof ConfigError && re.test(e.message), JSON.stringify(raw));
});

test('parseConfigText: JSON and YAML', () => {
  assert.deepEqual(parseConfigText('{"a":1}', 'x.json'), { a: 1 });
  assert.deepEqual(parseConfigText('watches:\n  - path: /a\n    remotes: [h::m]\n', 'x.yaml'), { watches: [{ path: '/a', remotes: ['h::m'] }] });
  assert.throws(() => parseConfigText('{oops', 'x.json'), /x\.json: not valid JSON/);
  assert.throws(() => parseConfigText('a: [', 'x.yaml'), /x\.yaml: not valid YAML/);
});

test('passwordFileModeProblem', () => {
  assert.equal(passwordFileModeProblem('/p', 0o100600), null);
  assert.equal(passwordFileModeProblem('/p', 0o100400), null);
  assert.match(passwordFileModeProblem('/p', 0o100644)!, /mode 0644.*chmod 600 \/p/);
  assert.match(passwordFileModeProblem('/p', 0o100640)!, /mode 0640/);
});
