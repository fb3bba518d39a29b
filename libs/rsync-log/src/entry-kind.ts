import type { FileOp } from './types';

/**
 * What one transfer-log line is about, for counting. THE definition of "files" everywhere in RsyncHub (live feed,
 * history, stats, CSV, metrics): a *file* is a regular file the session received or sent (itemize type `f`);
 * directories (`d`) are counted apart; symlinks, devices and specials (`L`, `D`, `S`) are neither; every deletion is
 * a *deleted* entry (rsync's `*deleting` line does not say whether it was a file or a directory).
 */
export type EntryKind = 'file' | 'dir' | 'deleted' | 'other';

export function entryKind(op: FileOp, itemize: string): EntryKind {
  if (op === 'del') return 'deleted';
  // %i is YXcstpoguax: Y = update type (<, >, c, h, ., *), X = file type (f, d, L, D, S).
  switch (itemize.charAt(1)) {
    case 'f':
      return 'file';
    case 'd':
      return 'dir';
    default:
      return 'other';
  }
}

/**
 * The same rule as SQL over `file_events` rows (alias given), so database counts agree with `entryKind`.
 * Kept next to the function on purpose: change both together.
 */
export function entryKindSql(alias: string, kind: 'file' | 'dir'): string {
  return `(${alias}.op != 'del' AND substr(${alias}.itemize, 2, 1) = '${kind === 'file' ? 'f' : 'd'}')`;
}
