/**
 * Identity of a watched root: its device, inode and birth time. A root that is removed and re-created (`rm -rf ROOT; mkdir ROOT`)
 * or swapped (`mv ROOT ROOT.old; mv NEW ROOT`) keeps its path but not its identity, and a watch on the old inode sees
 * nothing of the new tree: syncing would stop without a word. The agent records the identity when it starts watching
 * and compares it periodically (the inotify helper also reports the root's deletion or move at once); on a change it
 * watches the new root, runs a full sync and warns.
 */
import * as fs from 'node:fs';

export interface RootIdentity {
  dev: bigint;
  ino: bigint;
  /**
   * Creation time (statx btime; 0 where the file system has none). File systems reuse a freed inode number at once:
   * measured on ext4, `rm -rf ROOT; mkdir ROOT` gave the new directory the same device and inode, only its birth time
   * told them apart.
   */
  birthNs: bigint;
}

/** The identity of the directory at p (symlinks followed, like the watch), or null when it is not a directory now. */
export function readRootIdentity(p: string): RootIdentity | null {
  try {
    const st = fs.statSync(p, { bigint: true });
    return st.isDirectory() ? { dev: st.dev, ino: st.ino, birthNs: st.birthtimeNs } : null;
  } catch {
    return null;
  }
}

export type RootCheck = 'same' | 'missing' | 'replaced';

/** How the root at p compares with the identity recorded when watching started. */
export function checkRoot(recorded: RootIdentity, now: RootIdentity | null): RootCheck {
  if (now === null) return 'missing';
  return now.dev === recorded.dev && now.ino === recorded.ino && now.birthNs === recorded.birthNs ? 'same' : 'replaced';
}

export function describeIdentity(id: RootIdentity | null): string {
  return id === null ? 'none' : `dev ${id.dev} inode ${id.ino} born ${new Date(Number(id.birthNs / 1_000_000n)).toISOString()}`;
}
