import { Inject, Injectable, Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { writeFilesAtomically } from '../daemon/atomic-file';

interface PendingDir {
  /** The first directory of the chain RsyncHub creates (its parent existed). */
  top: string;
  /** The directory asked for (equal to `top` or below it). */
  leaf: string;
}

/**
 * Directories RsyncHub is about to create for a change that has not committed yet, recorded (fsynced) BEFORE the
 * mkdir in `pending-dirs.json` in the data dir. A crash (kill -9) between the mkdir and the commit leaves the entry;
 * at the next start every entry whose directories no committed module uses is undone, removing only directories
 * that are still empty. A file, not a table: the record must be durable even while a config transaction is open.
 */
@Injectable()
export class PendingDirs {
  private readonly logger = new Logger(PendingDirs.name);
  private readonly file: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.file = path.join(config.dataDir, 'pending-dirs.json');
  }

  /**
   * Records the directories `mkdir -p leaf` is about to create (nothing when it exists already). Call right before
   * the mkdir; call the returned `done` once the change committed (or was undone).
   */
  record(leaf: string): { done: () => void } {
    return this.recordMany([leaf]);
  }

  /** `record` for many directories with one write of the file (a bulk import creates thousands). */
  recordMany(leaves: string[]): { done: () => void } {
    const entries: PendingDir[] = [];
    for (const leaf of leaves) {
      let top: string | null = null;
      for (let d = leaf; !fs.existsSync(d); d = path.dirname(d)) {
        top = d;
        if (path.dirname(d) === d) break;
      }
      if (top !== null) entries.push({ top, leaf });
    }
    if (entries.length === 0) return { done: () => undefined };
    this.write([...this.read(), ...entries]);
    const mine = new Set(entries.map((e) => `${e.top}\0${e.leaf}`));
    return { done: () => this.write(this.read().filter((e) => !mine.has(`${e.top}\0${e.leaf}`))) };
  }

  /**
   * At start: undoes every entry no committed module needs. `inUse(dir)` says whether a module's path is `dir` or
   * lies below it. Directories are removed leaf first and only while empty; a symbolic link is never followed.
   */
  cleanup(inUse: (dir: string) => boolean): string[] {
    const removed: string[] = [];
    for (const { top, leaf } of this.read()) {
      if (typeof top !== 'string' || typeof leaf !== 'string' || !path.isAbsolute(top) || !(leaf === top || leaf.startsWith(top + '/'))) continue;
      for (let d = leaf; d === top || d.startsWith(top + '/'); d = path.dirname(d)) {
        if (inUse(d)) break;
        try {
          const st = fs.lstatSync(d, { throwIfNoEntry: false });
          // Never made: the crash came in the middle of `mkdir -p`, which makes the chain top down; its parent may exist.
          if (st === undefined) continue;
          if (!st.isDirectory()) break;
          fs.rmdirSync(d); // fails on a non-empty directory: then it holds data, and it stays
          removed.push(d);
        } catch {
          break;
        }
      }
    }
    this.write([]);
    if (removed.length > 0) this.logger.warn(`removed ${removed.length} empty director${removed.length === 1 ? 'y' : 'ies'} left by changes that never committed: ${removed.join(', ')}`);
    return removed;
  }

  private read(): PendingDir[] {
    try {
      const parsed = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      return Array.isArray(parsed) ? (parsed as PendingDir[]) : [];
    } catch {
      return [];
    }
  }

  private write(entries: PendingDir[]): void {
    writeFilesAtomically([{ file: this.file, content: JSON.stringify(entries) }]);
  }
}
