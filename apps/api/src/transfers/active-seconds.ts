/** A session's run time, for working out true transfer rates. */
export interface RunInterval {
  module: string;
  startMs: number;
  /** The end, or "now" for a session still running. */
  endMs: number;
}

/** Log times have whole-second resolution: a session that began and ended within one second still ran ~1 s. */
const MIN_RUN_MS = 1000;

/**
 * Seconds of each minute (`${minuteStartMs}|${module}`) in which the module had at least one session running,
 * overlapping sessions counted once, within [fromMs, toMs). Dividing a minute's bytes by this gives the rate while
 * data moved: a 2 GiB push that took 9 s shows ~228 MiB/s, not 2 GiB spread over 60 s.
 */
export function activeSecondsByMinute(runs: RunInterval[], fromMs: number, toMs: number): Map<string, number> {
  const byModule = new Map<string, [number, number][]>();
  for (const r of runs) {
    const start = Math.max(r.startMs, fromMs);
    const end = Math.min(Math.max(r.endMs, r.startMs + MIN_RUN_MS), toMs);
    if (!(end > start)) continue;
    const list = byModule.get(r.module) ?? [];
    list.push([start, end]);
    byModule.set(r.module, list);
  }
  const out = new Map<string, number>();
  for (const [module, list] of byModule) {
    list.sort((a, b) => a[0] - b[0]);
    // Merge overlaps, then split each merged run at minute boundaries.
    const merged: [number, number][] = [];
    for (const [s, e] of list) {
      const last = merged[merged.length - 1];
      if (last && s <= last[1]) last[1] = Math.max(last[1], e);
      else merged.push([s, e]);
    }
    for (const [s, e] of merged) {
      for (let t = Math.floor(s / 60_000) * 60_000; t < e; t += 60_000) {
        const part = Math.min(e, t + 60_000) - Math.max(s, t);
        if (part <= 0) continue;
        const key = `${t}|${module}`;
        out.set(key, (out.get(key) ?? 0) + part / 1000);
      }
    }
  }
  return out;
}
