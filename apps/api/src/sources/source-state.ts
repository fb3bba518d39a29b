import type { SourceState } from '@rsynchub/contracts';

/** Offline after this many stale periods without a heartbeat. */
export const OFFLINE_FACTOR = 10;
export const DEFAULT_SOURCE_STALE_SECONDS = 90;

/**
 * The health of a source from the age of its last heartbeat: `online` while younger than `staleSeconds`, `stale`
 * beyond that, `offline` beyond 10x that. A heartbeat stamped in the future (clock skew) counts as just seen.
 * An unparseable stamp is `offline`: a source we cannot date must never look healthy.
 */
export function sourceState(lastSeenAt: string, now: Date, staleSeconds: number): SourceState {
  const seen = Date.parse(lastSeenAt);
  if (!Number.isFinite(seen)) return 'offline';
  const ageMs = Math.max(0, now.getTime() - seen);
  if (ageMs > staleSeconds * OFFLINE_FACTOR * 1000) return 'offline';
  if (ageMs > staleSeconds * 1000) return 'stale';
  return 'online';
}

/** Lag in whole seconds, rounded up so a 200 ms lag does not read as 0 (caught up). */
export function lagSeconds(lagMs: number | null): number | null {
  return lagMs === null || lagMs === undefined ? null : Math.ceil(Math.max(0, lagMs) / 1000);
}
