import type { SourceState } from '@rsynchub/contracts';

export const STATE_LABELS: Record<SourceState, string> = { online: 'online', stale: 'stale', offline: 'offline' };

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

/** Lag as reported: null is "unknown" (never "0 s", which would claim the source is caught up). */
export function formatLag(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** Poll often enough to show a state change within half a stale period, between 1 and 10 seconds. */
export function pollIntervalMs(staleAfterSeconds: number | null): number {
  if (!staleAfterSeconds) return 5000;
  return Math.min(10_000, Math.max(1000, Math.floor((staleAfterSeconds * 1000) / 2)));
}
