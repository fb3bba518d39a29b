import { describe, expect, it } from 'vitest';
import type { AlertDto } from '@rsynchub/contracts';
import { formatFree, upsertAlert } from './alert-list';

const a = (id: number, state: AlertDto['state'] = 'firing'): AlertDto => ({
  id, rule: 'daemon', key: `k${id}`, severity: 'error', state, title: 't', message: 'm', details: {}, firstSeenAt: '', lastSeenAt: '',
  resolvedAt: null, occurrences: 1, acknowledgedAt: null, acknowledgedBy: null,
});

describe('upsertAlert', () => {
  it('replaces an alert with the same id in place', () => {
    const out = upsertAlert([a(3), a(2), a(1)], a(2, 'resolved'));
    expect(out.map((x) => [x.id, x.state])).toEqual([[3, 'firing'], [2, 'resolved'], [1, 'firing']]);
  });
  it('adds a new alert newest first and keeps the list bounded', () => {
    expect(upsertAlert([a(2), a(1)], a(5), 2).map((x) => x.id)).toEqual([5, 2]);
  });
});

describe('formatFree', () => {
  it('shows bytes and percent', () => expect(formatFree(1536 * 1024 ** 2, 12.34)).toBe('1.5 GiB (12.3 %)'));
  it('unknown is a dash', () => expect(formatFree(null, null)).toBe('—'));
});
