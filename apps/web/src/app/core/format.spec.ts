import { formatBytes, formatCount, formatRate, formatTime } from './format';

describe('format', () => {
  it('counts carry thousands separators', () => {
    const table: [number | null, string][] = [
      [0, '0'],
      [999, '999'],
      [1000, '1,000'],
      [1234567, '1,234,567'],
      [null, '—'],
    ];
    for (const [n, want] of table) expect(formatCount(n, 'en-US')).toBe(want);
  });

  it('bytes use binary units with separators', () => {
    const table: [number, string][] = [
      [0, '0 B'],
      [1023, '1,023 B'],
      [1024, '1.0 KiB'],
      [2 * 1024 ** 3, '2.0 GiB'],
      [5000 * 1024 ** 4, '5,000 TiB'],
      [1536 * 1024, '1.5 MiB'],
    ];
    for (const [n, want] of table) expect(formatBytes(n, 'en-US')).toBe(want);
    expect(formatBytes(1234.5 * 1024 ** 2, 'de-DE')).toBe('1,2 GiB');
  });

  it('rates: a 2 GiB push in 9 s', () => {
    expect(formatRate((2 * 1024 ** 3) / 9, 'en-US')).toBe('228 MiB/s');
    expect(formatRate(null)).toBe('—');
  });

  it('times show their zone', () => {
    expect(formatTime('2026-11-25T12:00:05.000Z', 'en-US', 'UTC')).toBe('11/25/2026, 12:00:05 PM UTC');
    expect(formatTime('2026-11-25T12:00:05.000Z', 'en-GB', 'Europe/Berlin')).toMatch(/^25\/11\/2026, 13:00:05 (CET|GMT\+1)$/);
  });
});
