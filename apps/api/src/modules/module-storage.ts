import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isReservedDataDirEntry, resolveDeepest } from '../config/storage-roots';

/** True when `p` is strictly inside one of `roots` (both already normalised, absolute). */
export function isInsideRoots(p: string, roots: string[]): boolean {
  return roots.some((root) => p.startsWith(root.endsWith('/') ? root : root + '/'));
}

function realRootsOf(roots: string[]): string[] {
  return roots.map((r) => {
    try {
      return fs.realpathSync(r);
    } catch {
      return r;
    }
  });
}

/** Why a resolved module path may not be used because of the data dir (the daemon's files, database, key), or null. */
export function dataDirIssue(realTarget: string, dataDir: string): string | null {
  let realData: string;
  try {
    realData = resolveDeepest(dataDir);
  } catch {
    realData = dataDir;
  }
  for (const d of new Set([dataDir, realData])) {
    if (realTarget === d) return `resolves to ${realTarget}, the RsyncHub data dir`;
    if (d.startsWith(realTarget + '/')) return `resolves to ${realTarget}, which contains the RsyncHub data dir (${dataDir})`;
    if (realTarget.startsWith(d + '/') && isReservedDataDirEntry(path.relative(d, realTarget).split('/')[0]!)) {
      return `resolves to ${realTarget}, inside files RsyncHub itself writes in its data dir`;
    }
  }
  return null;
}

/**
 * Makes the module directory if missing and returns whether it did. Refuses a path whose real location (after
 * symlinks) escapes the storage roots or reaches the data dir's own files, that exists but is not a directory, or
 * that the filesystem cannot create (name too long, not a directory on the way, no permission...): every such
 * failure is a reason for a 400, never an exception.
 */
export function ensureModuleDirectory(p: string, roots: string[], dataDir: string): { created: string | null; error: string | null } {
  try {
    const realRoots = realRootsOf(roots);
    // The deepest existing ancestor decides where the path really goes.
    const realTarget = resolveDeepest(p);
    if (!isInsideRoots(realTarget, realRoots) && !isInsideRoots(realTarget, roots)) {
      return { created: null, error: `resolves (through a symbolic link) to ${realTarget}, outside the storage roots` };
    }
    const dataIssue = dataDirIssue(realTarget, dataDir);
    if (dataIssue) return { created: null, error: dataIssue };
    if (fs.existsSync(p)) {
      if (!fs.statSync(p).isDirectory()) return { created: null, error: 'exists and is not a directory' };
      return { created: null, error: null };
    }
    // The first directory we create, so a failed change can remove exactly what it made.
    const first = fs.mkdirSync(p, { recursive: true, mode: 0o755 }) ?? null;
    return { created: first, error: null };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { created: null, error: `cannot be created: ${describeFsError(e)}` };
  }
}

/** A filesystem error as a sentence an admin can act on (no stack, no internal paths beyond the one asked for). */
export function describeFsError(e: NodeJS.ErrnoException): string {
  const reasons: Record<string, string> = {
    ENAMETOOLONG: 'a name in the path is longer than the filesystem allows',
    ENOTDIR: 'a part of the path is a file, not a directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'the filesystem is read-only',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    ELOOP: 'too many levels of symbolic links',
    EEXIST: 'something else already exists there',
    EIO: 'input/output error',
  };
  return e.code ? `${reasons[e.code] ?? e.message} (${e.code})` : String(e.message ?? e);
}

/**
 * What a purge removes, decided without following a symlink at the module directory itself: the parent's real
 * location must lie inside the storage roots (a writer could have swapped a parent for a link), and the last
 * component is removed as it is — a directory with its contents, or just the link when it is one (its target is
 * untouched). Null when there is nothing to remove. Returns an error message when removing would be unsafe.
 */
export function purgePlan(modulePath: string, roots: string[], dataDir: string): { target: string | null; isLink: boolean } | { error: string } {
  let parent: string;
  try {
    parent = fs.realpathSync(path.dirname(modulePath));
  } catch {
    return { target: null, isLink: false };
  }
  const target = path.join(parent, path.basename(modulePath));
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch {
    return { target: null, isLink: false };
  }
  const realRoots = realRootsOf(roots);
  if (!isInsideRoots(target, realRoots) && !isInsideRoots(target, roots)) {
    return { error: `${modulePath} resolves to ${target}, outside the storage roots` };
  }
  const dataIssue = dataDirIssue(target, dataDir);
  if (dataIssue) return { error: `${modulePath} ${dataIssue}` };
  return { target, isLink: st.isSymbolicLink() };
}

/**
 * As root the daemon drops to the module's uid/gid (rsync's default: nobody). A directory we just made belongs to
 * root, so the daemon could not write into it: hand it to the account that will write.
 */
export function chownForDaemon(dir: string, uid: string | null, gid: string | null): void {
  if (process.getuid?.() !== 0) return;
  const ids = numericIds(uid ?? 'nobody', gid);
  fs.chownSync(dir, ids.uid, ids.gid);
}

/**
 * Account names to numbers, looked up with `id`/`getent` (NSS: files, LDAP...) and remembered for a minute: a bulk
 * import chowns thousands of directories to the same account, and a process per directory took seconds.
 */
const idCache = new Map<string, { uid: number; gid: number; at: number }>();
const ID_CACHE_MS = 60_000;

function numericIds(user: string, group: string | null): { uid: number; gid: number } {
  const key = `${user}:${group ?? ''}`;
  const hit = idCache.get(key);
  if (hit && Date.now() - hit.at < ID_CACHE_MS) return hit;
  const uid = /^\d+$/.test(user) ? Number(user) : lookupNumber('id', ['-u', user], `unknown user ${user}`);
  let gid: number;
  if (group === null) {
    // The user's primary group, as `chown user:` would pick; nogroup for a uid without an account.
    try {
      gid = lookupNumber('id', ['-g', user], '');
    } catch {
      gid = lookupNumber('getent', ['group', 'nogroup'], 'no group nogroup', 2);
    }
  } else gid = /^\d+$/.test(group) ? Number(group) : lookupNumber('getent', ['group', group], `unknown group ${group}`, 2);
  const ids = { uid, gid, at: Date.now() };
  idCache.set(key, ids);
  return ids;
}

/** The number in a command's output (`field` counts from 0 in a colon-separated line); throws `unknown` without one. */
function lookupNumber(cmd: string, args: string[], unknown: string, field?: number): number {
  let out: string;
  try {
    out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    throw new Error(unknown);
  }
  const value = field === undefined ? out : out.split('\n')[0]!.split(':')[field];
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(unknown);
  return Number(value);
}
