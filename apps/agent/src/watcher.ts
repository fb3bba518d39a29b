/**
 * Recursive watch of one root with @parcel/watcher (inotify on Linux).
 *
 * Two gaps of the native watcher are closed here:
 * - an error means events may be lost: the caller gets onError and runs a full sync of this root. (An inotify queue
 *   overflow is *not* an error here: @parcel/watcher skips IN_Q_OVERFLOW silently; the agent verifies large bursts
 *   instead, see Agent.trackBurst.)
 * - a directory *moved into* the tree is reported as one create event, and the watcher does not add watches for the
 *   subdirectories inside it (measured: writes in root/moved/sub/ go unreported). The same happens to subdirectories
 *   created in the instant between a directory's creation and the watcher adding its watch (`mkdir -p a/b`, an unpacked
 *   archive). So each created directory's subdirectories are candidates for an extra subscription rooted at them
 *   (dropped when they are deleted or moved away); the caller re-pushes each such directory once its watch is in place,
 *   so changes made in between are not lost. A candidate is dropped as soon as the watcher proves it watches it: it
 *   reported the subdirectory's creation (it adds a watch when it does) or an event inside it. Only subscribing the
 *   unproven ones matters for bursts: a subscription over a subtree the watcher already covers makes it do all of
 *   that subtree's work twice (measured: a 10,000-file burst under one new directory reached us as ~20,000 events).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as watcher from '@parcel/watcher';
import type { WatchEvent } from './change-set';

export interface RootWatcherOptions {
  root: string;
  /** `afterQuiet`: the watcher delivered these because the tree had been quiet for 50 ms (see DeliveryClock). */
  onEvents: (events: WatchEvent[], afterQuiet: boolean) => void;
  onError: (err: Error) => void;
  /**
   * Directories whose subtrees must be pushed again: a new subscription is in place (writes made before it went
   * unreported), or, at close, candidates that were never proven watched.
   */
  onRepush?: (dirs: string[], reason: 'watched' | 'closing') => void;
}

/**
 * Tells why @parcel/watcher delivered a batch of events, from when it did. Its debounce (one per process, shared by all
 * subscriptions) delivers an event at once when the last delivery is more than 500 ms old; otherwise it waits until
 * 50 ms pass without events, but delivers at the latest 500 ms after the last delivery. So a delivery less than 500 ms
 * after the previous one means the tree has just been quiet for 50 ms: the caller need not wait for more quiet. Callbacks
 * of several subscriptions for one delivery arrive within a few ms of each other and get the same answer.
 */
export class DeliveryClock {
  private cycleStart = -Infinity;
  private cycleAfterQuiet = false;

  constructor(private readonly quietPathMaxGapMs = 450, private readonly sameCycleMs = 20) {}

  afterQuiet(nowMs: number): boolean {
    const gap = nowMs - this.cycleStart;
    if (gap < this.sameCycleMs) return this.cycleAfterQuiet;
    this.cycleStart = nowMs;
    this.cycleAfterQuiet = gap < this.quietPathMaxGapMs;
    return this.cycleAfterQuiet;
  }
}

/** One per process, like the watcher's debounce. */
const deliveryClock = new DeliveryClock();

/**
 * How long a candidate subdirectory may wait for proof that the watcher saw it. The watcher delivers at most every
 * 500 ms while events keep coming, so this leaves it one full delivery; a candidate subscribed without need only costs
 * duplicate events for its subtree, never a lost change.
 */
export const CANDIDATE_PROOF_WAIT_MS = 1000;

export class RootWatcher {
  private sub: watcher.AsyncSubscription | null = null;
  /** Extra subscriptions rooted at directories the root subscription may not watch. */
  private readonly subtrees = new Map<string, watcher.AsyncSubscription>();
  /** Subdirectories of created directories the watcher has not yet been seen to watch, by the created directory. */
  private readonly candidates = new Map<string, Set<string>>();
  private candidateTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Directories reported created since the last takeCreatedDirs(): each needs an inotify watch. */
  private createdDirs = 0;

  constructor(private readonly o: RootWatcherOptions, private readonly proofWaitMs = CANDIDATE_PROOF_WAIT_MS) {}

  async start(): Promise<void> {
    this.sub = await watcher.subscribe(this.o.root, (err, events) => this.handle(err, events));
  }

  private handle(err: Error | null, events: watcher.Event[]): void {
    if (this.closed) return;
    if (err) {
      this.o.onError(err);
      return;
    }
    // Overlapping subscriptions may report the same change twice; batches are sets of paths, so that is harmless.
    this.o.onEvents(events.map((e) => ({ type: e.type, path: e.path })), deliveryClock.afterQuiet(performance.now()));
    for (const e of events) {
      if (e.type === 'delete') this.dropSubtrees(e.path);
      else if (e.type === 'create') this.checkNewDir(e.path);
    }
    // Proof comes after the candidates of the same delivery are listed: a delivery may hold both a directory's
    // creation and its subdirectories'.
    if (this.candidates.size > 0) for (const e of events) proveWatched(this.candidates, e);
  }

  /** Lists a created directory's subdirectories as candidates for an extra subscription. */
  private checkNewDir(dir: string): void {
    if (this.subtrees.has(dir)) return;
    let subdirs: string[];
    try {
      if (!fs.lstatSync(dir).isDirectory()) return;
      this.createdDirs++;
      subdirs = fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(dir, d.name));
    } catch {
      return; // gone already: its delete event follows
    }
    if (subdirs.length === 0) return;
    this.candidates.set(dir, new Set(subdirs));
    this.candidateTimer ??= setTimeout(() => this.subscribeCandidates(), this.proofWaitMs);
  }

  /**
   * Subscribes the candidates still unproven. When none of a directory's subdirectories was proven, the directory
   * was moved in whole: one subscription rooted at it covers them all (a new root means a fresh scan of what is on disk
   * now). Re-subscribing the root instead is not reliable: @parcel/watcher reuses its cached directory tree for a root
   * that is still watched, stale entries included (measured under load).
   */
  private subscribeCandidates(): void {
    this.candidateTimer = undefined;
    if (this.closed) return;
    const dirs = new Set<string>();
    for (const [dir, unproven] of this.candidates) {
      let all = true;
      try {
        all = fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).every((d) => unproven.has(path.join(dir, d.name)));
      } catch {
        continue; // gone: its delete event follows
      }
      if (all) dirs.add(dir);
      else for (const d of unproven) dirs.add(d);
    }
    this.candidates.clear();
    for (const dir of dirs) {
      // A directory inside another one subscribed here is covered by that subscription.
      if ([...dirs].some((other) => other !== dir && isInside(other, dir))) continue;
      this.subscribeSubtree(dir);
    }
  }

  private subscribeSubtree(dir: string): void {
    if (this.subtrees.has(dir)) return;
    const pending = watcher.subscribe(dir, (err, events) => this.handle(err, events));
    pending.then(
      (sub) => {
        if (this.closed || this.subtrees.has(dir)) {
          void sub.unsubscribe();
          return;
        }
        this.subtrees.set(dir, sub);
        // Anything written beneath it before this watch existed is caught by pushing the subtree again now.
        this.o.onRepush?.([dir], 'watched');
      },
      (e: Error) => {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || !fs.existsSync(dir)) return; // removed meanwhile
        this.o.onError(e);
      },
    );
  }

  private dropSubtrees(deleted: string): void {
    for (const [dir, sub] of this.subtrees) {
      if (dir === deleted || isInside(deleted, dir)) {
        this.subtrees.delete(dir);
        void sub.unsubscribe().catch(() => undefined);
      }
    }
  }

  /** How many directories were reported created since the last call. */
  takeCreatedDirs(): number {
    const n = this.createdDirs;
    this.createdDirs = 0;
    return n;
  }

  /** Directories with an extra subscription of their own. */
  get extraSubscriptions(): string[] {
    return [...this.subtrees.keys()].sort();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.candidateTimer) clearTimeout(this.candidateTimer);
    this.candidateTimer = undefined;
    // Candidates still waiting for proof may be unwatched: push them once more, so a write made in one of them since
    // its parent was pushed is not left behind by a clean stop.
    const unproven = [...this.candidates.values()].flatMap((set) => [...set]);
    this.candidates.clear();
    if (unproven.length > 0) this.o.onRepush?.(unproven, 'closing');
    const subs = [this.sub, ...this.subtrees.values()];
    this.subtrees.clear();
    this.sub = null;
    await Promise.all(subs.map((s) => s?.unsubscribe().catch(() => undefined)));
  }
}

/**
 * Drops candidates (created directory -> its unproven subdirectories) the watcher is proven to watch: it reported the
 * subdirectory's creation (it adds a watch when it does) or an event directly inside it (only a watch on it reports
 * those). Deleted ones need no watch; a created directory that is deleted (or whose ancestor is) takes its candidates.
 */
export function proveWatched(candidates: Map<string, Set<string>>, e: WatchEvent): void {
  const parent = path.dirname(e.path);
  for (const [dir, unproven] of candidates) {
    if (e.type === 'delete' && (e.path === dir || isInside(e.path, dir))) {
      candidates.delete(dir);
      continue;
    }
    unproven.delete(parent);
    if (e.type === 'create' || e.type === 'delete') unproven.delete(e.path);
    if (unproven.size === 0) candidates.delete(dir);
  }
}

/** Where Linux tells how many inotify watches one user may hold. */
export const INOTIFY_WATCHES_FILE = '/proc/sys/fs/inotify/max_user_watches';

/** Counts the watches in the text of /proc/PID/fdinfo/FD of an inotify descriptor (one `inotify wd:` line each). */
export function countInotifyWatches(fdinfo: string): number {
  let n = 0;
  for (let i = fdinfo.indexOf('inotify wd:'); i !== -1; i = fdinfo.indexOf('inotify wd:', i + 11)) n++;
  return n;
}

/**
 * Inotify watches held by this user's processes (this agent's among them) and the per-user limit, or null where /proc
 * cannot tell. When the limit is reached, inotify_add_watch fails and @parcel/watcher leaves a new directory unwatched
 * without a word, so the agent checks this after bursts that created directories.
 */
export function inotifyWatchUsage(procRoot = '/proc', limitFile = INOTIFY_WATCHES_FILE, uid = process.getuid?.()): { used: number; limit: number } | null {
  let limit: number;
  let pids: string[];
  try {
    limit = Number(fs.readFileSync(limitFile, 'utf8').trim());
    pids = fs.readdirSync(procRoot).filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  if (!Number.isFinite(limit) || limit <= 0) return null;
  let used = 0;
  for (const pid of pids) {
    const dir = path.join(procRoot, pid);
    try {
      if (uid !== undefined && fs.statSync(dir).uid !== uid) continue;
      for (const fd of fs.readdirSync(path.join(dir, 'fd'))) {
        if (fs.readlinkSync(path.join(dir, 'fd', fd)) !== 'anon_inode:inotify') continue;
        used += countInotifyWatches(fs.readFileSync(path.join(dir, 'fdinfo', fd), 'utf8'));
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return { used, limit };
}

export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}
