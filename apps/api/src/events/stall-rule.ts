/**
 * When the live stream gives up on a client. A client whose unsent data (what Node still holds for its socket, after
 * the kernel's buffers are full) stays above a limit for a while has stopped reading: it is dropped, so neither
 * ingestion nor other clients ever wait for it, and it can reconnect and resume. One big batch (a flood of files, a
 * replay) is above the limit only for the moments a reading client needs to take it, so the limit alone is not enough.
 * Pure: the caller keeps `overLimitSince` per client and passes the clock in.
 */
export interface StallLimits {
  /** Unsent bytes above which the clock starts. */
  maxBufferedBytes: number;
  /** How long the client may stay above `maxBufferedBytes` before it is dropped. */
  stallMs: number;
}

/** The live stream's rule: above 4 MiB of backlog for 3 s. */
export const LIVE_STALL_LIMITS: StallLimits = { maxBufferedBytes: 4 * 1024 * 1024, stallMs: 3_000 };

export interface StallVerdict {
  /** Since when the client has been above the limit (null: it is not); keep it for the next call. */
  overLimitSince: number | null;
  drop: boolean;
}

export function stallVerdict(bufferedBytes: number, overLimitSince: number | null, now: number, limits: StallLimits = LIVE_STALL_LIMITS): StallVerdict {
  if (bufferedBytes <= limits.maxBufferedBytes) return { overLimitSince: null, drop: false };
  const since = overLimitSince ?? now;
  return { overLimitSince: since, drop: now - since >= limits.stallMs };
}
