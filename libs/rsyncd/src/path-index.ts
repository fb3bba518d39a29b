import { isStrictlyInside } from './validate';

/**
 * The module paths already taken, indexed so that checking one more path costs O(depth + log n) instead of a pass
 * over every module (checkModulePathOverlap): a bulk import of thousands of modules checks each against all the
 * others, which was quadratic. Paths must be normalised (see checkModulePath), as stored.
 */
export class PathOverlapIndex {
  private readonly byPath = new Map<string, string>();
  /** Every path, sorted by code unit: the paths inside `p` are the contiguous run starting at `p + '/'`. */
  private readonly sorted: string[] = [];

  constructor(entries: Iterable<{ name: string; path: string }> = []) {
    for (const e of entries) this.byPath.set(e.path, e.name);
    this.sorted.push(...this.byPath.keys());
    this.sorted.sort(compare);
  }

  get size(): number {
    return this.byPath.size;
  }

  add(name: string, p: string): void {
    if (this.byPath.has(p)) return;
    this.byPath.set(p, name);
    this.sorted.splice(this.lowerBound(p), 0, p);
  }

  /** Forgets the module at `p` (kept up to date by a caller that mirrors the modules; see ModulePathCatalogue). */
  remove(p: string): void {
    if (!this.byPath.delete(p)) return;
    const i = this.lowerBound(p);
    if (this.sorted[i] === p) this.sorted.splice(i, 1);
  }

  /** Why `p` may not be a module path next to the indexed ones (same words as checkModulePathOverlap), or null. */
  check(p: string): string | null {
    const hit = this.find(p);
    if (hit === null) return null;
    if (hit.relation === 'equal') return `is already the path of module "${hit.name}"`;
    if (hit.relation === 'inside') return `lies inside module "${hit.name}" (${hit.path})`;
    return `contains module "${hit.name}" (${hit.path})`;
  }

  /** The first indexed module `p` overlaps: `p` equals its path, lies inside it, or contains it. */
  find(p: string): { relation: 'equal' | 'inside' | 'contains'; name: string; path: string } | null {
    const same = this.byPath.get(p);
    if (same !== undefined) return { relation: 'equal', name: same, path: p };
    // An ancestor of p that is a module: p lies inside it.
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
      const ancestor = p.slice(0, i);
      const name = this.byPath.get(ancestor);
      if (name !== undefined) return { relation: 'inside', name, path: ancestor };
    }
    const first = this.sorted[this.lowerBound(p + '/')];
    if (first !== undefined && isStrictlyInside(first, p)) return { relation: 'contains', name: this.byPath.get(first)!, path: first };
    return null;
  }

  private lowerBound(p: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(this.sorted[mid]!, p) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
