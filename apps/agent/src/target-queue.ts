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
import { buildRsyncArgs, classifyExit, type Progress, type RsyncTarget, runRsync, remoteUrl } from './rsync-runner';
import type { Logger } from './log';
import { encodePath } from './path-bytes';

export interface TargetStats {
  id: string;
  root: string;
  host: string;
  port: number;
  module: string;
  url: string;
  /** Pending batches in the journal. */
  pendingBatches: number;
  /** Pending changed paths (a pending full sync counts as one). */
  queueLength: number;
  /** Age of the oldest pending change; 0 when caught up. */
  lagMs: number;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  consecutiveFailures: number;
  nextRetryAt: string | null;
  inFlight: boolean;
  rsyncRuns: number;
  pushedPaths: number;
  fullSyncs: number;
}

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

export interface TargetQueueOptions {
  id: string;
  target: RsyncTarget;
  journalFile: string;
  retry: RetryPolicy;
  maxPathsPerRun: number;
  fullSyncExcludes: string[];
  log: Logger;
  onChange?: () => void;
  onProgress?: (id: string, p: Progress) => void;
  rsyncBin?: string;
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

  constructor(private readonly o: TargetQueueOptions) {
    this.journal = Journal.open(o.journalFile);
    const r = o.target.remote;
    this.stats = {
      id: o.id, root: o.target.root, host: r.host, port: r.port, module: r.module, url: remoteUrl(r),
      lastSuccessAt: null, lastError: null, lastErrorAt: null, consecutiveFailures: 0, nextRetryAt: null,
      rsyncRuns: 0, pushedPaths: 0, fullSyncs: 0,
    };
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
    };
  }

  /** Durably queues a batch, then starts pushing if idle. */
  enqueue(changes: readonly Change[]): void {
    if (changes.length === 0) return;
    this.journal.append(changes);
    this.kick();
  }

  /** Durably queues a full sync; `start` false leaves it for the next run (e.g. while stopping). */
  enqueueFullSync(reason: string, start = true): void {
    // A full sync not yet started covers this one too; one already running may have read past what this one is for.
    if (this.journal.pending().some((e) => e.full && !this.inFlightIds.has(e.id))) return;
    this.o.log.info('full sync queued', { target: this.o.id, reason });
    this.journal.append([], true);
    if (start) this.kick();
  }

  /** Starts a run now unless one is in flight or a retry is scheduled. */
  kick(): void {
    if (this.stopped || this.running || this.retryTimer || this.journal.pendingCount === 0) return;
    this.running = true;
    this.o.onChange?.();
    this.current = this.runOnce().finally(() => {
      this.running = false;
      this.current = null;
      this.o.onChange?.();
      this.kick();
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
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.current) await this.current;
    this.journal.close();
  }

  private async runOnce(): Promise<void> {
    const pending = this.journal.pending();
    const t = this.o.target;
    let taken: JournalEntry[];
    let ok: boolean;
    let errorMessage = '';
    let retryable = true;
    if (pending.some((e) => e.full)) {
      // A full sync reads the current tree, so it covers every batch accepted before it starts.
      taken = pending;
      this.inFlightIds = new Set(taken.map((e) => e.id));
      const args = buildRsyncArgs(t, 'full', this.o.fullSyncExcludes);
      this.o.log.info('full sync start', { target: this.o.id, url: this.stats.url });
      const res = await runRsync(args, {
        cwd: t.root, rsyncBin: this.o.rsyncBin,
        onProgress: (p) => this.o.onProgress?.(this.o.id, p),
      });
      this.stats.rsyncRuns++;
      const out = classifyExit(res);
      ok = out.ok;
      retryable = out.retryable;
      errorMessage = out.message;
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
      const plan = planPush(changes, (rel) => pathStateOf(t.root, rel));
      ok = true;
      for (const mode of ['recursive', 'flat'] as const) {
        const list = plan[mode];
        if (list.length === 0) continue;
        const args = buildRsyncArgs(t, mode);
        const res = await runRsync(args, { cwd: t.root, paths: list, rsyncBin: this.o.rsyncBin });
        this.stats.rsyncRuns++;
        const out = classifyExit(res);
        this.o.log.debug('rsync run', { target: this.o.id, mode, paths: list.length, code: res.code, durationMs: res.durationMs });
        if (!out.ok) {
          ok = false;
          retryable = out.retryable;
          errorMessage = out.message;
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
      this.stats.lastSuccessAt = new Date().toISOString();
      this.stats.consecutiveFailures = 0;
      this.stats.nextRetryAt = null;
      return;
    }
    this.stats.consecutiveFailures++;
    this.stats.lastError = errorMessage;
    this.stats.lastErrorAt = new Date().toISOString();
    // Non-retryable errors stay queued too (nothing is dropped) but wait the longest delay.
    const delay = retryable ? backoffDelay(this.o.retry, this.stats.consecutiveFailures) : this.o.retry.maxDelayMs;
    this.stats.nextRetryAt = new Date(Date.now() + delay).toISOString();
    this.o.log.warn('push failed; will retry', {
      target: this.o.id, error: errorMessage, retryable, retryInMs: delay, pendingBatches: this.journal.pendingCount,
    });
    if (!this.stopped) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.kick();
      }, delay);
    }
  }
}
