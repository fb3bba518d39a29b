/**
 * Pure coalescing of watcher events into the exact list of relative paths one rsync run must carry, and the split of
 * that list into a recursive and a flat run.
 *
 * Why two runs: with --files-from, `-r` applies to every listed directory, and files must not drag their parent's
 * subtree along. Every directory that changed goes to the recursive run, because the watcher may not report every entry
 * beneath it: a directory moved into the tree arrives as one event, and a file replaced by a directory of the same name
 * (rm f; mkdir -p f/sub) arrives as one 'update' of f. Directories rarely get events of their own (a file created inside
 * does not produce one for its parent), so this costs little: a chmod of a directory re-checks its subtree by size and
 * mtime, which transfers nothing that is already there.
 */
import * as path from 'node:path';
import { encodePath } from './path-bytes';

export type WatchEventType = 'create' | 'update' | 'delete';

export interface WatchEvent {
  type: WatchEventType;
  /** Absolute path, as the watcher reports it. */
  path: string;
}

/** What finally happened to a path within a batch. */
export type ChangeKind = 'create' | 'update' | 'delete';

export interface Change {
  /** Relative to the watched root, '/'-separated, never empty ('.' is the root itself). */
  path: string;
  kind: ChangeKind;
}

export interface ChangeFilter {
  /** Regexes on the relative path (sersync <filter>); a path matching any, or under a matching directory, is skipped. */
  excludeRegex?: RegExp[];
  delete?: boolean;
  create?: boolean;
  modify?: boolean;
}

/** Relative path of an absolute path under root, or null when it is outside (or is the root itself: '.'). */
export function relativeTo(root: string, abs: string): string | null {
  // Fast path for what the watcher reports (absolute, normalised paths under the root): a burst has thousands.
  if (path.sep === '/' && abs.length > root.length + 1 && abs.startsWith(root) && abs[root.length] === '/' && !root.endsWith('/')) {
    const rel = abs.slice(root.length + 1);
    if (!/(^|\/)\.{1,2}(\/|$)|\/\/|\/$/.test(rel)) return rel;
  }
  const rel = path.relative(root, abs);
  if (rel === '') return '.';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return rel.split(path.sep).join('/');
}

function isExcluded(rel: string, res: RegExp[] | undefined): boolean {
  if (!res || res.length === 0 || rel === '.') return false;
  // Test the path and each ancestor, so excluding a directory excludes what is inside it.
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (res.some((re) => re.test(p))) return true;
  }
  return false;
}

/** Combines the event kinds seen for one path, in order, into the kind that describes the net change. */
export function combineKinds(prev: ChangeKind | undefined, next: ChangeKind): ChangeKind {
  if (prev === undefined) return next;
  if (next === 'delete') return 'delete';
  if (prev === 'delete') return 'create'; // deleted then re-created: may be a different type now (file <-> dir)
  if (prev === 'create') return 'create';
  return next;
}

/**
 * Coalesces a batch of events (in arrival order) into changes, sorted by path.
 * - repeated events on one path collapse (create+update = create, update+delete = delete, delete+create = create);
 * - a deleted directory covers everything beneath it that changed *before* the deletion: those entries are dropped,
 *   since `--delete-missing-args --force` on the directory removes them all;
 * - changes beneath a deleted directory that came *after* it (the directory was re-created) are kept.
 */
export function coalesce(root: string, events: readonly WatchEvent[], filter: ChangeFilter = {}): Change[] {
  const kinds = new Map<string, ChangeKind>();
  const seq = new Map<string, number>();
  let n = 0;
  for (const ev of events) {
    const rel = relativeTo(root, ev.path);
    if (rel === null || isExcluded(rel, filter.excludeRegex)) continue;
    kinds.set(rel, combineKinds(kinds.get(rel), ev.type));
    seq.set(rel, n++);
  }
  // Latest deletion sequence number per deleted path, to drop earlier changes of its descendants.
  const deletedAt = new Map<string, number>();
  for (const [p, k] of kinds) if (k === 'delete') deletedAt.set(p, seq.get(p)!);

  const out: Change[] = [];
  for (const [p, kind] of kinds) {
    if (kind === 'delete' && filter.delete === false) continue;
    if (kind === 'create' && filter.create === false) continue;
    if (kind === 'update' && filter.modify === false) continue;
    let covered = false;
    if (deletedAt.size > 0 && p !== '.') {
      const parts = p.split('/');
      for (let i = 1; i < parts.length && !covered; i++) {
        const anc = parts.slice(0, i).join('/');
        const at = deletedAt.get(anc);
        if (at !== undefined && at > seq.get(p)!) covered = true;
      }
    }
    if (!covered) out.push({ path: p, kind });
  }
  out.sort((a, b) => comparePaths(a.path, b.path));
  return out;
}

/** Sorts so that a directory precedes its contents and siblings group together (rsync prefers sorted input). */
export function comparePaths(a: string, b: string): number {
  // Segment by segment, without splitting: at the first difference a '/' (an ended segment) sorts first.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca === 47) return -1;
    if (cb === 47) return 1;
    return ca - cb;
  }
  return a.length - b.length;
}

/** Merges several change lists (e.g. queued batches of one target) in order into one. */
export function mergeChanges(lists: readonly (readonly Change[])[]): Change[] {
  const kinds = new Map<string, ChangeKind>();
  for (const list of lists) for (const c of list) kinds.set(c.path, combineKinds(kinds.get(c.path), c.kind));
  return [...kinds].map(([p, kind]) => ({ path: p, kind })).sort((a, b) => comparePaths(a.path, b.path));
}

export type PathState = 'dir' | 'other' | 'missing';

export interface PushPlan {
  /** Directories to send with their whole hierarchy (`-r`). */
  recursive: string[];
  /** Sent with `--no-r`: files, symlinks and missing paths (deletions) when there is no recursive run; the root ('.'). */
  flat: string[];
}

/**
 * Splits changes into the recursive and flat runs, given each path's current state on disk.
 * - directories go recursive (that run also uses --delete, so a re-created directory loses stale contents on the
 *   target); existing paths under a recursive directory are dropped (the recursion covers them);
 * - a top-level change makes the root directory's attributes follow (rsync sends implied parent directories of listed
 *   paths with their attributes, but not the root unless a path starts with './'): '.' in the flat run, or a './'
 *   prefix on the first recursive path when there is no flat run;
 * - everything else (files, symlinks, deletions) goes flat, where the agent's knowledge that they changed overrides
 *   rsync's size+mtime quick check.
 */
export function planPush(changes: readonly Change[], stateOf: (rel: string) => PathState): PushPlan {
  const recursive: string[] = [];
  const flat: string[] = [];
  const listed = new Set<string>();
  let touchesRoot = false;
  const recursiveSet = new Set<string>();
  const cache = new Map<string, PathState>();
  const state = (p: string): PathState => {
    let st = cache.get(p);
    if (st === undefined) cache.set(p, (st = stateOf(p)));
    return st;
  };
  const underRecursive = (p: string): boolean => {
    if (recursiveSet.size === 0) return false;
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) if (recursiveSet.has(parts.slice(0, i).join('/'))) return true;
    return false;
  };
  /** The shallowest ancestor that is no longer a directory (deleted, or replaced by a file), if any. */
  const brokenAncestor = (p: string): string | null => {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const anc = parts.slice(0, i).join('/');
      if (state(anc) !== 'dir') return anc;
    }
    return null;
  };
  const add = (list: string[], p: string) => {
    if (listed.has(p)) return;
    listed.add(p);
    list.push(p);
  };
  // Sorted parent-first, so a recursive ancestor is always seen before its descendants.
  for (const c of [...changes].sort((a, b) => comparePaths(a.path, b.path))) {
    let p = c.path;
    if (p === '.') {
      touchesRoot = true;
      continue;
    }
    // Created or updated beneath a directory sent recursively: the recursion covers it whatever its state, so skip
    // the lstat (a burst lists thousands of such files).
    if (c.kind !== 'delete' && underRecursive(p)) continue;
    let st = state(p);
    if (st === 'missing') {
      // rsync's --delete-missing-args only handles ENOENT: a path under something that is now a file fails with
      // ENOTDIR. Send the ancestor instead; deleting or replacing it (--force) takes the whole old subtree along.
      const anc = brokenAncestor(p);
      if (anc !== null) {
        p = anc;
        st = state(anc);
      }
    }
    if (!p.includes('/')) touchesRoot = true;
    if (underRecursive(p)) {
      // Covered by the recursion, except deletions: keep them listed so --delete-missing-args removes them even when
      // the recursive run's --delete would not reach them (e.g. excluded names).
      if (st === 'missing') add(recursive, p);
      continue;
    }
    if (st === 'dir') {
      add(recursive, p);
      recursiveSet.add(p);
    } else {
      add(flat, p);
    }
  }
  // Changed files stay in the flat run even when a recursive run happens too: the flat run skips rsync's quick check
  // (--ignore-times), because a rewrite of the same size within the same mtime tick would otherwise look unchanged
  // and be skipped. That costs a second rsync process only in batches that have both.
  if (touchesRoot) {
    // The root's own attributes (its mtime changes when a top-level entry comes or goes) go with the last run, after
    // the top-level entries are in place. Without a flat run, the recursive run carries it: with --relative, a leading
    // './' makes the root an implied directory of that path, so rsync sets its attributes without recursing into it
    // or deleting anything in it. That saves a whole rsync process per burst batch.
    // Never '.' beside other paths: --files-from implies --dirs, and a listed '.' then sends every top-level entry
    // (with --ignore-times, re-checksummed): 2.1 s per create in a root of 20,000 files. './name' sends the root as
    // an implied directory instead, so a change costs the same whatever the size of its directory.
    if (flat.length > 0) flat[0] = `./${flat[0]}`;
    else if (recursive.length > 0) recursive[0] = `./${recursive[0]}`;
    else flat.push('.');
  }
  return { recursive, flat };
}

/** NUL-separated list for `--files-from=- --from0`; names that are not UTF-8 go back to their exact bytes. */
export function filesFromBuffer(paths: readonly string[]): Buffer {
  const text = paths.map((p) => p + '\0').join('');
  return encodePath(text);
}
