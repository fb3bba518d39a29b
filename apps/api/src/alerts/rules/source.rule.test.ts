import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveSettings, checkRuleSettings } from './settings';
import { sourceRule } from './source.rule';
import type { AlertInputs, SourceInput } from './types';

const NOW = Date.parse('2026-12-01T12:00:00Z');
type Target = SourceInput['targets'][number];
const target = (over: Partial<Target> = {}): Target => ({ host: 'hub', port: 873, module: 'backup', queueLength: 0, lagSeconds: 0, lastError: null, paused: false, pauseReason: null, ...over });
const source = (over: Partial<SourceInput> = {}): SourceInput => ({ name: 'web1', hostname: 'web1.example', state: 'online', lastSeenAt: new Date(NOW - 5_000).toISOString(), secondsSinceSeen: 5, targets: [target()], ...over });
const inputs = (sources: SourceInput[] | null | undefined): AlertInputs => ({ now: NOW, daemon: null, sessions: [], modules: [], storage: [], sources });

describe('source rule', () => {
  const defaults = effectiveSettings(sourceRule, undefined);
  const cases: { name: string; sources: SourceInput[]; settings?: Record<string, unknown>; expect: [string, string][] }[] = [
    { name: 'online, no lag, empty queue: nothing', sources: [source()], expect: [] },
    { name: 'stale: warning', sources: [source({ state: 'stale' })], expect: [['source-state:web1', 'warning']] },
    { name: 'offline: error', sources: [source({ state: 'offline' })], expect: [['source-state:web1', 'error']] },
    { name: 'stale ignored when alertOnStale is off; offline still fires', sources: [source({ state: 'stale' }), source({ name: 'db1', state: 'offline' })], settings: { alertOnStale: false }, expect: [['source-state:db1', 'error']] },
    { name: 'key is case-insensitive like the source table', sources: [source({ name: 'Web1', state: 'offline' })], expect: [['source-state:web1', 'error']] },
    { name: 'lag exactly at the threshold: nothing', sources: [source({ targets: [target({ lagSeconds: 600 })] })], expect: [] },
    { name: 'lag above the threshold: warning per target', sources: [source({ targets: [target({ lagSeconds: 601 }), target({ module: 'www', lagSeconds: 5 })] })], expect: [['source-lag:web1:hub:873/backup', 'warning']] },
    { name: 'null lag (not reported) is never "behind"', sources: [source({ targets: [target({ lagSeconds: null })] })], expect: [] },
    { name: 'lag threshold 0 turns lag alerts off', sources: [source({ targets: [target({ lagSeconds: 99_999 })] })], settings: { maxLagSeconds: 0 }, expect: [] },
    { name: 'queue above 10,000: warning', sources: [source({ targets: [target({ queueLength: 10_001 })] })], expect: [['source-queue:web1:hub:873/backup', 'warning']] },
    { name: 'queue at 10,000: nothing', sources: [source({ targets: [target({ queueLength: 10_000 })] })], expect: [] },
    { name: 'custom queue threshold', sources: [source({ targets: [target({ queueLength: 50 })] })], settings: { maxQueueLength: 10 }, expect: [['source-queue:web1:hub:873/backup', 'warning']] },
    { name: 'paused target: error', sources: [source({ targets: [target({ paused: true, pauseReason: 'delete guard: 90% of files would be deleted' })] })], expect: [['source-paused:web1:hub:873/backup', 'error']] },
    { name: 'paused alerts can be turned off', sources: [source({ targets: [target({ paused: true })] })], settings: { alertOnPaused: false }, expect: [] },
    {
      name: 'stale source keeps its last known target conditions',
      sources: [source({ state: 'stale', targets: [target({ paused: true, queueLength: 20_000 })] })],
      expect: [['source-paused:web1:hub:873/backup', 'error'], ['source-queue:web1:hub:873/backup', 'warning'], ['source-state:web1', 'warning']],
    },
    {
      name: 'targets on two hosts/ports are separate alerts',
      sources: [source({ targets: [target({ lagSeconds: 700 }), target({ port: 8873, lagSeconds: 700 })] })],
      expect: [['source-lag:web1:hub:873/backup', 'warning'], ['source-lag:web1:hub:8873/backup', 'warning']],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const out = sourceRule.evaluate(inputs(c.sources), { ...defaults, ...(c.settings as object) })!;
      assert.deepEqual(out.map((x) => [x.key, x.severity]).sort((a, b) => a[0]!.localeCompare(b[0]!)), c.expect);
    });
  }
  test('unknown sources (null or absent) give null: open alerts are kept', () => {
    assert.equal(sourceRule.evaluate(inputs(null), defaults), null);
    assert.equal(sourceRule.evaluate(inputs(undefined), defaults), null);
  });
  test('defaults: on, lag 600 s, queue 10,000', () => {
    assert.deepEqual(defaults, { enabled: true, alertOnStale: true, maxLagSeconds: 600, maxQueueLength: 10_000, alertOnPaused: true });
  });
  test('messages name the source, target, figures and pause reason; client text is clipped', () => {
    const out = sourceRule.evaluate(inputs([source({ state: 'stale', targets: [target({ paused: true, pauseReason: 'delete guard\nfake line', queueLength: 12_345 })] })]), defaults)!;
    const byKey = new Map(out.map((c) => [c.key.split(':')[0], c]));
    assert.match(byKey.get('source-state')!.message, /web1 \(web1\.example\) is stale: last heartbeat .* \(5 s ago\)/);
    assert.match(byKey.get('source-paused')!.message, /paused pushing to hub:873\/backup: delete guard\?fake line/);
    assert.match(byKey.get('source-queue')!.title, /12,345 paths queued/);
  });
  test('settings are validated like the other rules', () => {
    assert.deepEqual(checkRuleSettings(sourceRule, { maxLagSeconds: 30 }), []);
    assert.equal(checkRuleSettings(sourceRule, { maxLagSeconds: -1 })[0]!.field, 'maxLagSeconds');
    assert.equal(checkRuleSettings(sourceRule, { maxQueueLength: 'x' })[0]!.field, 'maxQueueLength');
    assert.equal(checkRuleSettings(sourceRule, { alertOnStale: 1 })[0]!.field, 'alertOnStale');
  });
});
