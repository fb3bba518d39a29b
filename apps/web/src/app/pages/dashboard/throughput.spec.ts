import { bucketsFrom, minuteRate, pruneBuckets, throughputSeries, throughputSummary, type ThroughputSeries, type ThroughputSummaryRow } from './throughput';

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

describe('throughput summary (the chart as text)', () => {
  const labels = ['10:00', '10:01', '10:02', '10:03'];
  const cases: { name: string; modules: ThroughputSeries['modules']; want: ThroughputSummaryRow[] }[] = [
    { name: 'no modules', modules: [], want: [] },
    { name: 'a module without any activity in the window is left out', modules: [{ module: 'idle', bytesPerSecond: [0, 0, 0, 0], filesPerSecond: [0, 0, 0, 0] }], want: [] },
    {
      name: 'peak, its minute, files/s peak, active minutes and the last active minute',
      modules: [{ module: 'a', bytesPerSecond: [0, 500, 2000, 100], filesPerSecond: [0, 9, 1, 2] }],
      want: [{ module: 'a', activeMinutes: 3, peakBytesPerSecond: 2000, peakAt: '10:02', peakFilesPerSecond: 9, lastActiveAt: '10:03' }],
    },
    {
      name: 'only files moved: the peak minute is the first active one',
      modules: [{ module: 'b', bytesPerSecond: [0, 0, 0, 0], filesPerSecond: [0, 0, 3, 0] }],
      want: [{ module: 'b', activeMinutes: 1, peakBytesPerSecond: 0, peakAt: '10:02', peakFilesPerSecond: 3, lastActiveAt: '10:02' }],
    },
    {
      name: 'one row per module, in the series order',
      modules: [
        { module: 'a', bytesPerSecond: [1, 0, 0, 0], filesPerSecond: [1, 0, 0, 0] },
        { module: 'b', bytesPerSecond: [0, 0, 0, 7], filesPerSecond: [0, 0, 0, 1] },
      ],
      want: [
        { module: 'a', activeMinutes: 1, peakBytesPerSecond: 1, peakAt: '10:00', peakFilesPerSecond: 1, lastActiveAt: '10:00' },
        { module: 'b', activeMinutes: 1, peakBytesPerSecond: 7, peakAt: '10:03', peakFilesPerSecond: 1, lastActiveAt: '10:03' },
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(throughputSummary({ labels, modules: c.modules })).toEqual(c.want);
    });
  }
});
