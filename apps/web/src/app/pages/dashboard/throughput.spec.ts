import { addToBuckets, bucketsFrom, pruneBuckets, throughputSeries } from './throughput';

const T0 = Date.parse('2026-01-01T10:00:00Z');
const min = (n: number) => T0 + n * 60_000;

describe('throughput series', () => {
  it('turns per-minute buckets into per-second rates per module over the window', () => {
    const map = bucketsFrom([
      { t: new Date(min(58)).toISOString(), module: 'b', bytes: 600, files: 6 },
      { t: new Date(min(59)).toISOString(), module: 'a', bytes: 6000, files: 60 },
    ]);
    addToBuckets(map, min(59) + 30_000, 'a', 600, 1); // a live file in the current minute
    const s = throughputSeries(map, min(59) + 45_000, 60);
    expect(s.labels.length).toBe(60);
    expect(s.modules.map((m) => m.module)).toEqual(['a', 'b']);
    const a = s.modules[0];
    expect(a.bytesPerSecond[59]).toBe(110); // (6000 + 600) / 60
    expect(a.filesPerSecond[59]).toBeCloseTo(61 / 60);
    expect(s.modules[1].bytesPerSecond[58]).toBe(10);
    expect(a.bytesPerSecond.slice(0, 59).every((v) => v === 0)).toBe(true);
  });

  it('leaves out buckets older than the window and prunes them', () => {
    const map = bucketsFrom([{ t: new Date(min(0)).toISOString(), module: 'old', bytes: 1, files: 1 }]);
    expect(throughputSeries(map, min(60), 60).modules).toEqual([]);
    pruneBuckets(map, min(60), 60);
    expect(map.size).toBe(0);
  });

  it('ignores unparseable times', () => {
    const map = bucketsFrom([{ t: 'garbage', module: 'x', bytes: 1, files: 1 }]);
    expect(map.size).toBe(0);
  });
});
