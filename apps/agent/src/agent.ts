/**
 * Wires watchers, batching, per-target queues, the state file and the optional hub heartbeat.
 */
import type { SourceHeartbeatRequest } from '@rsynchub/contracts';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type AgentConfig, passwordFileModeProblem, targetId } from './config';
import { coalesce, relativeTo, type WatchEvent } from './change-set';
import { inotifyHelperAvailable, InotifyWatcher } from './inotify-watcher';
import { checkRoot, describeIdentity, readRootIdentity, type RootIdentity } from './root-identity';
import { buildVerifyArgs, type Difference, isExplained, missedDifferences, runVerify } from './verify';
import { writeFileAtomic } from './journal';
import { acquireInstanceLock, releaseInstanceLock } from './instance-lock';
import { makeStateDir } from './state-dir';
import type { Logger } from './log';
import { type Progress, renderProgressBar, spawnCounter, tlsTransport } from './rsync-runner';
import { chooseTlsRelay, type TlsRelayChoice } from './tls-native';
import { clientCertProblems } from './client-cert';
import { launcherPid, prepareRsyncSpawn } from './rsync-launcher';
import { chooseWarmStandby, gatePath } from './warm-standby';
import { TargetQueue, type TargetStats } from './target-queue';
import { inotifyWatchUsage, RootWatcher } from './watcher';
import { sersyncExcludeMatchers } from './regex-excludes';
import { BusyPathThrottle } from './busy-paths';
import { PauseStore, RootIdentityStore } from './target-control';

export const AGENT_VERSION = '0.1.0';

/** Where Linux tells how many events one inotify instance queues before it overflows. */
export const INOTIFY_QUEUE_FILE = '/proc/sys/fs/inotify/max_queued_events';
/** Events stop for this long = a burst is over (then it may be verified, see fullSync.afterBurstEvents). */
export const BURST_END_QUIET_MS = 1000;
/** Callbacks of one watcher delivery arrive within this long of each other. */
const SAME_DELIVERY_MS = 5;
/** Above this share of the per-user inotify watch limit, the start-up log warns. */
export const WATCH_LIMIT_SHARE = 0.9;
/** How often each watched root's identity (device, inode) is compared with the one being watched. */
export const ROOT_CHECK_MS = 2000;
/** A verification that finds its target busy is tried again this soon. */
export const VERIFY_BUSY_RETRY_MS = 5000;
/** Paths of missed changes kept for status and the heartbeat. */
const MISSED_PATHS_KEPT = 20;

/** Self-verification results of one target (see verify.ts). */
export interface VerifyStats {
  runs: number;
  lastRunAt: string | null;
  lastDurationMs: number | null;
  lastResult: string | null;
  /** Differences no seen change explained, since start. Must stay 0; anything else is a watcher loss. */
  missedByWatcher: number;
  lastMissedAt: string | null;
  lastMissedPaths: string[];
}

/** A burst that goes on this long is verified anyway (and counted afresh): a steady writer would never end it. */
export const BURST_MAX_MS = 60_000;

/**
 * fullSync.afterBurstEvents when not set: an eighth of the kernel's inotify queue, since the raw inotify events behind
 * one reported event can be several (create, modify, attrib, ...) and the watcher reports each path once per delivery.
 */
export function defaultAfterBurstEvents(queueFile = INOTIFY_QUEUE_FILE): { events: number; queue: number | null } {
  let queue: number | null = null;
  try {
    queue = Number(fs.readFileSync(queueFile, 'utf8').trim()) || null;
  } catch {
    // not Linux, or /proc not mounted
  }
  return { events: Math.max(64, Math.floor((queue ?? 16384) / 8)), queue };
}

export interface AgentState {
  pid: number;
  name: string;
  hostname: string;
  version: string;
  startedAt: string;
  updatedAt: string;
  running: boolean;
  /** rsync processes spawned since start. */
  rsyncSpawns: number;
  /** How rsync is started: 'launcher' (the native posix_spawn helper) or 'node' (child_process.spawn). */
  rsyncSpawn?: 'launcher' | 'node';
  /** The launcher's pid while it runs (tests kill it). */
  rsyncLauncherPid?: number;
  /** Whether targets keep a warm standby rsync client (warm-standby.ts), and why (not). */
  warmStandby?: { on: boolean; why: string };
  /** With a tls remote: which relay carries it, 'native' (the OpenSSL connector) or 'node' (the in-process relay). */
  tlsRelay?: 'native' | 'node';
  watches: {
    path: string; watching: boolean; lastEventAt: string | null;
    /** 'inotify': the agent's helper (exact overflows, raw names); 'parcel': the @parcel/watcher fallback. */
    watcher?: 'inotify' | 'parcel';
    /** Times the root was found replaced or removed (re-watched and fully synced each time). */
    rootReplaced?: number;
    /** Inotify queue overflows reported by the kernel (each answered with a full sync). */
    overflows?: number;
  }[];
  /** Self-verification per target id. */
  verification?: Record<string, VerifyStats>;
  targets: TargetStats[];
  fullSyncProgress: Record<string, Progress>;
}

export interface AgentOptions {
  stateDir: string;
  log: Logger;
  /** Full sync at start (CLI --full-sync, sersync -r); ORed with config.fullSync.onStart. */
  fullSyncAtStart?: boolean;
  rsyncBin?: string;
  /** Draw a progress bar for full syncs on this stream (a TTY); otherwise progress is logged. */
  progressStream?: NodeJS.WriteStream;
  /** How often a directory that could not be watched (the watch limit) is tried again, with a full sync (default 60 s). */
  watchRetryMs?: number;
}

interface Root {
  path: string;
  watcher: RootWatcher | InotifyWatcher;
  /** Device and inode of the root being watched (null until watched). */
  identity: RootIdentity | null;
  /** The root is being re-watched after it was replaced or removed. */
  recovering: boolean;
  rootReplaced: number;
  overflows: number;
  /** Relative paths of changes seen while a verification runs (they explain its differences). */
  touched: Set<string> | null;
  queues: TargetQueue[];
  pending: WatchEvent[];
  timer: NodeJS.Timeout | undefined;
  /** When the first event of the open batch arrived (ms). */
  batchStartedAt: number;
  excludeRegex: RegExp[];
  events: AgentConfig['watches'][number]['events'];
  lastEventAt: string | null;
  watching: boolean;
  /** Watcher events since the root was last quiet for BURST_END_QUIET_MS. */
  burstEvents: number;
  burstStartedAt: number;
  burstTimer: NodeJS.Timeout | undefined;
  /** Spaces out the runs for files that keep being written (busy-paths.ts). */
  throttle: BusyPathThrottle;
}

/** Problems that stop the agent from starting (password file modes, missing roots). */
export function preflight(config: AgentConfig): string[] {
  const problems: string[] = [];
  for (const w of config.watches) {
    try {
      if (!fs.statSync(w.path).isDirectory()) problems.push(`watch path ${w.path} is not a directory`);
    } catch {
      problems.push(`watch path ${w.path} does not exist`);
    }
    for (const r of w.remotes) {
      if (r.caFile) {
        const p = caFileProblem(r.caFile);
        if (p) problems.push(p);
      }
      if (r.clientCert && r.clientKey) problems.push(...clientCertProblems(r.clientCert, r.clientKey));
      if (!r.passwordFile) continue;
      try {
        const st = fs.statSync(r.passwordFile);
        const p = passwordFileModeProblem(r.passwordFile, st.mode);
        if (p) problems.push(p);
      } catch {
        problems.push(`password file ${r.passwordFile} cannot be read`);
      }
    }
  }
  return problems;
}

/** Why a remote's caFile cannot be used (unreadable, or no PEM certificate in it), or null. */
export function caFileProblem(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return `caFile ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  try {
    if (!first) throw new Error('no "BEGIN CERTIFICATE" block');
    new X509Certificate(first[0]);
  } catch (e) {
    return `caFile ${file} holds no PEM certificate (${(e as Error).message}): download the CA certificate from the console's Encryption page`;
  }
  return null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Agent {
  private roots: Root[] = [];
  private startedAt = new Date().toISOString();
  private stateTimer: NodeJS.Timeout | undefined;
  private stateDirty = true;
  private fullSyncTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private progress: Record<string, Progress> = {};
  private lastProgressLog = 0;
  private running = false;
  private stopping = false;
  private readonly pidFile: string;
  /** This agent holds the state dir's single-instance lock (released by stop()). */
  private lockHeld = false;
  private readonly stateFile: string;
  private afterBurst: { events: number; queue: number | null };
  private pauses!: PauseStore;
  private rootIds!: RootIdentityStore;
  /** The agent's inotify helper watches (exact overflow reports, raw names); otherwise @parcel/watcher. */
  private readonly useHelper: boolean;
  /** How tls remotes are relayed (the native connector, or the node relay and why), chosen once at construction. */
  private readonly tlsRelay: TlsRelayChoice;
  private rootCheckTimer: NodeJS.Timeout | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private verifying: Promise<void> | null = null;
  /** Aborts a verification dry run in flight when the agent stops (it may take minutes on a large tree). */
  private readonly verifyAbort = new AbortController();
  private readonly verifyStats = new Map<string, VerifyStats>();

  /** Warm standby clients (plain targets, and TLS ones with the native connector): on (with the gate's path) or off, and why. */
  private readonly warm: { on: boolean; why: string; gate: string };

  constructor(private readonly config: AgentConfig, private readonly o: AgentOptions) {
    this.warm = { ...chooseWarmStandby(config.warmStandby !== false), gate: gatePath() };
    const auto = defaultAfterBurstEvents();
    this.afterBurst = { events: config.fullSync.afterBurstEvents ?? auto.events, queue: auto.queue };
    this.useHelper = process.env.RSYNCHUB_AGENT_WATCHER !== 'parcel' && inotifyHelperAvailable();
    this.tlsRelay = config.watches.some((w) => w.remotes.some((r) => r.tls)) ? chooseTlsRelay() : { connector: null };
    this.pidFile = path.join(o.stateDir, 'agent.pid');
    this.stateFile = path.join(o.stateDir, 'state.json');
  }

  get name(): string {
    return this.config.name ?? os.hostname();
  }

  async start(): Promise<void> {
    const problems = preflight(this.config);
    if (problems.length > 0) throw new Error(`refusing to start:\n  - ${problems.join('\n  - ')}`);
    makeStateDir(this.o.stateDir, 'journal');

    // An agent.pid left behind by a dead process means the last run did not stop cleanly: batches still inside the
    // coalescing window (not yet journaled) may be lost, so a full sync recovers them.
    // The single-instance check is the lock (instance-lock.ts), not the pid in agent.pid: that pid may be reused.
    if (!(await acquireInstanceLock(this.o.stateDir))) {
      let holder = '';
      try {
        const pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim());
        if (pid) holder = ` (pid ${pid})`;
      } catch {
        // starting, or its pid file removed by hand
      }
      throw new Error(`another agent${holder} is running with state dir ${this.o.stateDir}`);
    }
    this.lockHeld = true;
    let unclean = false;
    try {
      fs.readFileSync(this.pidFile, 'utf8');
      unclean = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    writeFileAtomic(this.pidFile, `${process.pid}\n`);
    this.running = true;
    this.pauses = new PauseStore(this.o.stateDir);
    this.rootIds = new RootIdentityStore(this.o.stateDir, this.o.log);

    for (const w of this.config.watches) {
      const root: Root = {
        path: w.path, queues: [], pending: [], timer: undefined, batchStartedAt: 0, lastEventAt: null, watching: false,
        burstEvents: 0, burstStartedAt: 0, burstTimer: undefined,
        identity: null, recovering: false, rootReplaced: 0, overflows: 0, touched: null,
        excludeRegex: sersyncExcludeMatchers(w.excludeRegex), events: w.events,
        watcher: undefined as unknown as RootWatcher,
        throttle: undefined as unknown as BusyPathThrottle,
      };
      root.throttle = new BusyPathThrottle((held) => {
        for (const q of root.queues) q.enqueue(held);
        this.markDirty();
      });
      for (const remote of w.remotes) {
        const id = targetId(w.path, remote);
        this.verifyStats.set(id, { runs: 0, lastRunAt: null, lastDurationMs: null, lastResult: null, missedByWatcher: 0, lastMissedAt: null, lastMissedPaths: [] });
        root.queues.push(new TargetQueue({
          id,
          tlsConnector: this.tlsRelay.connector,
          target: {
            root: w.path, remote, rsyncParams: w.rsyncParams, excludes: w.excludes,
            timeoutSec: this.config.timeoutSec, connectTimeoutSec: this.config.connectTimeoutSec,
            stallKillSec: this.config.stallKillSec,
          },
          excludeRegex: root.excludeRegex,
          deleteGuard: this.config.deleteGuard,
          checkRoot: () => this.rootIds.check(w.path),
          onPauseChange: (tid, pause) => this.pauses.write(tid, pause),
          journalFile: path.join(this.o.stateDir, 'journal', `${id}.jsonl`),
          retry: this.config.retry,
          maxPathsPerRun: this.config.maxPathsPerRun,
          fullSyncExcludes: w.fullSyncExcludes,
          log: this.o.log,
          rsyncBin: this.o.rsyncBin,
          warmStandbyGate: this.warm.on ? this.warm.gate : null,
          onChange: () => this.markDirty(),
          onProgress: (tid, p) => this.onProgress(tid, p),
        }));
      }
      root.watcher = this.createWatcher(root);
      this.roots.push(root);
    }

    // The queue size that counts is the one when the watches are created, now: read at construction, it could be stale
    // (the overflow test shrinks the queue in between, and a 2048-event threshold for a 64-event queue verified nothing).
    const auto = defaultAfterBurstEvents();
    this.afterBurst = { events: this.config.fullSync.afterBurstEvents ?? auto.events, queue: auto.queue };
    const queue = this.afterBurst.queue;
    this.o.log.info('watcher', this.useHelper
      ? { backend: 'inotify', why: 'reports every event, inotify queue overflows and raw file names' }
      : { backend: 'parcel', warning: 'the agent\'s inotify helper is not available (not Linux, not built, or RSYNCHUB_AGENT_WATCHER=parcel): @parcel/watcher misses a path created and deleted between deliveries, cannot report overflows and mangles non-UTF-8 names; verification catches what it misses' });
    // Once per process: how rsync runs are started (the native launcher, or node's spawn and why), launcher started now.
    prepareRsyncSpawn((level, msg, fields) => this.o.log[level](msg, fields));
    this.o.log.info('warm standby rsync', { on: this.warm.on, why: this.warm.why });
    if (this.useHelper) {
      // Overflows are reported by the kernel through the helper: no need to guess them from burst sizes.
    } else if (this.afterBurst.events > 0) {
      this.o.log.info('bursts are verified with a full sync', {
        afterBurstEvents: this.afterBurst.events, inotifyQueue: queue,
        why: 'the native watcher drops inotify queue overflows silently',
      });
    }
    if (this.config.watches.some((w) => w.remotes.some((r) => r.tls))) {
      const relay = this.tlsRelay;
      if (relay.connector) this.o.log.info('TLS relay', { backend: 'native', connector: relay.connector, why: 'OpenSSL in C: the fastest path' });
      else this.o.log.warn('TLS relay', { backend: 'node', why: relay.reason, cost: 'about 4x the CPU per byte of the native connector; same certificate checks' });
    }
    if (queue !== null && queue < 16384) {
      this.o.log.warn('small inotify queue: bursts will overflow it, each overflow means a full sync', { inotifyQueue: queue, fix: 'sysctl fs.inotify.max_queued_events=1048576' });
    }

    // Watch first, then sync: a change made during the full sync is caught by the watcher.
    for (const root of this.roots) {
      const identity = readRootIdentity(root.path);
      await root.watcher.start();
      root.identity = identity;
      root.watching = true;
      this.o.log.info('watching', { root: root.path, targets: root.queues.map((q) => q.snapshot().url) });
    }
    const watches = inotifyWatchUsage();
    if (watches) {
      const level = watches.used >= watches.limit * WATCH_LIMIT_SHARE ? 'warn' : 'info';
      this.o.log[level]('inotify watches (one per watched directory)', { used: watches.used, limit: watches.limit, ...(level === 'warn' ? { fix: 'sysctl fs.inotify.max_user_watches=<more>' } : {}) });
    }
    for (const root of this.roots) this.rootIds.record(root.path);
    this.applyPauseFiles();
    const fullAtStart = this.o.fullSyncAtStart || this.config.fullSync.onStart;
    for (const root of this.roots) {
      for (const q of root.queues) {
        if (fullAtStart) q.enqueueFullSync('start');
        else if (unclean && this.config.recoverWithFullSync) q.enqueueFullSync('previous run did not stop cleanly');
        q.kick(); // replays the journal
      }
    }
    if (this.config.fullSync.intervalSec > 0) {
      this.fullSyncTimer = setInterval(() => {
        for (const root of this.roots) for (const q of root.queues) q.enqueueFullSync('schedule', true, true);
      }, this.config.fullSync.intervalSec * 1000);
    }
    this.rootCheckTimer = setInterval(() => this.checkRoots(), ROOT_CHECK_MS);
    if (this.config.verify.intervalSec > 0) this.scheduleVerify(this.config.verify.intervalSec * 1000);
    this.stateTimer = setInterval(() => {
      this.applyPauseFiles();
      this.writeState();
    }, 500);
    this.writeState(true);
    if (this.config.heartbeat) {
      const hb = this.config.heartbeat;
      this.heartbeatTimer = setInterval(() => void this.sendHeartbeat(), hb.intervalSec * 1000);
      void this.sendHeartbeat();
    }
  }

  private createWatcher(root: Root): RootWatcher | InotifyWatcher {
    const o = {
      root: root.path,
      onEvents: (events: WatchEvent[], afterQuiet: boolean) => this.onEvents(root, events, afterQuiet),
      onError: (err: Error) => {
        this.o.log.error('watcher error; full sync of the root to recover', { root: root.path, error: err.message });
        for (const q of root.queues) q.enqueueFullSync(`watcher error: ${err.message}`, !this.stopping);
      },
      onRepush: (dirs: string[], reason: 'watched' | 'closing') => {
        this.o.log.debug(reason === 'watched' ? 'watching directories the native watcher missed; pushing them again' : 'pushing directories not yet checked or watched again before stopping', { root: root.path, dirs: dirs.length });
        this.onEvents(root, dirs.map((d) => ({ type: 'create', path: d })));
      },
      onOverflow: () => {
        root.overflows++;
        this.o.log.warn('inotify queue overflowed: the kernel dropped events; full sync of the root', {
          root: root.path, inotifyQueue: this.afterBurst.queue, fix: 'sysctl fs.inotify.max_queued_events=1048576',
        });
        for (const q of root.queues) q.enqueueFullSync('inotify queue overflow (events were lost)', !this.stopping);
        this.markDirty();
      },
      onRootGone: () => void this.rootReplaced(root, 'the watch on the root ended (deleted, moved or unmounted)'),
    };
    return this.useHelper ? new InotifyWatcher(o, this.o.watchRetryMs) : new RootWatcher(o, undefined, this.o.watchRetryMs);
  }

  /** Compares each root's identity with the one watched: a replaced or removed root is watched again. */
  private checkRoots(): void {
    for (const root of this.roots) {
      if (root.recovering || root.identity === null) continue;
      const now = readRootIdentity(root.path);
      const c = checkRoot(root.identity, now);
      if (c !== 'same') void this.rootReplaced(root, c === 'missing' ? 'the root is gone' : `the root is another directory now (${describeIdentity(now)})`);
    }
  }

  /**
   * The watched root was replaced (`rm -rf ROOT; mkdir ROOT`, a `mv` swap) or removed: the old watch sees nothing of the
   * new tree. Waits for a directory at the path, watches it, and runs a full sync (the target may be half-updated).
   */
  private async rootReplaced(root: Root, why: string): Promise<void> {
    if (root.recovering || this.stopping) return;
    root.recovering = true;
    root.watching = false;
    root.rootReplaced++;
    this.markDirty();
    this.o.log.warn('watched root replaced or removed: watching it again, then a full sync', { root: root.path, why, watched: describeIdentity(root.identity) });
    await root.watcher.close().catch(() => undefined);
    let waitingLogged = false;
    while (!this.stopping) {
      const identity = readRootIdentity(root.path);
      if (identity !== null) {
        root.watcher = this.createWatcher(root);
        try {
          await root.watcher.start();
        } catch (e) {
          this.o.log.error('cannot watch the root again; retrying', { root: root.path, error: (e as Error).message });
          await new Promise((r) => setTimeout(r, ROOT_CHECK_MS));
          continue;
        }
        if (this.stopping) break;
        if (checkRoot(identity, readRootIdentity(root.path)) !== 'same') {
          await root.watcher.close().catch(() => undefined); // replaced again meanwhile
          continue;
        }
        root.identity = identity;
        root.watching = true;
        this.o.log.warn('watching the new root; full sync', { root: root.path, identity: describeIdentity(identity) });
        for (const q of root.queues) q.enqueueFullSync('the watched root was replaced');
        break;
      }
      if (!waitingLogged) this.o.log.warn('watched root is missing; waiting for it to come back', { root: root.path });
      waitingLogged = true;
      await new Promise((r) => setTimeout(r, ROOT_CHECK_MS / 4));
    }
    root.recovering = false;
    this.markDirty();
  }

  private scheduleVerify(ms: number): void {
    if (this.stopping) return;
    if (this.verifyTimer) clearTimeout(this.verifyTimer);
    this.verifyTimer = setTimeout(() => {
      this.verifyTimer = undefined;
      void this.verifyNow().then((busy) => this.scheduleVerify(busy ? VERIFY_BUSY_RETRY_MS : this.config.verify.intervalSec * 1000));
    }, ms);
    this.verifyTimer.unref?.();
  }

  /**
   * Verifies every target once (see verify.ts). A target with work queued or in flight, or a root with unflushed
   * events, is skipped: its differences would be explained anyway. Resolves true when something was skipped as busy.
   */
  async verifyNow(): Promise<boolean> {
    if (this.verifying) {
      await this.verifying;
      return false;
    }
    let busy = false;
    const run = (async () => {
      for (const root of this.roots) {
        for (const q of root.queues) {
          if (this.stopping) return;
          const snap = q.snapshot();
          // A paused target runs nothing until `resume` (its differences are the guard's business, not missed events).
          if (q.paused) continue;
          // A root replaced since it was watched (not yet noticed) would show its whole tree as missed: wait for the
          // re-watch, whose full sync goes through the delete guard.
          const replaced = root.identity !== null && checkRoot(root.identity, readRootIdentity(root.path)) !== 'same';
          if (replaced || root.recovering || !root.watching || snap.queueLength > 0 || snap.inFlight || root.pending.length > 0 || root.timer) {
            busy = true;
            continue;
          }
          await this.verifyTarget(root, q);
        }
      }
    })();
    this.verifying = run;
    try {
      await run;
    } finally {
      this.verifying = null;
    }
    return busy;
  }

  private async verifyTarget(root: Root, q: TargetQueue): Promise<void> {
    const stats = this.verifyStats.get(q.snapshot().id)!;
    const cfg = this.config.watches.find((w) => w.path === root.path)!;
    const t = q.snapshot();
    root.touched = new Set();
    let res;
    const remote = cfg.remotes.find((r) => targetId(root.path, r) === t.id)!;
    try {
      res = await runVerify(buildVerifyArgs({
        root: root.path, remote, rsyncParams: cfg.rsyncParams,
        excludes: cfg.excludes, timeoutSec: this.config.timeoutSec, connectTimeoutSec: this.config.connectTimeoutSec,
      }, cfg.fullSyncExcludes), root.path, this.o.rsyncBin, this.verifyAbort.signal, tlsTransport(remote, this.config.connectTimeoutSec, this.tlsRelay.connector));
    } finally {
      // Changes still queued explain differences too (seen before the run ended, not yet on the target).
      for (const e of q.journal.pending()) for (const c of e.changes) root.touched?.add(c.path);
    }
    const touched = root.touched;
    root.touched = null;
    stats.runs++;
    stats.lastRunAt = new Date().toISOString();
    stats.lastDurationMs = res.durationMs;
    stats.lastResult = res.ok ? `${res.diffs.length} differences` : res.message;
    this.markDirty();
    if (!res.ok) {
      if (!this.stopping) this.o.log.warn('verification failed', { target: t.id, error: res.message });
      return;
    }
    if (q.journal.pending().some((e) => e.full)) return; // a full sync is on its way: it settles everything
    const unexplained = res.diffs.filter((d) => !isExplained(d, touched));
    // Paths the agent is configured not to push (excludeRegex, events switches) are not the watcher's misses.
    const asChanges = (diffs: readonly Difference[]) => coalesce(root.path, diffs.map((d) => ({ type: d.kind, path: d.path === '.' ? root.path : path.join(root.path, d.path) })), {
      excludeRegex: root.excludeRegex, ...root.events,
    });
    const toPush = asChanges(unexplained);
    const changes = asChanges(missedDifferences(res.diffs, touched));
    this.o.log.debug('verification', { target: t.id, differences: res.diffs.length, missed: changes.length, durationMs: res.durationMs });
    if (changes.length === 0) {
      if (toPush.length > 0) q.enqueue(toPush); // only directory times that followed a seen change: push, not a miss
      return;
    }
    stats.missedByWatcher += changes.length;
    stats.lastMissedAt = new Date().toISOString();
    stats.lastMissedPaths = changes.slice(0, MISSED_PATHS_KEPT).map((c) => c.path);
    this.o.log.warn('verification: changes missed by the watcher; pushing them', {
      target: t.id, missed: changes.length, paths: changes.slice(0, 50).map((c) => `${c.kind} ${c.path}`),
    });
    q.enqueue(toPush);
  }

  /** Self-verification results per target id. */
  verification(): Record<string, VerifyStats> {
    return Object.fromEntries([...this.verifyStats].map(([id, v]) => [id, { ...v, lastMissedPaths: [...v.lastMissedPaths] }]));
  }

  private onEvents(root: Root, events: WatchEvent[], afterQuiet = false): void {
    if (events.length === 0) return;
    if (root.touched) {
      for (const e of events) {
        const rel = relativeTo(root.path, e.path);
        if (rel !== null) root.touched.add(rel);
      }
    }
    this.trackBurst(root, events.length);
    root.pending.push(...events);
    root.lastEventAt = new Date().toISOString();
    // Push once the tree has been quiet for batchDelayMs: a burst (an unpacked archive, a build) becomes one batch
    // instead of many runs racing the writer. maxBatchDelayMs bounds the wait, so a never-ending stream still moves.
    // When the watcher itself only delivered after 50 ms of quiet, that quiet counts: a few ms gather the callbacks
    // of the same delivery (extra subscriptions), then the batch goes.
    const quietMs = afterQuiet ? Math.min(SAME_DELIVERY_MS, this.config.batchDelayMs) : this.config.batchDelayMs;
    const now = Date.now();
    if (!root.timer) root.batchStartedAt = now;
    else clearTimeout(root.timer);
    const left = root.batchStartedAt + Math.max(this.config.maxBatchDelayMs, this.config.batchDelayMs) - now;
    // No wait asked for (batchDelayMs 0): push in this very callback; a timer hop costs a loop turn, more under load.
    if (quietMs <= 0 || left <= 0) {
      this.flush(root);
      return;
    }
    root.timer = setTimeout(() => this.flush(root), Math.min(quietMs, left));
  }

  /**
   * Counts a burst's events; once it is over, a large one is verified with a full sync of the root. @parcel/watcher
   * skips IN_Q_OVERFLOW without telling (measured: with a 256-event queue, 293 of 10,000 appends never arrived), so an
   * overflow cannot be seen, only made unlikely to matter: a burst big enough to have overflowed the queue is checked.
   */
  private trackBurst(root: Root, events: number): void {
    if (root.burstEvents === 0) root.burstStartedAt = Date.now();
    root.burstEvents += events;
    if (root.burstTimer) clearTimeout(root.burstTimer);
    if (Date.now() - root.burstStartedAt >= BURST_MAX_MS) this.endBurst(root, true);
    else root.burstTimer = setTimeout(() => this.endBurst(root, true), BURST_END_QUIET_MS);
  }

  private endBurst(root: Root, start: boolean): void {
    if (root.burstTimer) clearTimeout(root.burstTimer);
    root.burstTimer = undefined;
    const events = root.burstEvents;
    root.burstEvents = 0;
    if (this.useHelper) return; // overflows are reported exactly (onOverflow)
    if (this.afterBurst.events <= 0 || events < this.afterBurst.events) return;
    for (const q of root.queues) q.enqueueFullSync(`verify a burst of ${events} events (an inotify overflow would go unreported)`, start);
  }

  private flush(root: Root): void {
    if (root.timer) clearTimeout(root.timer);
    root.timer = undefined;
    const events = root.pending;
    root.pending = [];
    const changes = root.throttle.filter(coalesce(root.path, events, { excludeRegex: root.excludeRegex, ...root.events }));
    if (changes.length === 0) return;
    this.o.log.debug('batch', { root: root.path, events: events.length, changes: changes.length });
    for (const q of root.queues) q.enqueue(changes);
    this.markDirty();
  }

  /** Applies `rsynchub-agent pause|resume` (files in STATE_DIR/paused/) to the queues. */
  private applyPauseFiles(): void {
    const requests = this.pauses.readAll();
    for (const root of this.roots) {
      for (const q of root.queues) {
        const id = q.snapshot().id;
        const r = requests.get(id);
        if (r?.paused && !q.paused) q.pause(r.reason, false);
        else if (r && !r.paused) {
          // An explicit resume: accept the root as it is now (device/identity) and drop the request.
          this.rootIds.record(root.path, true);
          this.pauses.write(id, null);
          if (q.paused) q.resume(false);
        }
      }
    }
  }

  private onProgress(id: string, p: Progress | null): void {
    if (p === null) {
      delete this.progress[id];
      this.markDirty();
      return;
    }
    this.progress[id] = p;
    this.markDirty();
    const s = this.o.progressStream;
    if (s && s.isTTY) {
      s.write(`\r${id.slice(0, 24).padEnd(24)} ${renderProgressBar(p)}   `);
      if (p.percent >= 100 && p.toCheck === 0) s.write('\n');
    } else if (Date.now() - this.lastProgressLog > 2000) {
      this.lastProgressLog = Date.now();
      this.o.log.info('full sync progress', { target: id, ...p });
    }
  }

  private markDirty(): void {
    this.stateDirty = true;
  }

  snapshot(): AgentState {
    return {
      pid: process.pid,
      name: this.name,
      hostname: os.hostname(),
      version: AGENT_VERSION,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      running: this.running,
      rsyncSpawns: spawnCounter.count,
      rsyncSpawn: prepareRsyncSpawn().way,
      ...(launcherPid() ? { rsyncLauncherPid: launcherPid() } : {}),
      warmStandby: { on: this.warm.on, why: this.warm.why },
      ...(this.config.watches.some((w) => w.remotes.some((r) => r.tls)) ? { tlsRelay: this.tlsRelay.connector ? 'native' as const : 'node' as const } : {}),
      watches: this.roots.map((r) => ({
        path: r.path, watching: r.watching, lastEventAt: r.lastEventAt, watcher: this.useHelper ? 'inotify' : 'parcel',
        rootReplaced: r.rootReplaced, overflows: r.overflows,
      })),
      verification: this.verification(),
      targets: this.roots.flatMap((r) => r.queues.map((q) => q.snapshot())),
      fullSyncProgress: this.progress,
    };
  }

  /** Writes state.json atomically; `status` reads it. Lag grows while work is pending, so write every tick then. */
  private writeState(force = false): void {
    const snap = this.snapshot();
    const busy = snap.targets.some((t) => t.queueLength > 0);
    if (!force && !this.stateDirty && !busy) return;
    this.stateDirty = false;
    try {
      writeFileAtomic(this.stateFile, JSON.stringify(snap, null, 2) + '\n');
    } catch (e) {
      this.o.log.warn('cannot write state file', { file: this.stateFile, error: (e as Error).message });
    }
  }

  async sendHeartbeat(): Promise<void> {
    const hb = this.config.heartbeat;
    if (!hb) return;
    try {
      const token = hb.token ?? fs.readFileSync(hb.tokenFile!, 'utf8').trim();
      const snap = this.snapshot();
      const body: SourceHeartbeatRequest = {
        name: snap.name,
        hostname: snap.hostname,
        version: snap.version,
        targets: snap.targets.map((t) => ({
          host: t.host, port: t.port, module: t.module, queueLength: t.queueLength, lagMs: t.lagMs,
          lastSuccessAt: t.lastSuccessAt, lastError: t.lastError, paused: t.paused, pauseReason: t.pauseReason,
          missedByWatcher: snap.verification?.[t.id]?.missedByWatcher ?? 0,
          lastMissedPaths: snap.verification?.[t.id]?.lastMissedPaths ?? [],
        })),
      };
      const res = await fetch(`${hb.url.replace(/\/+$/, '')}/api/v1/sources/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) this.o.log.warn('heartbeat rejected', { status: res.status, url: hb.url });
    } catch (e) {
      this.o.log.warn('heartbeat failed', { url: hb.url, error: (e as Error).message });
    }
  }

  /** Clean stop: flush open batches into the journals, let in-flight runs finish, remove the pid file. */
  async stop(): Promise<void> {
    if (!this.running) return;
    // Timers first: nothing may start a (possibly long) full sync while stopping; what is due is journaled instead.
    this.stopping = true;
    if (this.fullSyncTimer) clearInterval(this.fullSyncTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.stateTimer) clearInterval(this.stateTimer);
    if (this.rootCheckTimer) clearInterval(this.rootCheckTimer);
    if (this.verifyTimer) clearTimeout(this.verifyTimer);
    this.verifyAbort.abort();
    if (this.verifying) await this.verifying.catch(() => undefined);
    for (const root of this.roots) {
      if (root.burstTimer) clearTimeout(root.burstTimer);
      await root.watcher.close();
      root.watching = false;
      this.flush(root);
      root.throttle.flushAll();
      this.endBurst(root, false); // journaled, run at the next start
    }
    await Promise.all(this.roots.flatMap((r) => r.queues.map((q) => q.stop())));
    this.running = false;
    this.writeState(true);
    try {
      fs.unlinkSync(this.pidFile);
    } catch {
      // already gone
    }
    if (this.lockHeld) releaseInstanceLock(this.o.stateDir);
    this.lockHeld = false;
    this.o.log.info('stopped');
  }

  /** All queues' stats (tests and status). */
  targets(): TargetStats[] {
    return this.roots.flatMap((r) => r.queues.map((q) => q.snapshot()));
  }

  /** Directories that cannot be watched for now (see RootWatcher.unwatched). */
  unwatched(): string[] {
    return this.roots.flatMap((r) => r.watcher.unwatched);
  }

  retryNow(): void {
    for (const r of this.roots) for (const q of r.queues) q.retryNow();
  }
}

export function defaultStateDir(): string {
  return path.join(os.homedir(), '.rsynchub-agent');
}

export function readState(stateDir: string): AgentState | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as AgentState;
  } catch {
    return null;
  }
}

export { pidAlive };
