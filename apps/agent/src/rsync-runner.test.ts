import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRsyncArgs, classifyExit, compressionEnabled, parseProgress2, remoteUrl, renderProgressBar, resolveRsyncBin, type RsyncTarget, stallKillMs } from './rsync-runner';
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
  // Flat runs go without rsync's --timeout (a 40 ms Nagle stall on stock daemons); the I/O watchdog times them out.
  assert.deepEqual(buildRsyncArgs(target, 'flat'),
    [...common.filter((a) => a !== '--timeout=100'), '--files-from=-', '--from0', '--relative', '--delete-missing-args', '--force', '--no-r', '--ignore-times', '.', 'rsync://u@h:874/m/']);
  assert.deepEqual(buildRsyncArgs(target, 'recursive'),
    [...common, '--files-from=-', '--from0', '--relative', '--delete-missing-args', '--force', '-r', '--delete', '--modify-window=-1', '.', 'rsync://u@h:874/m/']);
  assert.deepEqual(buildRsyncArgs(target, 'full', ['*.php']),
    [...common, '--exclude=*.php', '-r', '--delete', '--force', '--info=progress2', '--no-inc-recursive', './', 'rsync://u@h:874/m/']);
});

test('stallKillMs: a flat run is killed after timeoutSec (+ connect) without I/O; other runs have rsync\'s --timeout first', () => {
  const cases: [Partial<RsyncTarget>, 'flat' | 'recursive' | 'full' | undefined, number][] = [
    [{}, 'flat', 110_000],
    [{}, 'recursive', 140_000],
    [{}, 'full', 140_000],
    [{ timeoutSec: 0 }, 'flat', 340_000],
    [{ stallKillSec: 5 }, 'flat', 5_000],
    [{ stallKillSec: 5 }, 'full', 5_000],
  ];
  for (const [over, mode, ms] of cases) assert.equal(stallKillMs({ ...target, ...over }, mode), ms, `${JSON.stringify(over)} ${mode}`);
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

test('resolveRsyncBin: the first executable file in PATH, absolute entries only; the bare name when none', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-bin-'));
  try {
    for (const d of ['a', 'b', 'c']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'a/rsync'), 'not executable', { mode: 0o644 });
    fs.mkdirSync(path.join(dir, 'b/rsync')); // a directory named rsync
    fs.writeFileSync(path.join(dir, 'c/rsync'), '#!/bin/sh\n', { mode: 0o755 });
    const p = ['relative/dir', path.join(dir, 'a'), path.join(dir, 'b'), path.join(dir, 'c')].join(path.delimiter);
    assert.equal(resolveRsyncBin('rsync', p), path.join(dir, 'c/rsync'));
    assert.equal(resolveRsyncBin('rsync', path.join(dir, 'a')), 'rsync');
    assert.equal(resolveRsyncBin('/opt/rsync/bin/rsync', p), '/opt/rsync/bin/rsync');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('compressionEnabled: -z in a short-option group, --compress, a level above 0; the last word wins', () => {
  const cases: [string[], boolean][] = [
    [['-artz'], true],
    [['-a', '-z'], true],
    [['-zart'], true],
    [['-art'], false],
    [['-a', '--compress'], true],
    [['-a', '--compress-level=0'], false],
    [['-a', '--compress-level=6'], true],
    [['-az', '--no-compress'], false],
    [['-a', '--exclude=*.zip'], false],
    [['-a', '--skip-compress=gz/zip'], false],
    [['-a', '--new-compress'], true],
  ];
  for (const [params, on] of cases) assert.equal(compressionEnabled(params), on, params.join(' '));
});
