/**
 * sersync's <filter> rule, applied the same way to every kind of run. sersync (Inotify.cpp) tests each event's path
 * with boost::regex_match, a FULL match, against the path relative to the watched root, and does not watch a directory
 * whose relative path plus '/' matches at start-up, so nothing beneath an excluded directory is pushed. Here: a path is
 * excluded when it, or one of its ancestors (also tested as `dir/`), fully matches one of the expressions. Events are
 * filtered with it (FullMatchRegExp plugs into the event filter), and runs that recurse (full syncs, new directories)
 * get the excluded paths of their subtrees as exact rsync excludes (rsync cannot evaluate regexes itself).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A RegExp whose test() is a full match of the string, or of the string plus '/' (sersync's start-up form for dirs). */
export class FullMatchRegExp extends RegExp {
  private readonly anchored: RegExp;
  constructor(readonly expression: string) {
    super(expression, 's');
    // 's': boost's '.' matches a newline too (unless match_not_dot_newline), and file names may contain one.
    this.anchored = new RegExp(`^(?:${expression})$`, 's');
  }
  override test(s: string): boolean {
    return this.anchored.test(s) || this.anchored.test(`${s}/`);
  }
}

export function sersyncExcludeMatchers(expressions: readonly string[]): RegExp[] {
  return expressions.map((e) => new FullMatchRegExp(e));
}

/** True when rel (relative, '/'-separated) or one of its ancestors matches (the same rule coalesce applies). */
export function isRegexExcluded(rel: string, res: readonly RegExp[]): boolean {
  if (res.length === 0 || rel === '.' || rel === '') return false;
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (res.some((re) => re.test(p))) return true;
  }
  return false;
}

/** An rsync exclude pattern matching exactly this path (anchored at the transfer root, wildcards escaped). */
export function exactRsyncPattern(rel: string): string {
  return /[*?[]/.test(rel) ? `/${rel.replace(/[\\*?[]/g, (c) => `\\${c}`)}` : `/${rel}`;
}

/**
 * Walks the given subtrees of root (relative paths; '.' = all) and returns the shallowest excluded paths: an excluded
 * directory is not descended into. Cost: one readdir per directory of the subtrees, like rsync's own file list.
 */
export function collectRegexExcludes(root: string, bases: readonly string[], res: readonly RegExp[]): string[] {
  const out: string[] = [];
  if (res.length === 0) return out;
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(rel === '.' ? root : path.join(root, rel), { withFileTypes: true });
    } catch {
      return; // vanished meanwhile, or not a directory
    }
    for (const e of entries) {
      const child = rel === '.' ? e.name : `${rel}/${e.name}`;
      if (res.some((re) => re.test(child))) out.push(child);
      else if (e.isDirectory()) walk(child);
    }
  };
  for (const b of bases) {
    const base = b.replace(/^\.\//, '');
    if (base !== '.' && isRegexExcluded(base, res)) continue;
    walk(base);
  }
  return out;
}
