import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StorageUsageEntry } from '@rsynchub/contracts';
import { authBurstRule } from './auth-burst.rule';
import { daemonRule } from './daemon.rule';
import { classifyTransfer } from './exit-codes';
import { checkRuleSettings, effectiveSettings } from './settings';
import { reconcile, OpenAlert } from './reconcile';
import { storageLowRule } from './storage-low.rule';
import { transferFailedRule } from './transfer-failed.rule';
import type { AlertCondition, AlertInputs, DaemonInput, RecentSession } from './types';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString();

function inputs(over: Partial<AlertInputs>): AlertInputs {
  return { now: NOW, daemon: null, sessions: [], modules: ['backup', 'www'], storage: [], ...over };
}

let nextId = 1;
function session(over: Partial<RecentSession>): RecentSession {
  return { id: nextId++, module: 'backup', user: 'alice', clientIp: '10.0.0.5', direction: 'push', status: 'success', exitCode: 0, error: null, startedAt: iso(60_000), endedAt: iso(50_000), ...over };
}

describe('classifyTransfer: rsync exit codes to severities', () => {
  const cases: [string, Parameters<typeof classifyTransfer>[0], string | null][] = [
    ['clean success', { status: 'success', exitCode: 0, error: null }, null],
    ['success with no code (totals line only)', { status: 'success', exitCode: null, error: null }, null],
    ['"success" carrying exit 24 is not a success', { status: 'success', exitCode: 24, error: null }, 'warning'],
    ['23 partial transfer', { status: 'error', exitCode: 23, error: 'some files/attrs were not transferred' }, 'warning'],
    ['24 vanished', { status: 'error', exitCode: 24, error: null }, 'warning'],
    ['25 max-delete', { status: 'error', exitCode: 25, error: null }, 'warning'],
    ['10 socket I/O', { status: 'error', exitCode: 10, error: null }, 'error'],
    ['11 file I/O', { status: 'error', exitCode: 11, error: null }, 'error'],
    ['12 protocol stream', { status: 'error', exitCode: 12, error: null }, 'error'],
    ['30 timeout', { status: 'error', exitCode: 30, error: null }, 'error'],
    ['35 daemon timeout', { status: 'error', exitCode: 35, error: null }, 'error'],
    ['5 protocol start', { status: 'error', exitCode: 5, error: null }, 'error'],
    ['unknown code', { status: 'error', exitCode: 99, error: null }, 'error'],
    ['auth failure', { status: 'auth_failed', exitCode: null, error: 'password mismatch' }, 'error'],
    ['refused by host rules', { status: 'refused', exitCode: null, error: 'access denied by hosts allow/deny' }, 'error'],
    ['refused, server full', { status: 'refused', exitCode: null, error: 'max connections (2) reached' }, 'warning'],
    ['connection dropped without summary', { status: 'error', exitCode: null, error: 'connection ended without a summary' }, 'warning'],
    ['still running', { status: 'active', exitCode: null, error: null }, null],
  ];
  for (const [name, s, expected] of cases) {
    test(name, () => assert.equal(classifyTransfer(s)?.severity ?? null, expected));
  }
  test('error text from the log is clipped and control characters replaced', () => {
    const m = classifyTransfer({ status: 'error', exitCode: null, error: `send_files failed to open "${'x'.repeat(500)}\r\nBcc: evil"` })!.meaning;
    assert.ok(m.length < 260, `${m.length}`);
    assert.doesNotMatch(m, /[\r\n]/);
  });
  test('the meaning names the code and rsync’s words', () => {
    assert.equal(classifyTransfer({ status: 'error', exitCode: 24, error: null })!.meaning, 'partial transfer due to vanished source files (exit 24)');
    assert.match(classifyTransfer({ status: 'auth_failed', exitCode: null, error: 'password mismatch' })!.meaning, /authentication failed: password mismatch/);
  });
});

describe('transfer-failed rule', () => {
  const settings = effectiveSettings(transferFailedRule, undefined);
  const cases: { name: string; sessions: RecentSession[]; modules?: string[]; settings?: Record<string, unknown>; expect: { key: string; severity: string; occurrences: number }[] }[] = [
    { name: 'only clean sessions: nothing', sessions: [session({}), session({ module: 'www' })], expect: [] },
    {
      name: 'one failure fires, keyed by module (lower case)',
      sessions: [session({ module: 'Backup', status: 'error', exitCode: 11 })],
      modules: ['Backup'],
      expect: [{ key: 'transfer-failed:backup', severity: 'error', occurrences: 1 }],
    },
    {
      name: 'a clean session after the failure clears it',
      sessions: [session({ status: 'error', exitCode: 12 }), session({})],
      expect: [],
    },
    {
      name: 'failures after the last clean one are one episode; severity is the worst',
      sessions: [session({ status: 'error', exitCode: 12 }), session({}), session({ status: 'error', exitCode: 24 }), session({ status: 'auth_failed', exitCode: null, error: 'password mismatch' })],
      expect: [{ key: 'transfer-failed:backup', severity: 'error', occurrences: 2 }],
    },
    {
      name: 'warnings can be turned off',
      sessions: [session({ status: 'error', exitCode: 23 })],
      settings: { includeWarnings: false },
      expect: [],
    },
    {
      name: 'a failure older than clearAfterMinutes no longer holds',
      sessions: [session({ status: 'error', exitCode: 11, startedAt: iso(2 * 3600_000), endedAt: iso(2 * 3600_000) })],
      expect: [],
    },
    {
      name: 'unknown modules (client-chosen names) never raise alerts',
      sessions: [session({ module: 'no-such-module', status: 'refused', exitCode: null, error: 'unknown module' }), session({ module: null, status: 'error', exitCode: 5 })],
      expect: [],
    },
    {
      name: 'modules are separate alerts',
      sessions: [session({ status: 'error', exitCode: 30 }), session({ module: 'www', status: 'success', exitCode: 24 })],
      expect: [
        { key: 'transfer-failed:backup', severity: 'error', occurrences: 1 },
        { key: 'transfer-failed:www', severity: 'warning', occurrences: 1 },
      ],
    },
    { name: 'active sessions are ignored', sessions: [session({ status: 'active', exitCode: null, endedAt: null })], expect: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const out = transferFailedRule.evaluate(inputs({ sessions: c.sessions, modules: c.modules ?? ['backup', 'www'] }), { ...settings, ...(c.settings as object) })!;
      assert.deepEqual(
        out.map((x) => ({ key: x.key, severity: x.severity, occurrences: x.occurrences })).sort((a, b) => a.key.localeCompare(b.key)),
        c.expect,
      );
    });
  }
  test('unknown inputs give null (open alerts are kept), not "all clear"', () => {
    assert.equal(transferFailedRule.evaluate(inputs({ sessions: null }), settings), null);
  });
  test('the message names the module, client and exit meaning', () => {
    const [c] = transferFailedRule.evaluate(inputs({ sessions: [session({ status: 'success', exitCode: 24 })] }), settings)!;
    assert.equal(c!.title, 'Push into module backup failed');
    assert.match(c!.message, /alice@10\.0\.0\.5: partial transfer due to vanished source files \(exit 24\)/);
    assert.equal(c!.details.exitCode, 24);
  });
});

describe('auth-burst rule', () => {
  const settings = { ...effectiveSettings(authBurstRule, undefined), threshold: 3, windowSeconds: 60 };
  const fail = (msAgo: number, ip = '203.0.113.9') => session({ status: 'auth_failed', exitCode: null, clientIp: ip, startedAt: iso(msAgo), endedAt: iso(msAgo) });
  const cases: [string, RecentSession[], number | null][] = [
    ['below the threshold', [fail(1000), fail(2000)], null],
    ['at the threshold', [fail(1000), fail(2000), fail(3000)], 3],
    ['old failures do not count', [fail(1000), fail(2000), fail(120_000)], null],
    ['successes do not count', [fail(1000), fail(2000), session({})], null],
  ];
  for (const [name, sessions, expected] of cases) {
    test(name, () => {
      const out = authBurstRule.evaluate(inputs({ sessions }), settings)!;
      assert.equal(out[0]?.occurrences ?? null, expected);
    });
  }
  test('names the top client addresses', () => {
    const [c] = authBurstRule.evaluate(inputs({ sessions: [fail(1, '198.51.100.1'), fail(2, '198.51.100.1'), fail(3, '198.51.100.2')] }), settings)!;
    assert.deepEqual(c!.details.clientIps, [{ value: '198.51.100.1', count: 2 }, { value: '198.51.100.2', count: 1 }]);
  });
});

describe('daemon rule', () => {
  const settings = effectiveSettings(daemonRule, undefined);
  const d = (over: Partial<DaemonInput>): DaemonInput => ({ state: 'running', pid: 1, lastError: null, lastExit: null, notRunningSince: null, restartTimes: [], drift: null, ...over });
  const cases: [string, DaemonInput, Record<string, unknown>, string[]][] = [
    ['running: nothing', d({}), {}, []],
    ['starting: nothing', d({ state: 'starting' }), {}, []],
    ['stopped for less than downForSeconds: nothing yet', d({ state: 'stopped', notRunningSince: NOW - 5_000 }), {}, []],
    ['stopped long enough', d({ state: 'stopped', notRunningSince: NOW - 11_000 }), {}, ['daemon-down']],
    ['crashed, downForSeconds 0', d({ state: 'crashed', notRunningSince: NOW }), { downForSeconds: 0 }, ['daemon-down']],
    ['three restarts in the window: a loop', d({ restartTimes: [NOW - 1000, NOW - 2000, NOW - 3000] }), {}, ['daemon-restart-loop']],
    ['restarts spread out: no loop', d({ restartTimes: [NOW - 1000, NOW - 2000, NOW - 3_600_000] }), {}, []],
    ['drift reported', d({ drift: 'rsyncd.conf changed' }), {}, ['daemon-config-drift']],
    ['drift repaired a minute ago: still alerted (held 60 min)', d({ lastDrift: { at: NOW - 60_000, problems: ['rsyncd.conf: content changed'], count: 1 } }), {}, ['daemon-config-drift']],
    ['drift repaired longer ago than driftHoldMinutes: resolved', d({ lastDrift: { at: NOW - 61 * 60_000, problems: ['x'], count: 1 } }), {}, []],
    ['driftHoldMinutes 0: only while still wrong', d({ lastDrift: { at: NOW - 1_000, problems: ['x'], count: 1 } }), { driftHoldMinutes: 0 }, []],
    ['driftHoldMinutes 0 and still wrong: alerted', d({ drift: 'x', lastDrift: { at: NOW - 1_000, problems: ['x'], count: 1 } }), { driftHoldMinutes: 0 }, ['daemon-config-drift']],
  ];
  for (const [name, daemon, over, keys] of cases) {
    test(name, () => {
      const out = daemonRule.evaluate(inputs({ daemon }), { ...settings, ...(over as object) })!;
      assert.deepEqual(out.map((c) => c.key), keys);
    });
  }
  test('drift: error while the files are wrong, warning "restored" after the repair, naming what changed', () => {
    const last = { at: NOW - 5_000, problems: ['rsyncd.secrets: mode 644 (expected 600)'], count: 2 };
    const [wrong] = daemonRule.evaluate(inputs({ daemon: d({ drift: 'rsyncd.secrets: mode 644 (expected 600)', lastDrift: last }) }), settings)!;
    assert.equal(wrong!.severity, 'error');
    assert.match(wrong!.title, /not restored yet/);
    const [fixed] = daemonRule.evaluate(inputs({ daemon: d({ lastDrift: last }) }), settings)!;
    assert.equal(fixed!.severity, 'warning');
    assert.match(fixed!.message, /changed outside RsyncHub at 2026-12-01T11:59:55.000Z \(rsyncd.secrets: mode 644 \(expected 600\)\); RsyncHub restored them/);
    assert.equal(fixed!.details.driftsSinceStart, 2);
  });
  test('daemon down is critical and says since when', () => {
    const [c] = daemonRule.evaluate(inputs({ daemon: d({ state: 'crashed', notRunningSince: NOW - 60_000, lastError: 'rsync daemon exited with code 1' }) }), settings)!;
    assert.equal(c!.severity, 'critical');
    assert.match(c!.message, /crashed since 2026-12-01T11:59:00.000Z.*exited with code 1/);
  });
});

describe('storage-low rule', () => {
  const GiB = 1024 ** 3;
  const entry = (over: Partial<StorageUsageEntry>): StorageUsageEntry => ({
    kind: 'root', name: '/srv', path: '/srv', filesystem: '2049', freeBytes: 50 * GiB, totalBytes: 100 * GiB, freePercent: 50, low: false, error: null, ...over,
  });
  const cases: [string, StorageUsageEntry[], Record<string, number>, string[]][] = [
    ['plenty of space', [entry({})], {}, []],
    ['below the percentage', [entry({ freeBytes: 8 * GiB, freePercent: 8 })], {}, ['storage-low:2049']],
    ['below the bytes on a small disk', [entry({ freeBytes: 1 * GiB, totalBytes: 4 * GiB, freePercent: 25 })], {}, ['storage-low:2049']],
    ['both thresholds off', [entry({ freeBytes: 0, freePercent: 0 })], { minFreePercent: 0, minFreeBytes: 0 }, []],
    ['unknown figures (path missing) are not low', [entry({ filesystem: null, freeBytes: null, freePercent: null, error: 'ENOENT' })], {}, []],
    [
      'a root and a module on the same filesystem: one alert; another filesystem: its own',
      [entry({ freeBytes: GiB, freePercent: 1 }), entry({ kind: 'module', name: 'm1', path: '/srv/m1', freeBytes: GiB, freePercent: 1 }), entry({ filesystem: '77', path: '/mnt/x', name: '/mnt/x', freeBytes: GiB, freePercent: 1 })],
      {},
      ['storage-low:2049', 'storage-low:77'],
    ],
  ];
  for (const [name, storage, over, keys] of cases) {
    test(name, () => {
      const out = storageLowRule.evaluate(inputs({ storage }), { ...effectiveSettings(storageLowRule, undefined), ...over })!;
      assert.deepEqual(out.map((c) => c.key).sort(), keys);
    });
  }
  test('names the roots and modules that share the filesystem', () => {
    const [c] = storageLowRule.evaluate(inputs({ storage: [entry({ freeBytes: GiB, freePercent: 1 }), entry({ kind: 'module', name: 'm1', path: '/srv/m1', freeBytes: GiB, freePercent: 1 })] }), effectiveSettings(storageLowRule, undefined))!;
    assert.deepEqual(c!.details.roots, ['/srv']);
    assert.deepEqual(c!.details.modules, ['m1']);
    assert.match(c!.message, /1\.0 GiB \(1\.0 %\) free of 100\.0 GiB/);
  });
});

describe('reconcile: deduplication and resolution', () => {
  const cond = (key: string, over: Partial<AlertCondition> = {}): AlertCondition => ({ key, severity: 'error', title: 't', message: 'm', details: {}, occurrences: 1, ...over });
  const open = (id: number, key: string, over: Partial<OpenAlert> = {}): OpenAlert => ({ id, key, severity: 'error', title: 't', message: 'm', occurrences: 1, detailsJson: '{}', ...over });
  test('a new condition fires', () => {
    const r = reconcile([], [cond('a')]);
    assert.deepEqual(r.fire.map((c) => c.key), ['a']);
  });
  test('a condition that keeps holding does not fire again', () => {
    const r = reconcile([open(1, 'a')], [cond('a')]);
    assert.equal(r.fire.length, 0);
    assert.deepEqual(r.unchanged.map((a) => a.id), [1]);
  });
  test('a changed condition updates the open alert instead of firing', () => {
    const r = reconcile([open(1, 'a')], [cond('a', { occurrences: 2, severity: 'critical' })]);
    assert.equal(r.fire.length, 0);
    assert.deepEqual(r.update.map((u) => u.alert.id), [1]);
  });
  test('a cleared condition resolves', () => {
    const r = reconcile([open(1, 'a'), open(2, 'b')], [cond('b')]);
    assert.deepEqual(r.resolve.map((a) => a.id), [1]);
  });
  test('unknown inputs (null) neither fire nor resolve', () => {
    const r = reconcile([open(1, 'a')], null);
    assert.equal(r.resolve.length + r.fire.length, 0);
  });
  test('one key named twice fires once', () => {
    assert.equal(reconcile([], [cond('a'), cond('a')]).fire.length, 1);
  });
});

describe('rule settings', () => {
  test('defaults apply, stored values override, bad stored values are ignored', () => {
    const s = effectiveSettings(authBurstRule, { threshold: 4, windowSeconds: -5, enabled: false });
    assert.deepEqual(s, { enabled: false, threshold: 4, windowSeconds: 300 });
  });
  const cases: [string, unknown, string[]][] = [
    ['valid subset', { threshold: 5 }, []],
    ['enabled must be boolean', { enabled: 'yes' }, ['enabled']],
    ['unknown field', { thresold: 5 }, ['thresold']],
    ['below min', { windowSeconds: 1 }, ['windowSeconds']],
    ['not an integer', { threshold: 1.5 }, ['threshold']],
    ['a string number', { threshold: '5' }, ['threshold']],
    ['not an object', [1], ['(body)']],
  ];
  for (const [name, body, fields] of cases) {
    test(name, () => assert.deepEqual(checkRuleSettings(authBurstRule, body).map((i) => i.field), fields));
  }
});
