import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRsyncArgs, classifyExit, parseProgress2, remoteUrl, renderProgressBar, type RsyncTarget } from './rsync-runner';
import { backoffDelay } from './target-queue';

const target: RsyncTarget = {
  root: '/src', remote: { host: 'h', port: 874, module: 'm', user: 'u', passwordFile: '/etc/p' },
  rsyncParams: ['-artuz'], excludes: ['*.tmp'], timeoutSec: 100, connectTimeoutSec: 10,
};

test('remoteUrl', () => {
  assert.equal(remoteUrl(target.remote), 'rsync://u@h:874/m/');
  assert.equal(remoteUrl({ host: '::1', port: 873, module: 'x' }), 'rsync://[::1]:873/x/');
});

test('buildRsyncArgs per mode', () => {
  const common = ['-artuz', '--sockopts=TCP_NODELAY', '--timeout=100', '--contimeout=10', '--password-file=/etc/p', '--exclude=*.tmp'];
  assert.deepEqual(buildRsyncArgs(target, 'flat'),
    [...common, '--files-from=-', '--from0', '--relative', '--delete-missing-args', '--force', '--no-r', '--ignore-times', '.', 'rsync://u@h:874/m/']);
  assert.deepEqual(buildRsyncArgs(target, 'recursive'),
    [...common, '--files-from=-', '--from0', '--relative', '--delete-missing-args', '--force', '-r', '--delete', '--modify-window=-1', '.', 'rsync://u@h:874/m/']);
  assert.deepEqual(buildRsyncArgs(target, 'full', ['*.php']),
    [...common, '--exclude=*.php', '-r', '--delete', '--force', '--info=progress2', '--no-inc-recursive', './', 'rsync://u@h:874/m/']);
});

test('buildRsyncArgs: socket options given in rsyncParams replace TCP_NODELAY', () => {
  const args = buildRsyncArgs({ ...target, rsyncParams: ['-a', '--sockopts=SO_SNDBUF=65536'] }, 'flat');
  assert.deepEqual(args.filter((a) => a.startsWith('--sockopts')), ['--sockopts=SO_SNDBUF=65536']);
});

test('classifyExit', () => {
  const cases: [number | null, string, boolean, string][] = [
    [0, '', true, 'ok'],
    [24, 'file has vanished', true, 'vanished'],
    [5, '@ERROR: auth failed on module m', false, 'auth'],
    [5, '@ERROR: Unknown module \'x\'', false, 'module'],
    [10, 'failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)', false, 'connection'],
    [30, '', false, 'timeout'],
    [23, 'some files/attrs were not transferred', false, 'partial'],
    [1, 'syntax', false, 'usage'],
  ];
  for (const [code, stderr, ok, kind] of cases) {
    const out = classifyExit({ code, signal: null, stderr });
    assert.equal(out.ok, ok, `${code}`);
    assert.equal(out.kind, kind, `${code} ${stderr}`);
  }
  assert.equal(classifyExit({ code: 1, signal: null, stderr: '' }).retryable, false);
  assert.equal(classifyExit({ code: 5, signal: null, stderr: '@ERROR: auth failed' }).retryable, true);
});

test('parseProgress2', () => {
  assert.deepEqual(parseProgress2('      1,234,567  45%   10.50MB/s    0:00:01 (xfr#12, to-chk=100/200)'),
    { bytes: 1234567, percent: 45, rate: '10.50MB/s', eta: '0:00:01', toCheck: 100, total: 200 });
  assert.deepEqual(parseProgress2('              0   0%    0.00kB/s    0:00:00'), { bytes: 0, percent: 0, rate: '0.00kB/s', eta: '0:00:00' });
  assert.equal(parseProgress2('sending incremental file list'), null);
  assert.match(renderProgressBar({ bytes: 1, percent: 50, rate: '1MB/s', eta: '0:00:01', toCheck: 50, total: 100 }, 10), /^\[#####\.\.\.\.\.\]  50% 1MB\/s 50\/100 files/);
});

test('backoffDelay grows, caps, and jitters within bounds', () => {
  const policy = { initialDelayMs: 1000, maxDelayMs: 8000, factor: 2, jitter: 0.2 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n, () => 0.5)), [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.equal(backoffDelay(policy, 1, () => 0), 800);
  assert.equal(backoffDelay(policy, 1, () => 1), 1200);
});
