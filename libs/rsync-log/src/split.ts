const NEWLINE = 0x0a;

/** One complete line of the log, located in the file. */
export interface LogLine {
  /** The line's bytes without the `\n`. May share memory with the chunk passed to push(): copy to keep it long. */
  line: Buffer;
  /** File offset of the line's first byte. */
  start: number;
  /** File offset just past its `\n`: where the next line starts. Store this as "consumed up to". */
  end: number;
  /** True if the line was longer than maxLineBytes: `line` holds only its first maxLineBytes bytes. */
  truncated: boolean;
}

export interface LogLineSplitterOptions {
  /**
   * Byte offset in the file of the first byte that will be pushed (e.g. the stored offset to resume from).
   * Default 0.
   */
  startOffset?: number;
  /**
   * Longest line kept whole; longer lines are cut to this many bytes (offsets stay exact) so that a file without
   * newlines cannot make the splitter hold unbounded memory. Default 1 MiB (a real daemon line with a 4 KiB path
   * fully escaped is about 20 KiB).
   */
  maxLineBytes?: number;
}

/**
 * Splits a byte stream (e.g. successive reads of the daemon's log file) into lines at `\n` bytes, keeping a partial
 * last line until its `\n` arrives. A raw `\n` always ends a line: rsync writes a newline inside a file name as
 * `\#012` (verified in fixtures/capture.sh).
 */
export class LogLineSplitter {
  private readonly maxLineBytes: number;
  /** Offset of the first byte not yet returned as part of a complete line. */
  private consumed: number;
  /** Bytes of the partial line (at most maxLineBytes are kept). */
  private pending: Buffer[] = [];
  private pendingKept = 0;
  /** Length of the partial line in the file, including bytes dropped beyond maxLineBytes. */
  private pendingLength = 0;

  constructor(options: LogLineSplitterOptions = {}) {
    this.consumed = options.startOffset ?? 0;
    this.maxLineBytes = options.maxLineBytes ?? 1024 * 1024;
    if (!Number.isSafeInteger(this.consumed) || this.consumed < 0) throw new RangeError('startOffset must be >= 0');
    if (!Number.isSafeInteger(this.maxLineBytes) || this.maxLineBytes < 1) {
      throw new RangeError('maxLineBytes must be >= 1');
    }
  }

  /** File offset just past the last complete line returned: resume reading here after a restart. */
  get offset(): number {
    return this.consumed;
  }

  /** Bytes received after `offset` that do not yet form a complete line. */
  get pendingBytes(): number {
    return this.pendingLength;
  }

  /** Feeds the next bytes of the stream; returns the lines it completed, in order. */
  push(chunk: Uint8Array): LogLine[] {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const lines: LogLine[] = [];
    let from = 0;
    let nl = buf.indexOf(NEWLINE, from);
    while (nl !== -1) {
      lines.push(this.complete(buf, from, nl));
      from = nl + 1;
      nl = buf.indexOf(NEWLINE, from);
    }
    if (from < buf.length) this.keep(buf, from, buf.length);
    return lines;
  }

  /**
   * Returns the partial last line, if any, as if it were terminated (its `end` is just past its last byte), and
   * forgets it. For a file that is known to be complete (e.g. rotated away); a live log's partial line must instead
   * wait for its `\n`.
   */
  flush(): LogLine | null {
    if (this.pendingLength === 0) return null;
    const start = this.consumed;
    const end = start + this.pendingLength;
    const line: LogLine = {
      line: this.takePending(),
      start,
      end,
      truncated: this.pendingLength > this.pendingKept,
    };
    this.consumed = end;
    this.resetPending();
    return line;
  }

  private complete(buf: Buffer, from: number, nl: number): LogLine {
    const start = this.consumed;
    const length = this.pendingLength + (nl - from);
    let line: Buffer;
    let truncated: boolean;
    if (this.pendingLength === 0) {
      truncated = length > this.maxLineBytes;
      line = buf.subarray(from, truncated ? from + this.maxLineBytes : nl);
    } else {
      this.keep(buf, from, nl);
      truncated = this.pendingLength > this.pendingKept;
      line = this.takePending();
      this.resetPending();
    }
    this.consumed = start + length + 1;
    return { line, start, end: this.consumed, truncated };
  }

  private keep(buf: Buffer, from: number, to: number): void {
    const room = this.maxLineBytes - this.pendingKept;
    const kept = Math.min(room, to - from);
    if (kept > 0) {
      // Copy: the caller may reuse its read buffer for the next chunk.
      this.pending.push(Buffer.from(buf.subarray(from, from + kept)));
      this.pendingKept += kept;
    }
    this.pendingLength += to - from;
  }

  private takePending(): Buffer {
    return this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingKept);
  }

  private resetPending(): void {
    this.pending = [];
    this.pendingKept = 0;
    this.pendingLength = 0;
  }
}

/** Splits a whole buffer (e.g. a file read at once) into its complete lines; a final line without `\n` is included. */
export function splitLogLines(data: Uint8Array, startOffset = 0): LogLine[] {
  const splitter = new LogLineSplitter({ startOffset });
  const lines = splitter.push(data);
  const last = splitter.flush();
  if (last) lines.push(last);
  return lines;
}
