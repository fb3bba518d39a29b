import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** True when `p` is strictly inside one of `roots` (both already normalised, absolute). */
export function isInsideRoots(p: string, roots: string[]): boolean {
  return roots.some((root) => p.startsWith(root.endsWith('/') ? root : root + '/'));
}

/**
 * Makes the module directory if missing and returns whether it did. Refuses a path whose real location (after
 * symlinks) escapes the storage roots, or that exists but is not a directory.
 */
export function ensureModuleDirectory(p: string, roots: string[]): { created: string | null; error: string | null } {
  const realRoots = roots.map((r) => {
    try {
      return fs.realpathSync(r);
    } catch {
      return r;
    }
  });
  // The deepest existing ancestor decides where the path really goes.
  let existing = p;
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  const real = fs.realpathSync(existing);
  const realTarget = existing === p ? real : path.join(real, path.relative(existing, p));
  if (!isInsideRoots(realTarget, realRoots) && !isInsideRoots(realTarget, roots)) {
    return { created: null, error: `resolves (through a symbolic link) to ${realTarget}, outside the storage roots` };
  }
  if (existing === p) {
    if (!fs.statSync(p).isDirectory()) return { created: null, error: 'exists and is not a directory' };
    return { created: null, error: null };
  }
  // The first directory we create, so a failed change can remove exactly what it made.
  const first = fs.mkdirSync(p, { recursive: true, mode: 0o755 }) ?? null;
  return { created: first, error: null };
}

/**
 * As root the daemon drops to the module's uid/gid (rsync's default: nobody). A directory we just made belongs to
 * root, so the daemon could not write into it: hand it to the account that will write.
 */
export function chownForDaemon(dir: string, uid: string | null, gid: string | null): void {
  if (process.getuid?.() !== 0) return;
  const user = uid ?? 'nobody';
  const group = gid ?? defaultGroupOf(user);
  execFileSync('chown', [`${user}:${group}`, dir], { stdio: 'ignore' });
}

function defaultGroupOf(user: string): string {
  try {
    return execFileSync('id', ['-gn', user], { encoding: 'utf8' }).trim();
  } catch {
    return 'nogroup';
  }
}
