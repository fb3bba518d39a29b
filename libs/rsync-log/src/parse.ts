import { decodeRsyncEscapes } from './escape';
import type { ErrorEvent, FileOp, LogEvent, TransferDirection } from './types';

/*
 * Line grammar of the daemon's log file (rsync 3.5.0, `log file =` set, TZ=UTC), as captured in
 * fixtures/rsync-3.5.0-daemon.log:
 *
 *   line    = "YYYY/MM/DD HH:MM:SS [" PID "] " message          (the daemon's own prefix, on every line)
 *   message = "recv|" / "send|" / "del.|" + the 9 other TRANSFER_LOG_FORMAT fields   -> file
 *           | "connect from HOST (IP)"                                               -> connect
 *           | "rsync allowed access on module M from HOST (IP)"                      -> module.allowed
 *           | "rsync denied on module M from HOST (IP)"                              -> module.denied
 *           | "rsync to REQ from [USER@]HOST (IP)" / "rsync on ..."                  -> session.start
 *           | "auth failed on module M from HOST (IP) for USER: REASON"              -> auth.failed
 *           | "unknown module 'M' tried from HOST (IP)"                              -> module.unknown
 *           | "max connections (N) reached"                                          -> max.connections
 *           | "sent N bytes  received N bytes  total size N"                         -> session.totals
 *           | "rsync error: ..." / "rsync warning: ..." / "rsync: ..." / "ERROR: ..." / "WARNING: ..." -> error
 *           | anything else ("receiving file list", "building file list", "module-list request from ...",
 *             "rsyncd version ... starting, listening on port N", ...)                -> other
 *
 * A line of a recognised shape whose fields do not parse falls back to `other`, never to a wrong event.
 * Client-controlled text (REQ, the unknown module's name, USER in auth failures, paths) may contain anything
 * except a raw newline, so the fixed `HOST (IP)` tails are matched from the right: HOST and IP never contain
 * spaces or parentheses. All scanning is indexOf/byte comparisons; there is no regex (no backtracking).
 * A connection is one daemon process: its lines share a PID, and lines of concurrent connections interleave.
 */

/**
 * The `log format` the daemon must be configured with (together with `transfer logging = yes`).
 * Fields: operation | remote IP | remote host | module | auth user | file length | bytes transferred | itemize |
 * mtime | path. The path is last because it is the only field that can contain `|` (rsync does not escape it): a
 * parser splits on the first 9 `|` and keeps the rest whole. `%p` is not needed: the daemon prefixes every log-file
 * line with `YYYY/MM/DD HH:MM:SS [PID] ` anyway. The other fields cannot contain `|` as long as module and user names
 * do not (the API must reject `|` in them).
 */
export const TRANSFER_LOG_FORMAT = '%o|%a|%h|%m|%u|%l|%b|%i|%M|%f';

/** Number of `|` separators in a TRANSFER_LOG_FORMAT line. */
const FILE_FIELD_SEPARATORS = 9;

const PIPE = 0x7c;
const SPACE = 0x20;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LPAREN = 0x28;
const RPAREN = 0x29;
const AT = 0x40;
const BACKSLASH = 0x5c;

/** Length of `YYYY/MM/DD HH:MM:SS ` */
const TIME_PREFIX_LENGTH = 20;

function digitAt(b: Buffer, i: number): number {
  const d = b[i]! - 0x30;
  return d >= 0 && d <= 9 ? d : -1;
}

/** Reads exactly `count` decimal digits at i, or -1. */
function fixedNumber(b: Buffer, i: number, count: number): number {
  let n = 0;
  for (let k = 0; k < count; k++) {
    const d = digitAt(b, i + k);
    if (d < 0) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Parses a non-empty run of decimal digits filling b[start, end); NaN otherwise. */
function decimal(b: Buffer, start: number, end: number): number {
  if (start >= end) return NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = digitAt(b, i);
    if (d < 0) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The last conversion of one kind of time field. A busy log writes thousands of lines per second, all with the same
 * time: those lines share one Date (the events document it as read-only) instead of one allocation each.
 */
interface DateMemo {
  key: number;
  date: Date | null;
}
const lineTimeMemo: DateMemo = { key: -1, date: null };
const modTimeMemo: DateMemo = { key: -1, date: null };

/** `YYYY/MM/DD` + separator + `HH:MM:SS` at i, as UTC; null if malformed or out of range. */
function dateTime(b: Buffer, i: number, separator: number, memo?: DateMemo): Date | null {
  if (b.length < i + 19) return null;
  if (b[i + 4] !== 0x2f || b[i + 7] !== 0x2f || b[i + 10] !== separator || b[i + 13] !== 0x3a || b[i + 16] !== 0x3a) {
    return null;
  }
  const year = fixedNumber(b, i, 4);
  const month = fixedNumber(b, i + 5, 2);
  const day = fixedNumber(b, i + 8, 2);
  const hour = fixedNumber(b, i + 11, 2);
  const minute = fixedNumber(b, i + 14, 2);
  const second = fixedNumber(b, i + 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23) return null;
  if (minute < 0 || minute > 59 || second < 0 || second > 60) return null;
  if (!memo) return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Unique per valid field: each part below its own bound (second <= 60, so 61 values).
  const key = ((((year * 13 + month) * 32 + day) * 24 + hour) * 60 + minute) * 61 + second;
  if (memo.key !== key || memo.date === null) {
    memo.key = key;
    memo.date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  }
  return memo.date;
}

/**
 * The last text decoded for one field of the file lines (IP, host, module, user, itemize): a session's lines repeat
 * them, so a byte comparison replaces a string allocation per line. Only short fields are kept.
 */
interface TextMemo {
  bytes: Buffer;
  text: string;
}
const MEMO_MAX_BYTES = 64;
const ipMemo: TextMemo = { bytes: Buffer.alloc(0), text: '' };
const hostMemo: TextMemo = { bytes: Buffer.alloc(0), text: '' };
const moduleMemo: TextMemo = { bytes: Buffer.alloc(0), text: '' };
const userMemo: TextMemo = { bytes: Buffer.alloc(0), text: '' };
const itemizeMemo: TextMemo = { bytes: Buffer.alloc(0), text: '' };

/** `decode(b, start, end)`, or the memo's text when b[start, end) are the bytes it was made from. */
function memoText(memo: TextMemo, b: Buffer, start: number, end: number, decode: (b: Buffer, start: number, end: number) => string): string {
  const length = end - start;
  if (length > MEMO_MAX_BYTES) return decode(b, start, end);
  const kept = memo.bytes;
  if (kept.length === length) {
    let k = 0;
    while (k < length && kept[k] === b[start + k]) k++;
    if (k === length) return memo.text;
  }
  const text = decode(b, start, end);
  memo.bytes = Buffer.from(b.subarray(start, end));
  memo.text = text;
  return text;
}

/** Text for display: UTF-8 with U+FFFD for invalid bytes, escapes kept. */
function rawText(b: Buffer, start: number, end: number): string {
  return b.toString('utf8', start, end);
}

/** A field value: `\#ooo` escapes decoded (at byte level), then UTF-8 decoded (lossy). */
function field(b: Buffer, start: number, end: number): string {
  const i = b.indexOf(BACKSLASH, start);
  if (i === -1 || i >= end) return b.toString('utf8', start, end);
  return decodeRsyncEscapes(b, start, end).toString('utf8');
}

function startsWith(b: Buffer, at: number, ascii: string): boolean {
  if (b.length - at < ascii.length) return false;
  for (let k = 0; k < ascii.length; k++) {
    if (b[at + k] !== ascii.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * The `HOST (IP)` that ends many daemon lines, parsed from the right (host and IP contain no space or parenthesis,
 * whatever comes before them may: module names a client made up, request paths).
 */
interface HostTail {
  hostStart: number;
  hostEnd: number;
  host: string;
  ip: string;
}
function hostTail(b: Buffer, start: number, end: number): HostTail | null {
  if (end - start < 4 || b[end - 1] !== RPAREN) return null;
  const open = b.lastIndexOf(LPAREN, end - 2);
  if (open <= start || b[open - 1] !== SPACE) return null;
  const hostEnd = open - 1;
  const space = b.lastIndexOf(SPACE, hostEnd - 1);
  const hostStart = space < start ? start : space + 1;
  if (hostStart >= hostEnd) return null;
  return { hostStart, hostEnd, host: rawText(b, hostStart, hostEnd), ip: rawText(b, open + 1, end - 1) };
}

/** `... from HOST (IP)` at the end of b[start, end): also checks the ` from ` and returns where it starts. */
function fromHostTail(b: Buffer, start: number, end: number): (HostTail & { fromStart: number }) | null {
  const tail = hostTail(b, start, end);
  if (!tail) return null;
  const fromStart = tail.hostStart - 6;
  if (fromStart < start || !startsWith(b, fromStart, ' from ')) return null;
  return { ...tail, fromStart };
}

/**
 * Parses one line of the daemon's log file, given WITHOUT its trailing `\n`. Pure; never throws.
 * Pass the line as the Buffer read from the file: a string works for ASCII lines, but a name with non-UTF-8 bytes
 * has already lost them in a decoded string.
 * Returns null for a line without the daemon's `YYYY/MM/DD HH:MM:SS [PID] ` prefix.
 */
export function parseLogLine(line: Buffer | string): LogEvent | null {
  const b = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  const at = dateTime(b, 0, SPACE, lineTimeMemo);
  if (!at || b[19] !== SPACE || b[TIME_PREFIX_LENGTH] !== LBRACKET) return null;
  const close = b.indexOf(RBRACKET, TIME_PREFIX_LENGTH + 1);
  if (close === -1 || close - TIME_PREFIX_LENGTH - 1 > 10 || b[close + 1] !== SPACE) return null;
  const pid = decimal(b, TIME_PREFIX_LENGTH + 1, close);
  if (Number.isNaN(pid)) return null;
  // Every read below is bounds-checked (an out-of-range Buffer index reads undefined, never throws); a fuzz test
  // holds this, so no try/catch hides a parser bug here.
  return parseMessage(b, close + 2, b.length, at, pid);
}

function parseMessage(b: Buffer, m: number, end: number, at: Date, pid: number): LogEvent {
  // Most lines in a busy log are transfer lines: test them first, by bytes.
  const fileOp = transferOp(b, m);
  if (fileOp) {
    const event = parseFileLine(b, m, end, at, pid, fileOp);
    if (event) return event;
  }
  const first = b[m];
  if (first === 0x63 /* c */ && startsWith(b, m, 'connect from ')) {
    const tail = hostTail(b, m + 13, end);
    if (tail && tail.hostStart === m + 13) return { kind: 'connect', at, pid, host: tail.host, ip: tail.ip };
  } else if (first === 0x72 /* r */) {
    if (startsWith(b, m, 'rsync to ') || startsWith(b, m, 'rsync on ')) {
      const event = parseSessionStart(b, m, end, at, pid);
      if (event) return event;
    } else if (startsWith(b, m, 'rsync allowed access on module ')) {
      const tail = fromHostTail(b, m + 31, end);
      if (tail && tail.fromStart > m + 31) {
        return { kind: 'module.allowed', at, pid, module: field(b, m + 31, tail.fromStart), host: tail.host, ip: tail.ip };
      }
    } else if (startsWith(b, m, 'rsync denied on module ')) {
      const tail = fromHostTail(b, m + 23, end);
      if (tail && tail.fromStart > m + 23) {
        return { kind: 'module.denied', at, pid, module: field(b, m + 23, tail.fromStart), host: tail.host, ip: tail.ip };
      }
    }
    if (startsWith(b, m, 'rsync error: ') || startsWith(b, m, 'rsync warning: ') || startsWith(b, m, 'rsync: ')) {
      return parseError(b, m, end, at, pid);
    }
  } else if (first === 0x73 /* s */ && startsWith(b, m, 'sent ')) {
    const event = parseTotals(b, m, end, at, pid);
    if (event) return event;
  } else if (first === 0x61 /* a */ && startsWith(b, m, 'auth failed on module ')) {
    const event = parseAuthFailed(b, m, end, at, pid);
    if (event) return event;
  } else if (first === 0x75 /* u */ && startsWith(b, m, "unknown module '")) {
    const tail = hostTail(b, m + 16, end);
    const suffix = tail ? tail.hostStart - 13 : -1; // "' tried from "
    if (tail && suffix >= m + 16 && startsWith(b, suffix, "' tried from ")) {
      return { kind: 'module.unknown', at, pid, module: field(b, m + 16, suffix), host: tail.host, ip: tail.ip };
    }
  } else if (first === 0x6d /* m */ && startsWith(b, m, 'max connections (')) {
    const closeParen = b.indexOf(RPAREN, m + 17);
    const limit = closeParen === -1 ? NaN : decimal(b, m + 17, closeParen);
    if (!Number.isNaN(limit) && closeParen + 9 === end && startsWith(b, closeParen, ') reached')) {
      return { kind: 'max.connections', at, pid, module: null, limit };
    }
  } else if (first === 0x45 /* E */ && startsWith(b, m, 'ERROR: ')) {
    return plainError(b, m, end, at, pid, 7, 'error');
  } else if (first === 0x57 /* W */ && startsWith(b, m, 'WARNING: ')) {
    return plainError(b, m, end, at, pid, 9, 'warning');
  }
  return { kind: 'other', at, pid, message: rawText(b, m, end) };
}

function transferOp(b: Buffer, m: number): FileOp | null {
  if (b[m + 4] !== PIPE) return null;
  if (startsWith(b, m, 'recv')) return 'recv';
  if (startsWith(b, m, 'send')) return 'send';
  if (startsWith(b, m, 'del.')) return 'del';
  return null;
}

const separators = new Float64Array(FILE_FIELD_SEPARATORS);

function parseFileLine(b: Buffer, m: number, end: number, at: Date, pid: number, op: FileOp): LogEvent | null {
  // Offsets of the 9 separators; the path is everything after the 9th, `|` included. One array for every line
  // (parsing is synchronous and nothing keeps it).
  const sep = separators;
  sep[0] = m + 4;
  // The fields before the path are short: a byte loop beats a native indexOf call per field.
  let i = m + 5;
  for (let k = 1; k < FILE_FIELD_SEPARATORS; k++) {
    while (i < end && b[i] !== PIPE) i++;
    if (i >= end) return null;
    sep[k] = i++;
  }
  const size = decimal(b, sep[4]! + 1, sep[5]!);
  const bytes = decimal(b, sep[5]! + 1, sep[6]!);
  if (Number.isNaN(size) || Number.isNaN(bytes)) return null;
  const modTime = sep[8]! - sep[7]! === 20 ? dateTime(b, sep[7]! + 1, 0x2d /* - */, modTimeMemo) : null;
  const pathStart = sep[8]! + 1;
  const escaped = b.indexOf(BACKSLASH, pathStart);
  // Without escapes the name's bytes are the line's own: a view, not a copy (the common case, one per file line).
  const pathBytes = escaped === -1 || escaped >= end ? b.subarray(pathStart, end) : decodeRsyncEscapes(b, pathStart, end);
  return {
    kind: 'file',
    at,
    pid,
    op,
    ip: memoText(ipMemo, b, sep[0]! + 1, sep[1]!, rawText),
    host: memoText(hostMemo, b, sep[1]! + 1, sep[2]!, rawText),
    module: memoText(moduleMemo, b, sep[2]! + 1, sep[3]!, field),
    user: memoText(userMemo, b, sep[3]! + 1, sep[4]!, field),
    size,
    bytes,
    itemize: memoText(itemizeMemo, b, sep[6]! + 1, sep[7]!, rawText),
    modTime,
    path: pathBytes.toString('utf8'),
    pathBytes,
  };
}

function parseSessionStart(b: Buffer, m: number, end: number, at: Date, pid: number): LogEvent | null {
  const direction: TransferDirection = b[m + 6] === 0x74 /* t */ ? 'push' : 'pull';
  const requestStart = m + 9;
  // The request is client-controlled and may contain " from " and parentheses: anchor on the right.
  const tail = fromHostTail(b, requestStart, end);
  if (!tail || tail.fromStart <= requestStart) return null;
  // `USER@HOST`: the host never contains '@'; an authenticated user name is one the secrets file has.
  const atSign = b.lastIndexOf(AT, tail.hostEnd - 1);
  let user = '';
  let host = tail.host;
  if (atSign >= tail.hostStart) {
    user = field(b, tail.hostStart, atSign);
    host = rawText(b, atSign + 1, tail.hostEnd);
  }
  const request = field(b, requestStart, tail.fromStart);
  const slash = request.indexOf('/');
  const firstArg = request.indexOf(' ');
  const moduleEnd = slash === -1 ? (firstArg === -1 ? request.length : firstArg) : slash;
  return {
    kind: 'session.start',
    at,
    pid,
    direction,
    module: request.slice(0, moduleEnd),
    request,
    user,
    host,
    ip: tail.ip,
  };
}

/** Digits with optional `,` thousands separators (what rsync's big_num prints with human-readable output). */
function count(b: Buffer, start: number, end: number): number {
  let n = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 0x2c && digits > 0) continue;
    const d = c - 0x30;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
    digits++;
  }
  return digits > 0 ? n : NaN;
}

/** `sent N bytes  received N bytes  total size N` */
function parseTotals(b: Buffer, m: number, end: number, at: Date, pid: number): LogEvent | null {
  const sentEnd = b.indexOf(' bytes  received ', m + 5);
  if (sentEnd === -1 || sentEnd >= end) return null;
  const receivedStart = sentEnd + 17;
  const receivedEnd = b.indexOf(' bytes  total size ', receivedStart);
  if (receivedEnd === -1 || receivedEnd >= end) return null;
  const sent = count(b, m + 5, sentEnd);
  const received = count(b, receivedStart, receivedEnd);
  const totalSize = count(b, receivedEnd + 19, end);
  if (Number.isNaN(sent) || Number.isNaN(received) || Number.isNaN(totalSize)) return null;
  return { kind: 'session.totals', at, pid, sent, received, totalSize };
}

/**
 * `auth failed on module M from HOST (IP) for USER: REASON` (3.5.0), or without ` for USER` (older daemons).
 * The module is the daemon's own; the user is whatever the client sent. Reasons contain no `: `.
 */
function parseAuthFailed(b: Buffer, m: number, end: number, at: Date, pid: number): LogEvent | null {
  const moduleStart = m + 22;
  const fromStart = b.indexOf(' from ', moduleStart);
  if (fromStart === -1 || fromStart >= end) return null;
  const hostStart = fromStart + 6;
  const hostEnd = b.indexOf(' (', hostStart);
  if (hostEnd === -1 || hostEnd >= end) return null;
  const ipEnd = b.indexOf(RPAREN, hostEnd + 2);
  if (ipEnd === -1 || ipEnd >= end) return null;
  let user = '';
  let reasonStart: number;
  if (startsWith(b, ipEnd, ') for ')) {
    const userStart = ipEnd + 6;
    const colon = b.lastIndexOf(': ', end - 1);
    if (colon < userStart) return null;
    user = field(b, userStart, colon);
    reasonStart = colon + 2;
  } else if (startsWith(b, ipEnd, '): ')) {
    reasonStart = ipEnd + 3;
  } else {
    return null;
  }
  return {
    kind: 'auth.failed',
    at,
    pid,
    module: field(b, moduleStart, fromStart),
    host: rawText(b, hostStart, hostEnd),
    ip: rawText(b, hostEnd + 2, ipEnd),
    user,
    reason: rawText(b, reasonStart, end),
  };
}

function plainError(
  b: Buffer,
  m: number,
  end: number,
  at: Date,
  pid: number,
  markerLength: number,
  severity: ErrorEvent['severity'],
): ErrorEvent {
  return {
    kind: 'error',
    at,
    pid,
    severity,
    message: rawText(b, m + markerLength, end),
    code: null,
    role: null,
    sourceFile: null,
    sourceLine: null,
    version: null,
    text: rawText(b, m, end),
  };
}

/** A non-empty run of decimal digits as a number; NaN otherwise. */
function unsigned(s: string): number {
  if (s.length === 0 || s.length > 15) return NaN;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return NaN;
  }
  return Number(s);
}

/**
 * `rsync error: MESSAGE (code N) at FILE(LINE) [ROLE=VERSION]`, `rsync warning: ...`,
 * `rsync: [ROLE] MESSAGE`, `rsync: MESSAGE [ROLE]`. Works on the decoded text (all of it is display text); the
 * suffix is matched with fixed-shape scans from the right, no regex.
 */
function parseError(b: Buffer, m: number, end: number, at: Date, pid: number): ErrorEvent {
  const text = rawText(b, m, end);
  const event: ErrorEvent = {
    kind: 'error',
    at,
    pid,
    severity: 'error',
    message: text,
    code: null,
    role: null,
    sourceFile: null,
    sourceLine: null,
    version: null,
    text,
  };
  if (text.startsWith('rsync error: ') || text.startsWith('rsync warning: ')) {
    const isWarning = text.charCodeAt(6) === 0x77; /* w */
    event.severity = isWarning ? 'warning' : 'error';
    let rest = text.slice(isWarning ? 15 : 13);
    // [ROLE=VERSION]
    if (rest.endsWith(']')) {
      const open = rest.lastIndexOf(' [');
      if (open !== -1) {
        const inner = rest.slice(open + 2, -1);
        const eq = inner.indexOf('=');
        event.role = eq === -1 ? inner : inner.slice(0, eq);
        event.version = eq === -1 ? null : inner.slice(eq + 1);
        rest = rest.slice(0, open);
      }
    }
    // at FILE(LINE)
    const atIndex = rest.lastIndexOf(' at ');
    if (atIndex !== -1 && rest.endsWith(')')) {
      const location = rest.slice(atIndex + 4);
      const open = location.lastIndexOf('(');
      const line = open === -1 ? NaN : unsigned(location.slice(open + 1, -1));
      if (open > 0 && !Number.isNaN(line)) {
        event.sourceFile = location.slice(0, open);
        event.sourceLine = line;
        rest = rest.slice(0, atIndex);
      }
    }
    // (code N)
    const codeIndex = rest.lastIndexOf(' (code ');
    if (codeIndex !== -1 && rest.endsWith(')')) {
      const code = unsigned(rest.slice(codeIndex + 7, -1));
      if (!Number.isNaN(code)) {
        event.code = code;
        rest = rest.slice(0, codeIndex);
      }
    }
    event.message = rest;
    return event;
  }
  // rsync: [ROLE] MESSAGE  |  rsync: MESSAGE [ROLE]
  let rest = text.slice(7);
  if (rest.startsWith('[')) {
    const close = rest.indexOf('] ');
    if (close > 1) {
      event.role = rest.slice(1, close);
      rest = rest.slice(close + 2);
    }
  } else if (rest.endsWith(']')) {
    const open = rest.lastIndexOf(' [');
    if (open !== -1 && rest.indexOf(' ', open + 2) === -1) {
      event.role = rest.slice(open + 2, -1);
      rest = rest.slice(0, open);
    }
  }
  event.message = rest;
  return event;
}
