/**
 * One queue per (watched root, remote): its own journal, at most one rsync in flight, backoff with jitter on failure.
 * A slow or dead target only delays its own queue. Every pending batch is merged into the next run, so a target that
 * comes back after an outage catches up with one or two rsync processes rather than one per missed batch.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RetryPolicy } from './config';
import { type Change, mergeChanges, planPush, type PathState } from './change-set';
import { Journal, type JournalEntry } from './journal';
import { buildRsyncArgs, classifyExit, compressionEnabled, nativeConnectorRunEnv, SMALL_PUSH_BYTES, type Progress, type RsyncTarget, runExecutable, runRsync, remoteUrl, stallKillMs, type TlsTransport, tlsTransport } from './rsync-runner';
import { type StandbySpec, type StandbyStats, type TakenStandby, WarmStandby } from './warm-standby';
import type { DeleteGuardConfig } from './config';
import { collectRegexExcludes, exactRsyncPattern } from './regex-excludes';
import type { Logger } from './log';
import { encodePath } from './path-bytes';

export interface TargetStats {
  id: string;
  root: string;
  host: string;
  port: number;
  module: string;
  url: string;
  /** Pushed over TLS (the agent's relay), never in plaintext. */
  tls: boolean;
  /** Pending batches in the journal. */
  pendingBatches: number;
  /** Pending changed paths (a pending full sync counts as one). */
  queueLength: number;
  /** Age of the oldest pending change; 0 when caught up. */
  lagMs: number;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Class of lastError ('tls': the server certificate was refused or the port speaks no TLS; see classifyExit). */
  lastErrorKind: string | null;
  consecutiveFailures: number;
  nextRetryAt: string | null;
  inFlight: boolean;
  rsyncRuns: number;
  pushedPaths: number;
  fullSyncs: number;
  /** Paused targets run nothing until resumed (rsynchub-agent resume); changes keep being journaled. */
  paused: boolean;
  /** Why: the delete guard's finding, or "paused by admin". */
  pauseReason: string | null;
  pausedAt: string | null;
  /** Earlier errors, newest last (lastError is cleared by the next success; these stay). */
  errorHistory: { at: string; error: string }[];
  /** The warm standby client's counters (plain targets with warmStandby on; see warm-standby.ts). */
  warmStandby?: StandbyStats;
}

/** How many past errors status keeps. */
export const ERROR_HISTORY = 10;

/** Backoff delay for the n-th consecutive failure (1-based), before jitter. */
export function backoffDelay(policy: RetryPolicy, failures: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * Math.pow(policy.factor, Math.max(0, failures - 1)));
  const j = policy.jitter * (2 * random() - 1);
  return Math.max(1, Math.round(base * (1 + j)));
}

export function pathStateOf(root: string, rel: string): PathState {
  try {
    return fs.lstatSync(encodePath(path.join(root, rel))).isDirectory() ? 'dir' : 'other';
  } catch {
    return 'missing';
  }
}

/** Whether the regular files among listed paths add up to fewer than `limit` bytes (stops early; at most 64 paths). */
export function listedBytesBelow(root: string, list: readonly string[], limit: number): boolean {
  if (list.length > 64) return false;
  let total = 0;
  for (const rel of list) {
    try {
      const st = fs.lstatSync(encodePath(path.join(root, rel)));
      if (st.isFile()) total += st.size;
    } catch {
      // gone: a deletion, nothing to send
    }
    if (total >= limit) return false;
  }
  return true;
}

function linkCount(root: string, rel: string): number {
  try {
    const st = fs.lstatSync(path.join(root, rel));
    return st.isFile() ? st.nlink : 1;
  } catch {
    return 1;
  }
}

export interface TargetQueueOptions {
  id: string;
  target: RsyncTarget;
  /** A tls remote's relay: the native connector's path, or null for the node relay; absent: chooseTlsRelay(). */
  tlsConnector?: string | null;
  journalFile: string;
  retry: RetryPolicy;
  maxPathsPerRun: number;
  fullSyncExcludes: string[];
  log: Logger;
  onChange?: () => void;
  /** Full sync progress; null when the full sync is over (status then shows none). */
  onProgress?: (id: string, p: Progress | null) => void;
  rsyncBin?: string;
  /**
   * The gate helper's path: keep a warm standby rsync for the next ordinary run (plain remotes only; warm-standby.ts).
   * null/absent: every run starts when due.
   */
  warmStandbyGate?: string | null;
  /** sersync <filter> matchers (full match, see regex-excludes.ts): excluded paths are left out of recursive runs too. */
  excludeRegex?: RegExp[];
  deleteGuard?: DeleteGuardConfig;
  /**
   * Checks the watched root before a run (device/identity, see agent.ts): a reason to refuse, or null. A refusal
   * pauses the target.
   */
  checkRoot?: () => string | null;
  /** Called when the target is paused or resumed (the agent persists it in STATE_DIR/paused/). */
  onPauseChange?: (id: string, pause: { reason: string; at: string } | null) => void;
}

/** Counts from `rsync --dry-run --stats` of a full sync: what it would delete and create, and how big the target is. */
export function parseDryRunStats(out: string): { deleted: number; created: number; targetEntries: number } | null {
  const n = (re: RegExp): number | null => {
    const m = re.exec(out);
    return m ? Number(m[1].replace(/[,.]/g, '')) : null;
  };
  const files = n(/Number of files:\s*([\d,.]+)/);
  const created = n(/Number of created files:\s*([\d,.]+)/) ?? 0;
  const deleted = n(/Number of deleted files:\s*([\d,.]+)/) ?? 0;
  if (files === null) return null;
  // The source's entries (the root '.' included) minus those the target lacks, plus those only the target has.
  return { deleted, created, targetEntries: Math.max(0, files - 1 - created) + deleted };
}

/**
 * The delete guard's verdict on a full sync's dry run: a reason to pause, or null.
 * The share rule weighs the run's NET loss (entries deleted minus entries created by the same run): the guard is
 * there to catch a source that vanished or was emptied, and a rename or move (`mv data2 data3`, common after a
 * recovery full sync) deletes and creates the same number of entries without the source shrinking.
 */
export function deleteGuardVerdict(g: DeleteGuardConfig, stats: { deleted: number; created?: number; targetEntries: number }, sourceEmpty: boolean): string | null {
  if (!g.enabled || stats.deleted === 0) return null;
  if (sourceEmpty) return `the watched root is empty but the target is not (${stats.deleted} entries would be deleted); is the source unmounted?`;
  if (g.maxDeleteFiles > 0 && stats.deleted > g.maxDeleteFiles) {
    return `a full sync would delete ${stats.deleted} of ${stats.targetEntries} entries on the target (deleteGuard.maxDeleteFiles ${g.maxDeleteFiles})`;
  }
  const netLoss = stats.deleted - (stats.created ?? 0);
  if (stats.targetEntries >= g.minTargetEntries && netLoss * 100 > stats.targetEntries * g.maxDeletePercent) {
    const creates = stats.created ? ` and create ${stats.created} (net loss ${netLoss})` : '';
    return `a full sync would delete ${stats.deleted}${creates} of ${stats.targetEntries} entries on the target (more than deleteGuard.maxDeletePercent ${g.maxDeletePercent}%)`;
  }
  return null;
}

export class TargetQueue {
  readonly journal: Journal;
  private running = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private current: Promise<void> | null = null;
  /** Journal entries the running rsync took. */
  private inFlightIds = new Set<number>();
  private stats: Omit<TargetStats, 'pendingBatches' | 'queueLength' | 'lagMs' | 'inFlight'>;
  /** -H in the params: a change to a multiply-linked file is pushed with a full sync (see runOnce). */
  private readonly hardLinks: boolean;
  /** Set by resume(): the admin accepted the source as it is, so the next run skips the delete guard once. */
  private guardOverride = false;
  /** A tls remote's transport: every run (dry runs included) goes through the agent's TLS relay. */
  private readonly tls: TlsTransport | undefined;
  /** The warm standby of the next ordinary (flat, small) run; undefined when off or with the node TLS relay. */
  private readonly standby: WarmStandby | undefined;

  constructor(private readonly o: TargetQueueOptions) {
    this.journal = Journal.open(o.journalFile);
    this.hardLinks = o.target.rsyncParams.some((p) => p === '--hard-links' || /^-[A-Za-z0-9]*H/.test(p));
    const r = o.target.remote;
    this.tls = o.tlsConnector !== undefined ? tlsTransport(r, o.target.connectTimeoutSec, o.tlsConnector) : tlsTransport(r, o.target.connectTimeoutSec);
    this.stats = {
      id: o.id, root: o.target.root, host: r.host, port: r.port, module: r.module, url: remoteUrl(r), tls: r.tls === true,
      lastSuccessAt: null, lastError: null, lastErrorAt: null, lastErrorKind: null, consecutiveFailures: 0, nextRetryAt: null,
      rsyncRuns: 0, pushedPaths: 0, fullSyncs: 0, paused: false, pauseReason: null, pausedAt: null, errorHistory: [],
    };
    // Plain remotes (the gate connects), and TLS remotes with the native connector (it holds for the go itself); not
    // the node TLS relay, whose local port is opened per run.
    if (o.warmStandbyGate && (!this.tls || this.tls.connector)) {
      this.standby = new WarmStandby({ gate: o.warmStandbyGate, log: o.log, target: o.id, onChange: () => o.onChange?.() });
      setImmediate(() => this.ensureStandby());
    }
    const pending = this.journal.pendingCount;
    if (pending > 0) o.log.info('replaying journal', { target: o.id, pendingBatches: pending, pendingPaths: this.journal.pendingPaths });
  }

  snapshot(): TargetStats {
    const oldest = this.journal.oldestPendingAt();
    return {
      ...this.stats,
      pendingBatches: this.journal.pendingCount,
      queueLength: this.journal.pendingPaths,
      lagMs: oldest === null ? 0 : Math.max(0, Date.now() - oldest),
      inFlight: this.running,
      ...(this.standby ? { warmStandby: { ...this.standby.stats } } : {}),
    };
  }

  /** The arguments of an ordinary run: flat, a few small files (under SMALL_PUSH_BYTES: no compression), no extra excludes. */
  private ordinaryRunArgs(): string[] {
    const t = this.o.target;
    const args = buildRsyncArgs(t, 'flat');
    if (compressionEnabled(t.rsyncParams)) args.splice(args.length - 2, 0, '--no-compress');
    return args;
  }

  /** How a run with these arguments would be started (spawnRsync's executable, cwd and environment). */
  private standbySpec(args: readonly string[]): StandbySpec {
    const t = this.o.target;
    // What throughTlsRelay runs for a native connector: the same arguments, with the connector's environment.
    const connector = this.tls?.connector ?? null;
    const env = connector ? nativeConnectorRunEnv(connector, this.tls!) : process.env;
    return {
      exe: runExecutable(this.o.rsyncBin, env), args, cwd: t.root, env, host: t.remote.host, port: t.remote.port,
      connectTimeoutMs: t.connectTimeoutSec * 1000, passwordFile: t.remote.passwordFile, ...(connector ? { ownConnector: true } : {}),
    };
  }

  /** A standby waits for the next ordinary run (unless off, stopped or paused); a stale one is replaced. */
  private ensureStandby(): void {
    if (!this.standby || this.stopped || this.stats.paused || this.running) return;
    this.standby.prepare(this.standbySpec(this.ordinaryRunArgs()));
  }

  /** Durably queues a batch, then starts pushing if idle. */
  enqueue(changes: readonly Change[]): void {
    if (changes.length === 0) return;
    // Written, then rsync started, then fsync'ed while rsync starts up (exec, connect, handshake): the fsync (8 ms on
    // a busy disk, more under load) no longer delays the push. A crash in between is an unclean stop, recovered by the
    // full sync at restart, like a change still in the coalescing window.
    this.journal.append(changes, false, false, false);
    this.kick();
    this.journal.sync();
  }

  /**
   * Durably queues a full sync; `start` false leaves it for the next run (e.g. while stopping). `scheduled` marks the
   * periodic one (sersync crontab), the only kind that applies fullSyncExcludes.
   */
  enqueueFullSync(reason: string, start = true, scheduled = false): void {
    // A full sync not yet started covers this one too; one already running may have read past what this one is for.
    // A scheduled one does not cover an unscheduled one (it skips the crontabfilter's paths).
    if (this.journal.pending().some((e) => e.full && !this.inFlightIds.has(e.id) && (scheduled || !e.scheduled))) return;
    this.o.log.info('full sync queued', { target: this.o.id, reason });
    this.journal.append([], true, scheduled);
    if (start) this.kick();
  }

  /** Stops running rsync for this target (changes keep being journaled) until resume(). */
  pause(reason: string, notify = true): void {
    if (this.stats.paused && this.stats.pauseReason === reason) return;
    this.stats.paused = true;
    this.stats.pauseReason = reason;
    this.stats.pausedAt = new Date().toISOString();
    this.o.log.warn('target paused', { target: this.o.id, url: this.stats.url, reason, resume: `rsynchub-agent resume --target ${this.o.id}` });
    this.standby?.discard('target paused');
    if (notify) this.o.onPauseChange?.(this.o.id, { reason, at: this.stats.pausedAt });
    this.o.onChange?.();
  }

  /** Resumes a paused target; its next run skips the delete guard once (the admin accepted the source as it is). */
  resume(notify = true): void {
    if (!this.stats.paused) return;
    this.stats.paused = false;
    this.stats.pauseReason = null;
    this.stats.pausedAt = null;
    this.guardOverride = true;
    this.o.log.info('target resumed', { target: this.o.id, url: this.stats.url });
    if (notify) this.o.onPauseChange?.(this.o.id, null);
    this.o.onChange?.();
    this.retryNow();
    this.ensureStandby();
  }

  get paused(): boolean {
    return this.stats.paused;
  }

  /** Starts a run now unless one is in flight or a retry is scheduled. */
  kick(): void {
    if (this.stopped || this.stats.paused || this.running || this.retryTimer || this.journal.pendingCount === 0) return;
    this.running = true;
    this.o.onChange?.();
    this.current = this.runOnce().finally(() => {
      this.running = false;
      this.current = null;
      this.o.onChange?.();
      this.kick();
      // Idle again: the next ordinary run's rsync starts now, off the next edit's critical path.
      if (this.standby && !this.running) setImmediate(() => this.ensureStandby());
    });
  }

  /** Retries immediately (e.g. on SIGHUP or in tests). */
  retryNow(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.standby?.discard('target stopped', true);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.current) await this.current;
    this.journal.close();
  }

  /** Extra args naming the sersync-filter-excluded paths under `bases` (NUL-separated file, read with --from0). */
  private regexExcludeArgs(bases: readonly string[]): string[] {
    const res = this.o.excludeRegex ?? [];
    if (res.length === 0) return [];
    const excluded = collectRegexExcludes(this.o.target.root, bases, res);
    if (excluded.length === 0) return [];
    const file = `${this.o.journalFile}.excludes`;
    fs.writeFileSync(file, Buffer.from(excluded.map((p) => exactRsyncPattern(p) + '\0').join('')), { mode: 0o600 });
    return ['--from0', `--exclude-from=${file}`]; // --from0 first: rsync reads the file when it parses the option
  }

  /** Pauses and returns true when the root check refuses the run. */
  private refusedByRootCheck(): boolean {
    if (!this.o.deleteGuard?.enabled || this.guardOverride) return false;
    const problem = this.o.checkRoot?.() ?? null;
    if (problem === null) return false;
    this.pause(problem);
    return true;
  }

  private async runOnce(): Promise<void> {
    const pending = this.journal.pending();
    const t = this.o.target;
    let taken: JournalEntry[];
    let ok: boolean;
    let errorMessage = '';
    let errorKind = '';
    let retryable = true;
    const killMs = stallKillMs(t);
    if (this.refusedByRootCheck()) return;
    if (pending.some((e) => e.full)) {
      // A full sync reads the current tree, so it covers every batch accepted before it starts.
      taken = pending;
      this.inFlightIds = new Set(taken.map((e) => e.id));
      // The crontabfilter applies to the scheduled full sync only, not to -r, recovery or verification.
      const scheduledOnly = taken.filter((e) => e.full).every((e) => e.scheduled);
      const args = buildRsyncArgs(t, 'full', scheduledOnly ? this.o.fullSyncExcludes : []);
      const extra = this.regexExcludeArgs(['.']);
      args.splice(args.length - 2, 0, ...extra);
      const guard = this.o.deleteGuard;
      if (guard?.enabled && !this.guardOverride) {
        // Preflight: what would this full sync delete? One extra file-list pass, no data moved.
        const dry = args.filter((a) => a !== '--info=progress2');
        dry.splice(dry.length - 2, 0, '--dry-run', '--stats');
        const pre = await runRsync(dry, { cwd: t.root, rsyncBin: this.o.rsyncBin, stallKillMs: killMs, captureStdout: true, tls: this.tls });
        this.stats.rsyncRuns++;
        const preOut = classifyExit(pre);
        if (preOut.kind === 'tls') {
          // The server certificate was refused: the full sync itself would be refused the same way.
          this.inFlightIds = new Set();
          this.recordFailure(preOut.message, preOut.kind, preOut.retryable);
          return;
        }
        const stats = preOut.ok ? parseDryRunStats(pre.stdout ?? '') : null;
        if (stats) {
          let empty = false;
          try {
            empty = fs.readdirSync(t.root).length === 0;
          } catch {
            empty = true;
          }
          const verdict = deleteGuardVerdict(guard, stats, empty);
          if (verdict) {
            this.inFlightIds = new Set();
            this.pause(verdict);
            return;
          }
        }
      }
      this.guardOverride = false;
      this.o.log.info('full sync start', { target: this.o.id, url: this.stats.url, crontabfilter: scheduledOnly && this.o.fullSyncExcludes.length > 0 });
      const res = await runRsync(args, {
        cwd: t.root, rsyncBin: this.o.rsyncBin, stallKillMs: killMs, tls: this.tls,
        onProgress: (p) => this.o.onProgress?.(this.o.id, p),
      });
      this.o.onProgress?.(this.o.id, null);
      this.stats.rsyncRuns++;
      const out = classifyExit(res);
      ok = out.ok;
      retryable = out.retryable;
      errorMessage = out.message;
      errorKind = out.kind;
      if (ok) {
        this.stats.fullSyncs++;
        this.o.log.info('full sync done', { target: this.o.id, durationMs: res.durationMs, result: out.kind });
      }
    } else {
      taken = [];
      let count = 0;
      for (const e of pending) {
        if (taken.length > 0 && count + e.changes.length > this.o.maxPathsPerRun) break;
        taken.push(e);
        count += e.changes.length;
      }
      const changes = mergeChanges(taken.map((e) => e.changes));
      if (this.hardLinks && changes.some((c) => linkCount(t.root, c.path) > 1)) {
        // rsync -H links only names that are in the same transfer: pushing one name of a hard-linked file would give it
        // a copy of its own on the target and leave the other names stale. Only a full sync sees every name.
        this.enqueueFullSync('a hard-linked file changed (-H): only a full sync sends all its names together');
        return;
      }
      const plan = planPush(changes, (rel) => pathStateOf(t.root, rel));
      ok = true;
      for (const mode of ['recursive', 'flat'] as const) {
        const list = plan[mode];
        if (list.length === 0) continue;
        const args = buildRsyncArgs(t, mode);
        const small = mode === 'flat' && (compressionEnabled(t.rsyncParams) || this.standby !== undefined) && listedBytesBelow(t.root, list, SMALL_PUSH_BYTES);
        if (mode === 'recursive') args.splice(args.length - 2, 0, ...this.regexExcludeArgs(list));
        else if (small && compressionEnabled(t.rsyncParams)) args.splice(args.length - 2, 0, '--no-compress');
        // The ordinary shape (a small flat push) goes through the warm standby when one waits with exactly these
        // arguments. Not a large one: the gate's relay is one more hop for every byte (a 256 MiB push through it was
        // slower in 3 of 3 rounds, measured), while the standby saves a fixed ~10 ms.
        const standby: TakenStandby | null = small && this.standby ? this.standby.take(this.standbySpec(args)) : null;
        const res = await runRsync(args, {
          cwd: t.root, paths: list, rsyncBin: this.o.rsyncBin, stallKillMs: stallKillMs(t, mode), tls: this.tls, ...(standby ? { standby } : {}),
        });
        this.stats.rsyncRuns++;
        const out = classifyExit(res);
        this.o.log.debug('rsync run', {
          target: this.o.id, mode, paths: list.length, code: res.code, durationMs: res.durationMs,
          warm: standby !== null, ...(standby ? { standbyStartedAt: new Date(standby.startedAt).toISOString() } : {}),
        });
        if (!out.ok) {
          ok = false;
          retryable = out.retryable;
          errorMessage = out.message;
          errorKind = out.kind;
          break;
        }
      }
      if (ok) {
        this.stats.pushedPaths += changes.length;
        this.o.log.info('pushed', { target: this.o.id, paths: changes.length, batches: taken.length, recursive: plan.recursive.length, flat: plan.flat.length });
      }
    }
    this.inFlightIds = new Set();
    if (ok) {
      this.journal.ack(taken.map((e) => e.id));
      this.guardOverride = false;
      this.stats.lastSuccessAt = new Date().toISOString();
      // A later success clears the last error; it stays in errorHistory with its time.
      this.stats.lastError = null;
      this.stats.lastErrorAt = null;
      this.stats.lastErrorKind = null;
      this.stats.consecutiveFailures = 0;
      this.stats.nextRetryAt = null;
      return;
    }
    this.recordFailure(errorMessage, errorKind, retryable);
  }

  /** Records a failed run (status, history) and schedules the retry. */
  private recordFailure(errorMessage: string, errorKind: string, retryable: boolean): void {
    this.stats.consecutiveFailures++;
    this.stats.lastErrorKind = errorKind || null;
    this.stats.lastError = errorMessage;
    this.stats.lastErrorAt = new Date().toISOString();
    this.stats.errorHistory = [...this.stats.errorHistory, { at: this.stats.lastErrorAt, error: errorMessage }].slice(-ERROR_HISTORY);
    // Non-retryable errors stay queued too (nothing is dropped) but wait the longest delay.
    const delay = retryable ? backoffDelay(this.o.retry, this.stats.consecutiveFailures) : this.o.retry.maxDelayMs;
    this.stats.nextRetryAt = new Date(Date.now() + delay).toISOString();
    if (errorKind === 'tls') {
      // Loud: nothing moves until someone fixes the trust settings or the server; the changes stay journaled.
      this.o.log.error('TLS connection refused: nothing pushed, never retried in plaintext', {
        target: this.o.id, url: this.stats.url, error: errorMessage, retryInMs: delay, pendingBatches: this.journal.pendingCount,
      });
    } else {
      this.o.log.warn('push failed; will retry', {
        target: this.o.id, error: errorMessage, retryable, retryInMs: delay, pendingBatches: this.journal.pendingCount,
      });
    }
    if (!this.stopped) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.kick();
      }, delay);
    }
  }
}
