import { Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LogLine, LogLineSplitter } from '@rsynchub/rsync-log';

/** Where reading of one file stands: persisted with the rows its lines produced. */
export interface FilePosition {
  dev: number;
  ino: number;
  offset: number;
}

interface OpenFile {
  fd: number;
  dev: number;
  ino: number;
  /** Bytes read from the file so far (the splitter may hold a partial last line beyond its offset). */
  readPos: number;
  splitter: LogLineSplitter;
  lastDataAt: number;
}

export interface ReadResult {
  lines: LogLine[];
  /** Positions to store once these lines are committed. */
  positions: FilePosition[];
  /** True when every file was read to its end: nothing written so far is unread. */
  caughtUp: boolean;
}

const READ_CHUNK = 1 << 20;

/**
 * Follows the daemon's log file across rotations. The daemon reopens its log file for every new connection, so after
 * a rename (logrotate) new connections write to the new file while connections already running keep writing to the
 * renamed one: both are read until the renamed one has been quiet for a while. Truncation in place (copytruncate)
 * restarts from the beginning.
 */
export class LogFollower {
  private readonly logger = new Logger(LogFollower.name);
  private current: OpenFile | null = null;
  private readonly draining: OpenFile[] = [];
  /** One read buffer for the follower's life: allocating 1 MiB per poll was most of the server's idle CPU (GC). */
  private buf: Buffer | null = null;

  constructor(
    private readonly file: string,
    stored: FilePosition[],
  ) {
    this.resume(stored);
  }

  /** Reads what is new, up to about `maxBytes` per file. Returns complete lines only. */
  read(maxBytes = 4 * READ_CHUNK): ReadResult {
    const lines: LogLine[] = [];
    let caughtUp = true;
    // A rename is noticed first, so the renamed file is read to its end in this same pass.
    this.followRename();
    for (const f of this.draining) caughtUp = this.readFrom(f, maxBytes, lines) && caughtUp;
    if (this.current) caughtUp = this.readFrom(this.current, maxBytes, lines) && caughtUp;
    return { lines, positions: this.positions(), caughtUp };
  }

  /** Stops reading renamed files that have been quiet long enough. */
  dropQuietDrained(quietMs: number, now = Date.now()): void {
    for (let i = this.draining.length - 1; i >= 0; i--) {
      const f = this.draining[i]!;
      if (now - f.lastDataAt >= quietMs && f.readPos >= fs.fstatSync(f.fd).size) {
        fs.closeSync(f.fd);
        this.draining.splice(i, 1);
      }
    }
  }

  get drainingCount(): number {
    return this.draining.length;
  }

  close(): void {
    for (const f of [...this.draining, ...(this.current ? [this.current] : [])]) fs.closeSync(f.fd);
    this.draining.length = 0;
    this.current = null;
  }

  private positions(): FilePosition[] {
    return [...this.draining, ...(this.current ? [this.current] : [])].map((f) => ({ dev: f.dev, ino: f.ino, offset: f.splitter.offset }));
  }

  /** Returns true if the file was read to its end. */
  private readFrom(f: OpenFile, maxBytes: number, out: LogLine[]): boolean {
    const size = fs.fstatSync(f.fd).size;
    if (size < f.readPos) {
      this.logger.warn(`log file truncated (${size} < ${f.readPos} bytes): reading it from the start`);
      f.readPos = 0;
      f.splitter = new LogLineSplitter({ startOffset: 0 });
    }
    if (size === f.readPos) return true;
    const buf = (this.buf ??= Buffer.allocUnsafe(READ_CHUNK));
    let budget = maxBytes;
    while (budget > 0) {
      const n = fs.readSync(f.fd, buf, 0, Math.min(READ_CHUNK, budget), f.readPos);
      if (n === 0) return true;
      f.readPos += n;
      budget -= n;
      f.lastDataAt = Date.now();
      // The next read overwrites `buf`: the bytes read are copied out once, as one chunk, and the lines handed out
      // are views into that chunk (a copy per line cost an allocation per line; a new read buffer per read cost
      // 1 MiB per wake-up under light traffic).
      for (const l of f.splitter.push(Buffer.from(buf.subarray(0, n)))) out.push(l);
    }
    return f.readPos >= fs.fstatSync(f.fd).size;
  }

  private followRename(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      return; // not created yet, or renamed and not yet recreated
    }
    if (this.current && st.ino === this.current.ino && st.dev === this.current.dev) return;
    if (this.current) this.draining.push(this.current);
    this.current = this.open(this.file, 0);
  }

  private open(file: string, offset: number): OpenFile | null {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return null;
    }
    const st = fs.fstatSync(fd);
    const start = st.size < offset ? 0 : offset;
    return { fd, dev: st.dev, ino: st.ino, readPos: start, splitter: new LogLineSplitter({ startOffset: start }), lastDataAt: Date.now() };
  }

  /** Reopens the stored files: the one still at the path, and renamed ones found beside it (logrotate's names). */
  private resume(stored: FilePosition[]): void {
    const dir = path.dirname(this.file);
    const base = path.basename(this.file);
    let candidates: string[] = [];
    try {
      candidates = fs.readdirSync(dir).filter((n) => n.startsWith(base)).map((n) => path.join(dir, n));
    } catch {
      /* no dir yet */
    }
    const byIdentity = new Map<string, string>();
    for (const c of candidates) {
      try {
        const st = fs.statSync(c);
        if (st.isFile()) byIdentity.set(`${st.dev}:${st.ino}`, c);
      } catch {
        /* vanished */
      }
    }
    for (const pos of stored) {
      const found = byIdentity.get(`${pos.dev}:${pos.ino}`);
      if (!found) {
        this.logger.warn(`a log file read before the restart is gone (inode ${pos.ino}); lines written to it after offset ${pos.offset} are lost`);
        continue;
      }
      const f = this.open(found, pos.offset);
      if (!f) continue;
      if (found === this.file) this.current = f;
      else this.draining.push(f);
    }
  }
}
