/**
 * Creates the state dir (and a folder in it) one level at a time. Node 20's `fs.mkdirSync(dir, { recursive: true })`
 * spins forever at full CPU when mkdir fails with ENOENT although the parent exists, as under /proc
 * (`--state-dir /proc/nope` hung silently): here every failure is an error naming the state dir.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function makeStateDir(stateDir: string, sub?: string): void {
  const root = path.resolve(stateDir);
  const target = sub ? path.join(root, sub) : root;
  const missing: string[] = [];
  for (let d = target; ; d = path.dirname(d)) {
    try {
      if (fs.statSync(d).isDirectory()) break;
      throw new Error(`cannot create state dir ${root}: ${d} exists and is not a directory`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        throw code ? new Error(`cannot create state dir ${root}: ${d}: ${code} (${(e as Error).message})`) : e;
      }
    }
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw new Error(`cannot create state dir ${root}: mkdir ${d} failed: ${err.code ?? err.message}${err.code === 'ENOENT' ? ' (a file system that does not allow new directories there, e.g. /proc?)' : ''}`);
    }
  }
}
