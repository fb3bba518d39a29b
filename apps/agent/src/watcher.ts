/**
 * Recursive watch of one root with @parcel/watcher (inotify on Linux).
 *
 * Gaps of the native watcher closed here, each of which would lose changes without a word:
 * - an error means events may be lost: the caller gets onError and runs a full sync of this root. (An inotify queue
 *   overflow is *not* an error here: @parcel/watcher skips IN_Q_OVERFLOW silently; the agent verifies large bursts
 *   instead, see Agent.trackBurst.)
 * - some directories are never watched: a directory *moved into* the tree (or replacing one, reported as an update) is
 *   watched but not its subdirectories (renamed inside the tree, they stay watched under their old paths);
 *   subdirectories created in the instant before the watcher adds a watch on their
 *   parent (`mkdir -p a/b`, an unpacked archive) are missed; and when the per-user watch limit is reached, adding a
 *   watch fails and nothing is said. So every directory reported created or changed is checked, a second later, against
 *   the watches inotify really holds (/proc/self/fdinfo lists each watched inode): it and its subdirectories. An
 *   unwatched one gets a subscription of its own (dropped when it is deleted or moved away), and the caller re-pushes
 *   it once the watch is in place, so changes made in between are not lost. A subscription that fails (the watch
 *   limit) is reported as an error (a full sync) and retried every minute until it succeeds. Subscribing only what is
 *   really unwatched matters for bursts: a subscription over a subtree the watcher already covers makes it do all of
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
   * unreported), or, at close, directories not yet checked or not watched.
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
 * How long after a directory is reported its watches are checked: by then the watcher has processed the events queued
 * behind it (so a subdirectory it does watch is not mistaken for a missed one), and a burst's directories are checked
 * together.
 */
export const WATCH_CHECK_DELAY_MS = 1000;
/** How often subscriptions that failed (the watch limit) are tried again; each failure also means a full sync. */
export const WATCH_RETRY_MS = 60_000;

export class RootWatcher {
  private sub: watcher.AsyncSubscription | null = null;
  /** Extra subscriptions rooted at directories the root subscription does not watch. */
  private readonly subtrees = new Map<string, watcher.AsyncSubscription>();
  /** Extra subscriptions being set up. */
  private readonly starting = new Set<string>();
  /**
   * Directories reported created or changed, whose watches (theirs and their subdirectories') are checked next, with
   * how they were reported ('create' wins over 'update').
   */
  private readonly toCheck = new Map<string, 'create' | 'update'>();
  /** Directories reported created since the last check: the watcher added their watches itself, under the right path. */
  private readonly createdSinceCheck = new Set<string>();
  private checkTimer: NodeJS.Timeout | undefined;
  /** Directories whose subscription failed, tried again every retryMs. */
  private readonly retry = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly o: RootWatcherOptions,
    private readonly checkDelayMs = WATCH_CHECK_DELAY_MS,
    private readonly retryMs = WATCH_RETRY_MS,
    private readonly watchedKeys: () => Set<string> | null = watchedDirKeys,
  ) {}

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
      else this.noteDir(e.path, e.type); // 'update' too: a directory replaced by another in one delivery is reported so
    }
  }

  private noteDir(p: string, kind: 'create' | 'update'): void {
    try {
      if (!fs.lstatSync(p).isDirectory()) return;
    } catch {
      return; // gone already: its delete event follows
    }
    if (kind === 'create') this.createdSinceCheck.add(p);
    if (this.toCheck.get(p) !== 'create') this.toCheck.set(p, kind);
    this.checkTimer ??= setTimeout(() => this.checkWatches(), this.checkDelayMs);
  }

  /**
   * Subscribes what inotify does not watch among the noted directories and their subdirectories. When a noted
   * directory is watched but none of its (several) subdirectories are, it was moved in whole: one subscription rooted at
   * it covers them all (a new root means a fresh scan of what is on disk now). Re-subscribing the root instead is not
   * reliable: @parcel/watcher reuses its cached directory tree for a root that is still watched, stale entries included
   * (measured under load). Where /proc cannot tell what is watched, every subdirectory counts as missed.
   */
  private checkWatches(): void {
    this.checkTimer = undefined;
    if (this.closed) return;
    const noted = [...this.toCheck];
    const created = new Set(this.createdSinceCheck);
    this.toCheck.clear();
    this.createdSinceCheck.clear();
    const watched = this.watchedKeys();
    const isWatched = (st: fs.BigIntStats) => watched !== null && watched.has(dirKey(st.dev, st.ino));
    const unwatched = new Set<string>();
    for (const [dir, kind] of noted) {
      try {
        const st = fs.lstatSync(dir, { bigint: true });
        if (!st.isDirectory()) continue;
        if (watched !== null && !isWatched(st)) {
          unwatched.add(dir);
          continue;
        }
        const subdirs = fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(dir, d.name));
        // Under a created directory, a subdirectory is only trusted when the watcher reported creating it too: one
        // that was already watched came along with a rename inside the tree, and the watcher keeps reporting its
        // events under the old path (measured: writes in renamed/y/z/ arrived as old/y/z/...).
        const missed = subdirs.filter((sub) => {
          try {
            return !isWatched(fs.lstatSync(sub, { bigint: true })) || (kind === 'create' && !created.has(sub));
          } catch {
            return false; // gone meanwhile
          }
        });
        if (missed.length > 1 && missed.length === subdirs.length) unwatched.add(dir);
        else for (const sub of missed) unwatched.add(sub);
      } catch {
        // gone meanwhile: its delete event follows
      }
    }
    for (const dir of unwatched) {
      // One inside another subscribed here is covered by that subscription.
      if ([...unwatched].some((other) => other !== dir && isInside(other, dir))) continue;
      this.subscribeSubtree(dir);
    }
  }

  private subscribeSubtree(dir: string): void {
    if (this.subtrees.has(dir) || this.starting.has(dir)) return;
    this.starting.add(dir);
    watcher.subscribe(dir, (err, events) => this.handle(err, events)).then(
      (sub) => {
        this.starting.delete(dir);
        if (this.closed || this.subtrees.has(dir)) {
          void sub.unsubscribe();
          return;
        }
        this.subtrees.set(dir, sub);
        this.retry.delete(dir);
        // Anything written beneath it before this watch existed is caught by pushing the subtree again now.
        this.o.onRepush?.([dir], 'watched');
      },
      (e: Error) => {
        this.starting.delete(dir);
        if (this.closed || (e as NodeJS.ErrnoException).code === 'ENOENT' || !fs.existsSync(dir)) {
          this.retry.delete(dir);
          return; // removed meanwhile
        }
        // Typically the watch limit: nothing beneath it is reported until a retry succeeds; full syncs meanwhile.
        this.retry.add(dir);
        this.retryTimer ??= setTimeout(() => this.retryFailed(), this.retryMs);
        this.o.onError(new Error(`cannot watch ${dir} (${e.message}); full syncs until it can, retried every ${Math.round(this.retryMs / 1000)} s`));
      },
    );
  }

  private retryFailed(): void {
    this.retryTimer = undefined;
    if (this.closed) return;
    for (const dir of this.retry) this.subscribeSubtree(dir);
  }

  private dropSubtrees(deleted: string): void {
    for (const [dir, sub] of this.subtrees) {
      if (dir === deleted || isInside(deleted, dir)) {
        this.subtrees.delete(dir);
        void sub.unsubscribe().catch(() => undefined);
      }
    }
    for (const dir of this.retry) if (dir === deleted || isInside(deleted, dir)) this.retry.delete(dir);
  }

  /** Directories with an extra subscription of their own. */
  get extraSubscriptions(): string[] {
    return [...this.subtrees.keys()].sort();
  }

  /** Directories that cannot be watched for now (their subscription failed; retried). */
  get unwatched(): string[] {
    return [...this.retry].sort();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.checkTimer) clearTimeout(this.checkTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.checkTimer = this.retryTimer = undefined;
    // Directories not yet checked, not yet watched or not watchable may hold unreported writes: push them once more, so
    // a clean stop leaves nothing behind.
    const again = [...new Set([...this.toCheck.keys(), ...this.starting, ...this.retry])];
    this.toCheck.clear();
    this.createdSinceCheck.clear();
    this.starting.clear();
    this.retry.clear();
    if (again.length > 0) this.o.onRepush?.(again, 'closing');
    const subs = [this.sub, ...this.subtrees.values()];
    this.subtrees.clear();
    this.sub = null;
    await Promise.all(subs.map((s) => s?.unsubscribe().catch(() => undefined)));
  }
}

/** Key of a directory in the set watchedDirKeys() returns: the device as stat() reports it, and the inode. */
export function dirKey(dev: number | bigint, ino: number | bigint): string {
  return `${dev}:${ino}`;
}

/**
 * The kernel's device number (fdinfo `sdev:`, major << 20 | minor) in the encoding stat() reports (new_encode_dev:
 * minor's low byte, major << 8, minor's high bits << 12).
 */
export function userDev(kernelDev: number): number {
  const major = Math.floor(kernelDev / 2 ** 20);
  const minor = kernelDev % 2 ** 20;
  return (minor & 0xff) + major * 256 + (minor - (minor & 0xff)) * 4096;
}

/** The watched inodes in the text of /proc/PID/fdinfo/FD of an inotify descriptor, as dirKey()s. */
export function parseInotifyFdinfo(fdinfo: string): string[] {
  const keys: string[] = [];
  for (const m of fdinfo.matchAll(/^inotify wd:\S+ ino:([0-9a-f]+) sdev:([0-9a-f]+)/gm)) {
    keys.push(dirKey(userDev(parseInt(m[2]!, 16)), BigInt(`0x${m[1]}`)));
  }
  return keys;
}

/**
 * The fdinfo texts of a process's inotify descriptors (`/proc/PID`). Throws when its descriptors cannot be listed;
 * a descriptor closed meanwhile is skipped.
 */
function inotifyFdinfos(procDir: string): string[] {
  const texts: string[] = [];
  for (const fd of fs.readdirSync(path.join(procDir, 'fd'))) {
    try {
      if (fs.readlinkSync(path.join(procDir, 'fd', fd)) !== 'anon_inode:inotify') continue;
      texts.push(fs.readFileSync(path.join(procDir, 'fdinfo', fd), 'utf8'));
    } catch {
      // closed meanwhile
    }
  }
  return texts;
}

/** Every inode this process's inotify instances watch, as dirKey()s; null where /proc cannot tell. */
export function watchedDirKeys(proc = '/proc/self'): Set<string> | null {
  try {
    return new Set(inotifyFdinfos(proc).flatMap(parseInotifyFdinfo));
  } catch {
    return null;
  }
}

/** Where Linux tells how many inotify watches one user may hold. */
export const INOTIFY_WATCHES_FILE = '/proc/sys/fs/inotify/max_user_watches';

/** Counts the watches in the text of /proc/PID/fdinfo/FD of an inotify descriptor (one `inotify wd:` line each). */
export function countInotifyWatches(fdinfo: string): number {
  return parseInotifyFdinfo(fdinfo).length;
}

/**
 * Inotify watches held by this user's processes (this agent's among them) and the per-user limit, or null where /proc
 * cannot tell. Logged at start: when the limit is reached, new directories cannot be watched (see checkWatches).
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
      for (const text of inotifyFdinfos(dir)) used += countInotifyWatches(text);
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
