import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModuleFields } from '@rsynchub/contracts';
import { isStrictlyInside, PathOverlapIndex, pathRelation } from '@rsynchub/rsyncd';

/** Every module in render order (lower-cased names ascending; `lowers` alongside), as the config is made of. */
export interface ModuleList {
  list: readonly ModuleFields[];
  lowers: string[];
  /** The list this one was made from and the (lower-cased) names that differ: a weak link, no chain of old lists. */
  from?: { base: WeakRef<ModuleList>; names: ReadonlySet<string> };
}

/** A parent directory holding at least this many module paths is listed (cached) instead of an lstat per path. */
const LIST_PARENT_FROM = 16;
/**
 * A listing is reused only while the directory is unchanged (same inode, size, link count, mtime and ctime to the
 * nanosecond) AND its ctime was older than this when the listing began. File times come from a coarse clock (one
 * kernel tick): a change in the same tick as an earlier one can leave them equal. A change made after the listing
 * began stamps a ctime no more than a tick before that moment, so it differs from a ctime this much older.
 */
const SETTLED_MS = 50n;

/**
 * The module paths of one ModuleList, indexed for the overlap check of a module create, kept current by applying
 * the differences between lists (see ModulesService.applyChanges) rather than reading and walking every path:
 *   - the paths as written: PathOverlapIndex (O(depth + log n) per check);
 *   - the paths as resolved on disk: a module's directory that is not a symbolic link, in a parent directory that
 *     resolves to realD, is realD/name. So the new path's resolved location R meets such modules only at the first
 *     component of R below realD (equal or inside), or all of them when R is realD or contains it. Module paths
 *     that are symbolic links (a directory's listing says which; the listing is cached while the directory does not
 *     change, see SETTLED_MS) or whose kind cannot be told are resolved one by one, as before.
 * The outcome is the old check's (ModulesService.resolvedOverlap over every module), which the table test
 * path-catalogue.test.ts compares it with; only which module is named can differ when several overlap.
 */
export class ModulePathCatalogue {
  private current: ModuleList | null = null;
  private index = new PathOverlapIndex();
  /** Parent directory -> module directory name -> module name. */
  private byParent = new Map<string, Map<string, string>>();
  private readonly listings = new Map<string, { signature: string; links: Set<string>; settled: boolean }>();
  /** For tests: how the last sync went, and how many directory listings were read. */
  lastSync: 'same' | 'applied' | 'rebuilt' = 'rebuilt';
  listed = 0;

  constructor(private readonly resolve: (p: string) => string | null) {}

  /** Brings the index to `modules` (from the last list by its differences when it is made from it). */
  sync(modules: ModuleList): void {
    if (modules === this.current) {
      this.lastSync = 'same';
      return;
    }
    const from = modules.from;
    const current = this.current;
    if (from && current && from.base.deref() === current) {
      for (const lower of from.names) {
        const before = find(current, lower);
        if (before) this.forget(before);
        const after = find(modules, lower);
        if (after) this.add(after);
      }
      this.lastSync = 'applied';
    } else {
      this.index = new PathOverlapIndex(modules.list.map((m) => ({ name: m.name, path: m.path })));
      this.byParent = new Map();
      for (const m of modules.list) this.addToParent(m);
      this.lastSync = 'rebuilt';
    }
    this.current = modules;
  }

  /** The lexical check (as PathOverlapIndex.check) against every module of the list synced last. */
  lexical(p: string): string | null {
    return this.index.check(p);
  }

  /** Why a module resolving to `real` would share data with a module of the list synced last, or null. */
  resolvedIssue(real: string): string | null {
    const message = (rel: 'equal' | 'inside' | 'contains', name: string, otherReal: string) =>
      rel === 'equal'
        ? `resolves to ${real}, the same directory as module "${name}"`
        : rel === 'inside'
          ? `resolves to ${real}, inside module "${name}" (${otherReal})`
          : `resolves to ${real}, which contains module "${name}" (${otherReal})`;
    for (const [parent, entries] of this.byParent) {
      const realParent = this.resolve(parent);
      /** Entries that are not plain directories (or missing) under realParent: resolved one by one. */
      const odd: string[] = [];
      let plain: (entry: string) => boolean;
      const links = realParent === null ? null : this.links(parent, entries);
      if (realParent === null) plain = () => false;
      else if (links !== null) plain = (entry) => !links.has(entry);
      else {
        const kinds = new Map<string, boolean>();
        for (const entry of entries.keys()) kinds.set(entry, viaParent(path.join(parent, entry)));
        plain = (entry) => kinds.get(entry) === true;
      }
      if (realParent !== null) {
        if (real === realParent || isStrictlyInside(realParent, real)) {
          // R is the parent's location or above it: it holds every plain module directory there.
          for (const [entry, name] of entries) if (plain(entry)) return message('contains', name, path.join(realParent, entry));
        } else if (isStrictlyInside(real, realParent)) {
          const first = real.slice(realParent === '/' ? 1 : realParent.length + 1).split('/')[0]!;
          const name = entries.get(first);
          if (name !== undefined && plain(first)) {
            const otherReal = path.join(realParent, first);
            return message(real === otherReal ? 'equal' : 'inside', name, otherReal);
          }
        }
      }
      if (links !== null) {
        for (const entry of links) if (entries.has(entry)) odd.push(entry);
      } else {
        for (const entry of entries.keys()) if (!plain(entry)) odd.push(entry);
      }
      for (const entry of odd) {
        const p = path.join(parent, entry);
        const otherReal = this.resolve(p) ?? p;
        const rel = pathRelation(real, otherReal);
        if (rel) return message(rel, entries.get(entry)!, otherReal);
      }
    }
    return null;
  }

  /**
   * The names in `parent` that are symbolic links, from a listing (cached while the directory is unchanged), when it
   * holds many module paths; null: too few to list (an lstat each), or it cannot be read.
   */
  private links(parent: string, entries: Map<string, string>): Set<string> | null {
    if (entries.size < LIST_PARENT_FROM) return null;
    try {
      const before = fs.statSync(parent, { bigint: true });
      const signature = signatureOf(before);
      const known = this.listings.get(parent);
      if (known && known.settled && known.signature === signature) return known.links;
      const startedNs = BigInt(Date.now()) * 1_000_000n;
      this.listed++;
      const links = new Set<string>();
      for (const d of fs.readdirSync(parent, { withFileTypes: true })) if (d.isSymbolicLink()) links.add(d.name);
      const after = signatureOf(fs.statSync(parent, { bigint: true }));
      this.listings.set(parent, { signature, links, settled: after === signature && before.ctimeNs < startedNs - SETTLED_MS * 1_000_000n });
      return links;
    } catch {
      this.listings.delete(parent);
      return null; // unreadable (EACCES...): each path is looked at on its own, as before
    }
  }

  private add(m: ModuleFields): void {
    this.index.add(m.name, m.path);
    this.addToParent(m);
  }

  private addToParent(m: ModuleFields): void {
    const parent = path.dirname(m.path);
    let entries = this.byParent.get(parent);
    if (!entries) this.byParent.set(parent, (entries = new Map()));
    entries.set(path.basename(m.path), m.name);
  }

  private forget(m: ModuleFields): void {
    this.index.remove(m.path);
    const parent = path.dirname(m.path);
    const entries = this.byParent.get(parent);
    if (entries?.get(path.basename(m.path)) === m.name) entries.delete(path.basename(m.path));
    if (entries?.size === 0) {
      this.byParent.delete(parent);
      this.listings.delete(parent);
    }
  }
}

/** The module of `list` whose lower-cased name is `lower` (binary search), or undefined. */
function find(list: ModuleList, lower: string): ModuleFields | undefined {
  let lo = 0;
  let hi = list.lowers.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list.lowers[mid]! < lower) lo = mid + 1;
    else hi = mid;
  }
  return list.lowers[lo] === lower ? list.list[lo] : undefined;
}

/** Missing or not a symbolic link: it resolves through its parent (as ModulesService.resolver decides per path). */
function viaParent(p: string): boolean {
  try {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    return st === undefined || !st.isSymbolicLink();
  } catch {
    return false; // ENOTDIR, EACCES...: resolved on its own
  }
}

function signatureOf(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.nlink}:${st.mtimeNs}:${st.ctimeNs}`;
}
