import type { AlertRuleFieldDto, AlertRuleSettings, AlertSeverity, DaemonState, SourceState, StorageUsageEntry, TransferStatus } from '@rsynchub/contracts';

/** A condition a rule sees holding right now. Its `key` deduplicates: one firing alert per key. */
export interface AlertCondition {
  key: string;
  severity: AlertSeverity;
  title: string;
  message: string;
  details: Record<string, unknown>;
  /** How many times it happened in the current episode (e.g. failed transfers); 1 for a plain state. */
  occurrences: number;
}

/** A session as the transfer and auth rules need it (ended or refused; active ones are left out by the collector). */
export interface RecentSession {
  id: number;
  module: string | null;
  user: string | null;
  clientIp: string;
  direction: 'push' | 'pull' | null;
  status: TransferStatus;
  exitCode: number | null;
  error: string | null;
  startedAt: string;
  endedAt: string | null;
}

export interface DaemonInput {
  state: DaemonState;
  pid: number | null;
  lastError: string | null;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  /** When the daemon was last seen leaving `running`/`starting` (ms epoch); null while it runs. */
  notRunningSince: number | null;
  /** Times (ms epoch) of the supervisor's automatic restarts seen recently. */
  restartTimes: number[];
  /** A config drift the health check reports now (files changed outside RsyncHub, not repaired yet); null when none or unknown. */
  drift: string | null;
  /** The latest drift found since the server started, repaired or not (ms epoch, what was wrong, how many so far). */
  lastDrift?: { at: number; problems: string[]; count: number } | null;
}

/**
 * Everything rules read, gathered by the server at each evaluation. A field is null when it could not be gathered:
 * the rules that need it then report "unknown" (null) and their open alerts stay as they are.
 * Rules added later (e.g. sources) add their own optional field here.
 */
export interface AlertInputs {
  now: number;
  daemon: DaemonInput | null;
  /** Sessions of the look-back window, any order. */
  sessions: RecentSession[] | null;
  /** Names of the configured modules (transfer alerts are only raised for these: module names in refusals are client-chosen). */
  modules: string[] | null;
  storage: StorageUsageEntry[] | null;
  /** Every source that reported, with its state now (absent or null: unknown). */
  sources?: SourceInput[] | null;
}

/** A source as the source rule needs it (from SourcesService.list()). */
export interface SourceInput {
  name: string;
  hostname: string;
  state: SourceState;
  lastSeenAt: string;
  secondsSinceSeen: number;
  targets: {
    host: string;
    port: number;
    module: string;
    queueLength: number;
    /** Null: the agent reported no lag (not the same as 0). */
    lagSeconds: number | null;
    lastError: string | null;
    paused?: boolean;
    pauseReason?: string | null;
  }[];
}

/**
 * A pluggable rule: one file each, registered in `ALERT_RULES`. `evaluate` is pure: the conditions holding now, or
 * null when its inputs are unknown. It must only be called with settings that passed `checkRuleSettings`.
 */
export interface AlertRule {
  id: string;
  title: string;
  description: string;
  /** Settings besides `enabled` (which every rule has and which defaults to true). */
  fields: AlertRuleFieldDto[];
  defaults: AlertRuleSettings;
  /** How far back (seconds) the rule needs sessions, given its settings; 0 if it needs none. */
  lookbackSeconds?(settings: AlertRuleSettings): number;
  evaluate(inputs: AlertInputs, settings: AlertRuleSettings): AlertCondition[] | null;
}

export const SEVERITY_RANK: Record<AlertSeverity, number> = { warning: 1, error: 2, critical: 3 };

export function maxSeverity(a: AlertSeverity, b: AlertSeverity): AlertSeverity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

/** Client-controlled text (user names, module names of refusals) shortened and stripped of control characters. */
export function clip(text: string | null | undefined, max = 64): string {
  const clean = (text ?? '').replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
