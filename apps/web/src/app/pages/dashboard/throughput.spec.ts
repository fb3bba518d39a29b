import { bucketsFrom, minuteRate, pruneBuckets, throughputSeries } from './throughput';

const T0 = Date.parse('2026-01-01T10:00:00Z');
const min = (n: number) => T0 + n * 60_000;

describe('throughput series', () => {
  it('turns per-minute buckets into rates while the module was transferring', () => {
    const map = bucketsFrom([
      { t: new Date(min(58)).toISOString(), module: 'b', bytes: 600, files: 6, activeSeconds: 60 },
      { t: new Date(min(59)).toISOString(), module: 'a', bytes: 6000, files: 60, activeSeconds: 30 },
    ]);
    const s = throughputSeries(map, min(59) + 45_000, 60);
    expect(s.labels.length).toBe(60);
    expect(s.modules.map((m) => m.module)).toEqual(['a', 'b']);
    const a = s.modules[0];
    expect(a.bytesPerSecond[59]).toBe(200); // 6000 bytes in the 30 s it ran
    expect(a.filesPerSecond[59]).toBe(2);
    expect(s.modules[1].bytesPerSecond[58]).toBe(10);
    expect(a.bytesPerSecond.slice(0, 59).every((v) => v === 0)).toBe(true);
  });

  it('a 2 GiB push in 9 s shows ~228 MiB/s, not 34 MiB/s', () => {
    const map = bucketsFrom([{ t: new Date(min(59)).toISOString(), module: 'big', bytes: 2 * 1024 ** 3, files: 1, activeSeconds: 9 }]);
    const rate = throughputSeries(map, min(59) + 20_000, 60).modules[0].bytesPerSecond[59];
    expect(Math.round(rate / 1024 ** 2)).toBe(228);
  });

  it('minuteRate: table', () => {
    const table: [number, number, number][] = [
      [600, 60, 10],
      [600, 6, 100],
      [600, 0.2, 600], // under a second counts as one
      [600, 0, 10], // no running time known: the whole minute
    ];
    for (const [amount, secs, want] of table) expect(minuteRate(amount, secs)).toBe(want);
  });

  it('leaves out buckets older than the window and prunes them', () => {
    const map = bucketsFrom([{ t: new Date(min(0)).toISOString(), module: 'old', bytes: 1, files: 1, activeSeconds: 1 }]);
    expect(throughputSeries(map, min(60), 60).modules).toEqual([]);
    pruneBuckets(map, min(60), 60);
    expect(map.size).toBe(0);
  });

  it('ignores unparseable times', () => {
    const map = bucketsFrom([{ t: 'garbage', module: 'x', bytes: 1, files: 1, activeSeconds: 1 }]);
    expect(map.size).toBe(0);
  });
});
