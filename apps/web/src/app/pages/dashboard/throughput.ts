import type { StatsBucket } from '@rsynchub/contracts';

/** Per-minute totals keyed by `${minuteStartMs}|${module}`. */
export type BucketMap = Map<string, { t: number; module: string; bytes: number; files: number; activeSeconds: number }>;

export function minuteStart(ms: number): number {
  return Math.floor(ms / 60_000) * 60_000;
}

export function bucketsFrom(series: StatsBucket[]): BucketMap {
  const out: BucketMap = new Map();
  for (const b of series) addToBuckets(out, Date.parse(b.t), b.module, b.bytes, b.files, b.activeSeconds ?? 0);
  return out;
}

export function addToBuckets(map: BucketMap, atMs: number, module: string, bytes: number, files: number, activeSeconds = 0): void {
  if (!Number.isFinite(atMs)) return;
  const t = minuteStart(atMs);
  const key = `${t}|${module}`;
  const b = map.get(key) ?? { t, module, bytes: 0, files: 0, activeSeconds: 0 };
  b.bytes += bytes;
  b.files += files;
  b.activeSeconds = Math.min(60, b.activeSeconds + activeSeconds);
  map.set(key, b);
}

export interface ThroughputSeries {
  labels: string[];
  /** One entry per module: bytes/s and files/s while the module was transferring, in each of the minutes. */
  modules: { module: string; bytesPerSecond: number[]; filesPerSecond: number[] }[];
}

/**
 * The rate of one minute: what moved, divided by the seconds a session of the module was running in it (a 2 GiB
 * push that took 9 s is ~228 MiB/s, not 2 GiB / 60 s). Without that figure (an older server) the whole minute.
 */
export function minuteRate(amount: number, activeSeconds: number): number {
  return amount / (activeSeconds > 0 ? Math.max(1, activeSeconds) : 60);
}

/** The last `minutes` whole minutes ending with the current one, per module, as rates per second. */
export function throughputSeries(map: BucketMap, nowMs: number, minutes = 60): ThroughputSeries {
  const end = minuteStart(nowMs);
  const start = end - (minutes - 1) * 60_000;
  const labels: string[] = [];
  for (let i = 0; i < minutes; i++) {
    const d = new Date(start + i * 60_000);
    labels.push(`${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`);
  }
  const byModule = new Map<string, { bytesPerSecond: number[]; filesPerSecond: number[] }>();
  for (const b of map.values()) {
    if (b.t < start || b.t > end) continue;
    let m = byModule.get(b.module);
    if (!m) {
      m = { bytesPerSecond: new Array(minutes).fill(0), filesPerSecond: new Array(minutes).fill(0) };
      byModule.set(b.module, m);
    }
    const i = (b.t - start) / 60_000;
    m.bytesPerSecond[i] += minuteRate(b.bytes, b.activeSeconds);
    m.filesPerSecond[i] += minuteRate(b.files, b.activeSeconds);
  }
  return {
    labels,
    modules: [...byModule.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([module, v]) => ({ module, ...v })),
  };
}

/** Drops buckets older than the window so a long-open dashboard does not grow without bound. */
export function pruneBuckets(map: BucketMap, nowMs: number, minutes = 60): void {
  const start = minuteStart(nowMs) - (minutes - 1) * 60_000;
  for (const [k, b] of map) if (b.t < start) map.delete(k);
}

/** One row of the chart's text alternative: what the lines of one module show, in numbers. */
export interface ThroughputSummaryRow {
  module: string;
  /** Minutes of the window in which the module moved data. */
  activeMinutes: number;
  peakBytesPerSecond: number;
  /** Label (HH:MM) of the minute of the peak. */
  peakAt: string;
  peakFilesPerSecond: number;
  /** Label of the newest minute with data. */
  lastActiveAt: string;
}

/** The chart as a table (WCAG 1.1.1: a canvas says nothing to a screen reader): per module, peaks and activity. */
export function throughputSummary(series: ThroughputSeries): ThroughputSummaryRow[] {
  const rows: ThroughputSummaryRow[] = [];
  for (const m of series.modules) {
    let active = 0;
    let peak = 0;
    let peakAt = -1;
    let peakFiles = 0;
    let last = -1;
    for (let i = 0; i < series.labels.length; i++) {
      const bytes = m.bytesPerSecond[i] ?? 0;
      const files = m.filesPerSecond[i] ?? 0;
      if (bytes <= 0 && files <= 0) continue;
      active++;
      last = i;
      // Only files moved (empty files, attribute changes): the peak minute is the first active one.
      if (bytes > peak || peakAt < 0) {
        peak = Math.max(peak, bytes);
        peakAt = i;
      }
      peakFiles = Math.max(peakFiles, files);
    }
    if (last < 0) continue;
    rows.push({ module: m.module, activeMinutes: active, peakBytesPerSecond: peak, peakAt: series.labels[peakAt] ?? '', peakFilesPerSecond: peakFiles, lastActiveAt: series.labels[last] });
  }
  return rows;
}
