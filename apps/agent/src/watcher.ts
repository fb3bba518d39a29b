/**
 * Recursive watch of one root with @parcel/watcher (inotify on Linux).
 *
 * Two gaps of the native watcher are closed here:
 * - an error (including an inotify queue overflow) means events may be lost: the caller gets onError and runs a full
 *   sync of this root, never a silent loss;
 * - a directory *moved into* the tree is reported as one create event, and the watcher does not add watches for the
 *   subdirectories inside it (measured: writes in root/moved/sub/ go unreported). When a created directory contains
 *   subdirectories, we add a subscription rooted at it (dropped when it is deleted or moved away); the caller re-pushes
 *   that directory once the watch is in place, so changes made in between are not lost.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as watcher from '@parcel/watcher';
import type { WatchEvent } from './change-set';

export interface RootWatcherOptions {
  root: string;
  onEvents: (events: WatchEvent[]) => void;
  onError: (err: Error) => void;
  /** Called after a re-subscription with the directories whose subtrees must be pushed again. */
  onResubscribed?: (dirs: string[]) => void;
}

export class RootWatcher {
  private sub: watcher.AsyncSubscription | null = null;
  /** Extra subscriptions rooted at directories that were moved in with subdirectories. */
  private readonly subtrees = new Map<string, watcher.AsyncSubscription>();
  private closed = false;

  constructor(private readonly o: RootWatcherOptions) {}

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
    this.o.onEvents(events.map((e) => ({ type: e.type, path: e.path })));
    for (const e of events) {
      if (e.type === 'delete') this.dropSubtrees(e.path);
      else if (e.type === 'create') this.checkNewDir(e.path);
    }
  }

  /**
   * A created directory that already has subdirectories was moved (or copied very fast) into the tree: the root
   * subscription will not watch those subdirectories, so a subscription rooted at it does (a new root means a fresh
   * scan of what is on disk now). Re-subscribing the root instead is not reliable: @parcel/watcher reuses its cached
   * directory tree for a root that is still watched, stale entries included (measured under load).
   */
  private checkNewDir(dir: string): void {
    if (this.subtrees.has(dir)) return;
    try {
      if (!fs.lstatSync(dir).isDirectory()) return;
      if (!fs.readdirSync(dir, { withFileTypes: true }).some((d) => d.isDirectory())) return;
    } catch {
      return; // gone already: its delete event follows
    }
    const pending = watcher.subscribe(dir, (err, events) => this.handle(err, events));
    pending.then(
      (sub) => {
        if (this.closed || this.subtrees.has(dir)) {
          void sub.unsubscribe();
          return;
        }
        this.subtrees.set(dir, sub);
        // Anything written beneath it before this watch existed is caught by pushing the subtree again now.
        this.o.onResubscribed?.([dir]);
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

  get extraSubscriptions(): number {
    return this.subtrees.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const subs = [this.sub, ...this.subtrees.values()];
    this.subtrees.clear();
    this.sub = null;
    await Promise.all(subs.map((s) => s?.unsubscribe().catch(() => undefined)));
  }
}

export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}
