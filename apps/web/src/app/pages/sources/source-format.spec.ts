import { formatAge, formatLag, pollIntervalMs } from './source-format';

describe('source formatting', () => {
  it('formats ages', () => {
    const cases: [number, string][] = [[0, '0 s ago'], [59, '59 s ago'], [60, '1 min ago'], [3599, '59 min ago'], [3600, '1 h ago'], [86_400, '1 d ago']];
    for (const [s, want] of cases) expect(formatAge(s)).toBe(want);
  });
  it('keeps unknown lag distinct from no lag', () => {
    const cases: [number | null, string][] = [[null, '—'], [0, '0 s'], [90, '1 min 30 s'], [3660, '1 h 1 min']];
    for (const [s, want] of cases) expect(formatLag(s)).toBe(want);
  });
  it('polls within half a stale period, bounded to 1-10 s', () => {
    const cases: [number | null, number][] = [[null, 5000], [1, 1000], [4, 2000], [90, 10_000]];
    for (const [s, want] of cases) expect(pollIntervalMs(s)).toBe(want);
  });
});
