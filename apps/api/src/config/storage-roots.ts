import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Where a path really goes: the real path (symlinks resolved) of its deepest existing ancestor, with the rest of the
 * path appended. Works for paths that do not exist yet, which is what a module about to be created is.
 */
export function resolveDeepest(p: string): string {
  let existing = p;
  for (;;) {
    try {
      fs.lstatSync(existing);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = path.dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  const real = fs.realpathSync(existing);
  return existing === p ? real : path.join(real, path.relative(existing, p));
}

function relation(a: string, b: string): 'equal' | 'inside' | 'contains' | null {
  if (a === b) return 'equal';
  if (b === '/' || a.startsWith(b + '/')) return 'inside';
  if (a === '/' || b.startsWith(a + '/')) return 'contains';
  return null;
}

/**
 * Top-level names in the data dir that RsyncHub itself writes (SQLite + WAL, generated daemon files, the key that
 * encrypts rsync passwords, lock files, logs and the dot-prefixed temp files of atomic writes). A storage root inside
 * the data dir may not be, contain or lie inside any of them.
 */
export function isReservedDataDirEntry(name: string): boolean {
  return name.startsWith('.') || name.startsWith('rsyncd.') || name.startsWith('rsynchub.') || ['locks', 'secret.key'].includes(name);
}

/**
 * A storage root must not be or contain the data dir: a module could then be (or reach) the SQLite file, the
 * secrets file or the encryption key. A root inside the data dir (the default `<data dir>/modules`) is fine as long
 * as it is none of RsyncHub's own entries there. Decided on real paths too, so a symlinked root cannot hide it.
 * Returns the problem, naming both paths, or null.
 */
export function storageRootIssue(dataDir: string, root: string): string | null {
  const forms: [string, string][] = [[root, dataDir]];
  try {
    forms.push([resolveDeepest(root), resolveDeepest(dataDir)]);
  } catch {
    // Unresolvable (e.g. a symlink loop): the lexical check still applies, and creating the root will fail loudly.
  }
  for (const [r, d] of forms) {
    const rel = relation(r, d);
    if (rel === 'equal') return `RSYNCHUB_STORAGE_ROOTS entry ${root} is the data dir (RSYNCHUB_DATA_DIR ${dataDir}); use a directory inside or beside it`;
    if (rel === 'contains') {
      return `RSYNCHUB_STORAGE_ROOTS entry ${root} contains the data dir (RSYNCHUB_DATA_DIR ${dataDir}): a module could reach RsyncHub's database, secrets and key; use a directory that does not contain it`;
    }
    if (rel === 'inside') {
      const first = path.relative(d, r).split('/')[0]!;
      if (isReservedDataDirEntry(first)) {
        return `RSYNCHUB_STORAGE_ROOTS entry ${root} is or lies inside ${path.join(dataDir, first)}, which RsyncHub itself writes in the data dir (RSYNCHUB_DATA_DIR ${dataDir})`;
      }
    }
  }
  return null;
}
