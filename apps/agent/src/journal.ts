/**
 * Durable per-target queue: an append-only file of JSON lines, each fsync'ed before the append returns, so a change
 * the agent accepted survives a crash. Records:
 *   {"op":"add","id":7,"at":1700000000000,"changes":[["a/b","c"],...]}   a batch of changes to push
 *   {"op":"add","id":8,"at":...,"full":true}                            a full sync of the root
 *   {"op":"ack","ids":[7,8]}                                            pushed; no longer pending
 * On open, adds without a later ack are pending (replayed). When nothing is pending the file is truncated; when it grows
 * past a limit it is rewritten (atomically: temp file + rename) with only the pending entries.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Change, ChangeKind } from './change-set';

export interface JournalEntry {
  id: number;
  /** When the changes were accepted (ms since epoch); lag is measured from the oldest pending entry. */
  at: number;
  changes: Change[];
  /** A full sync of the whole root; covers every change accepted before it runs. */
  full?: boolean;
  /** A scheduled full sync (sersync crontab): only these apply fullSyncExcludes (crontabfilter). */
  scheduled?: boolean;
}

const KIND_CODE: Record<ChangeKind, string> = { create: 'c', update: 'u', delete: 'd' };
const CODE_KIND: Record<string, ChangeKind> = { c: 'create', u: 'update', d: 'delete' };

export class Journal {
  private fd: number;
  private readonly pendingById = new Map<number, JournalEntry>();
  private nextId = 1;
  private bytes = 0;

  private constructor(readonly file: string, private readonly compactAboveBytes: number) {
    this.fd = -1;
  }

  static open(file: string, compactAboveBytes = 8 * 1024 * 1024): Journal {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const j = new Journal(file, compactAboveBytes);
    j.load();
    j.fd = fs.openSync(file, 'a', 0o600);
    return j;
  }

  private load(): void {
    let text = '';
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.bytes = Buffer.byteLength(text);
    const lines = text.split('\n');
    let torn = false;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim() === '') continue;
      let rec: { op: string; id?: number; ids?: number[]; at?: number; changes?: [string, string][]; full?: boolean; scheduled?: boolean };
      try {
        rec = JSON.parse(line);
      } catch {
        // Only the last line can be torn by a crash mid-write; that append never returned, so nothing was promised.
        torn = true;
        continue;
      }
      if (rec.op === 'add' && typeof rec.id === 'number') {
        const entry: JournalEntry = {
          id: rec.id,
          at: rec.at ?? Date.now(),
          changes: (rec.changes ?? []).map(([p, k]) => ({ path: p, kind: CODE_KIND[k] ?? 'update' })),
        };
        if (rec.full) entry.full = true;
        if (rec.scheduled) entry.scheduled = true;
        this.pendingById.set(rec.id, entry);
        this.nextId = Math.max(this.nextId, rec.id + 1);
      } else if (rec.op === 'ack') {
        for (const id of rec.ids ?? []) this.pendingById.delete(id);
      }
    }
    if (torn) this.rewrite();
  }

  private writeRecord(rec: unknown, sync = true): void {
    const buf = Buffer.from(JSON.stringify(rec) + '\n');
    fs.writeSync(this.fd, buf);
    if (sync) fs.fsyncSync(this.fd);
    else this.unsynced = true;
    this.bytes += buf.length;
  }

  private unsynced = false;

  /** Makes appends written with sync = false durable. */
  sync(): void {
    if (!this.unsynced || this.fd < 0) return;
    fs.fsyncSync(this.fd);
    this.unsynced = false;
  }

  /**
   * Appends a batch; returns once it is on disk, or, with sync = false, once written (call sync() before relying on it:
   * the queue starts rsync first and syncs while rsync starts up).
   */
  append(changes: readonly Change[], full = false, scheduled = false, sync = true): JournalEntry {
    const entry: JournalEntry = { id: this.nextId++, at: Date.now(), changes: [...changes] };
    if (full) entry.full = true;
    if (full && scheduled) entry.scheduled = true;
    const rec: Record<string, unknown> = { op: 'add', id: entry.id, at: entry.at };
    if (full) rec.full = true;
    if (full && scheduled) rec.scheduled = true;
    else rec.changes = changes.map((c) => [c.path, KIND_CODE[c.kind]]);
    this.writeRecord(rec, sync);
    this.pendingById.set(entry.id, entry);
    return entry;
  }

  /**
   * Marks entries pushed. Not fsync'ed, and an empty journal is truncated in place rather than rewritten: a lost ack only
   * means pushing those paths again after a crash (rsync makes that a no-op), while the fsyncs (four per push before:
   * ack, temp file, rename, directory) blocked the event loop right when the next change comes in. The next add's
   * fsync makes the ack and the truncation durable along with it (same inode).
   */
  ack(ids: readonly number[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.pendingById.delete(id);
    if (this.pendingById.size === 0 && this.fd >= 0) {
      // O_APPEND: the next write lands at the new end, 0.
      fs.ftruncateSync(this.fd, 0);
      this.bytes = 0;
      this.unsynced = true;
      return;
    }
    this.writeRecord({ op: 'ack', ids }, false);
    if (this.bytes > this.compactAboveBytes) this.rewrite();
  }

  /** Pending entries, oldest first. */
  pending(): JournalEntry[] {
    return [...this.pendingById.values()].sort((a, b) => a.id - b.id);
  }

  get pendingCount(): number {
    return this.pendingById.size;
  }

  /** Number of changed paths waiting (a pending full sync counts as one). */
  get pendingPaths(): number {
    let n = 0;
    for (const e of this.pendingById.values()) n += e.full ? 1 : e.changes.length;
    return n;
  }

  oldestPendingAt(): number | null {
    let oldest: number | null = null;
    for (const e of this.pendingById.values()) if (oldest === null || e.at < oldest) oldest = e.at;
    return oldest;
  }

  /** Rewrites the file with only pending entries (temp file, fsync, rename, fsync dir). */
  private rewrite(): void {
    const tmp = `${this.file}.tmp`;
    const lines = this.pending().map((e) => {
      const rec: Record<string, unknown> = { op: 'add', id: e.id, at: e.at };
      if (e.full) rec.full = true;
      if (e.scheduled) rec.scheduled = true;
      if (!e.full) rec.changes = e.changes.map((c) => [c.path, KIND_CODE[c.kind]]);
      return JSON.stringify(rec) + '\n';
    });
    const data = lines.join('');
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    fsyncDir(path.dirname(this.file));
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'a', 0o600);
    this.bytes = Buffer.byteLength(data);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}

/** Writes a file atomically (temp + rename), so a reader never sees half of it. */
export function writeFileAtomic(file: string, data: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}
