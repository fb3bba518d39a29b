/**
 * Events parsed from one line of the rsync daemon's log file (see parse.ts for the line grammar).
 * Every event carries the daemon's line prefix: `at` (the prefix time, read as UTC: the daemon runs with TZ=UTC) and
 * `pid` (the daemon process that wrote the line: one forked process per client connection, so the pid is the key
 * that ties a connection's lines together; lines of concurrent connections interleave).
 */
interface LogEventBase {
  /** Lines of the same second may share one Date object: treat it as read-only. */
  at: Date;
  pid: number;
}

/** `connect from HOST (IP)`: a TCP client connected; the first line of every connection. */
export interface ConnectEvent extends LogEventBase {
  kind: 'connect';
  host: string;
  ip: string;
}

/** 'push' = `rsync to` (the client uploads, the daemon receives); 'pull' = `rsync on` (the daemon sends). */
export type TransferDirection = 'push' | 'pull';

/** `rsync to REQUEST from [USER@]HOST (IP)` / `rsync on ...`: the transfer of a connection begins. */
export interface SessionStartEvent extends LogEventBase {
  kind: 'session.start';
  direction: TransferDirection;
  /** The module: the part of the first request argument before its first `/`. */
  module: string;
  /**
   * The client's argument(s) as the daemon logged them, e.g. `rw/` or `rw/a.bin rw/sub/` (several arguments are
   * separated by spaces, and an argument may itself contain spaces: not splittable). `\#ooo` escapes decoded.
   */
  request: string;
  /** The authenticated user; '' for a module without `auth users`. */
  user: string;
  host: string;
  ip: string;
}

/** `recv` = the daemon received the file (push), `send` = sent it (pull), `del` = deleted it (a `--delete` push). */
export type FileOp = 'recv' | 'send' | 'del';

/** One transfer-log line, in the TRANSFER_LOG_FORMAT layout. */
export interface FileEvent extends LogEventBase {
  kind: 'file';
  op: FileOp;
  ip: string;
  host: string;
  module: string;
  /** '' for anonymous access. */
  user: string;
  /** `%l`: the file's length in bytes (4096-ish for directories). rsync logs 0 for `del`. */
  size: number;
  /** `%b`: bytes actually sent over the wire for this file (0 for directories, `del`, unchanged files). */
  bytes: number;
  /**
   * `%i`: the 11-character itemize string, kept exactly (e.g. `>f+++++++++` recv of a new file, `<f.st......` send,
   * `cd+++++++++` new directory, `*deleting  ` with its padding spaces for `del`).
   */
  itemize: string;
  /**
   * `%M`: the file's mtime, read as UTC (the daemon formats it in its local zone, which is UTC). null if unparsable.
   * rsync logs the epoch (1970-01-01T00:00:00Z) for `del`: meaningless there.
   */
  modTime: Date | null;
  /** `%f` relative to the module root, `\#ooo` decoded, then UTF-8 decoded with U+FFFD for invalid bytes: for display. */
  path: string;
  /**
   * The exact bytes of the name (after `\#ooo` decoding): the identity of the file. Without escapes it is a view
   * into the line passed to parseLogLine (no copy per line): copy it to keep it beyond that buffer's reuse.
   */
  pathBytes: Buffer;
}

/**
 * `sent N bytes  received N bytes  total size N`: the last line of a transfer, from the daemon's point of view
 * (for a push, `received` is what the client uploaded). NOTE: the listening daemon process also writes one
 * (`sent 0 bytes  received 0 bytes  total size 0`) when it is stopped; that pid has no session.
 */
export interface SessionTotalsEvent extends LogEventBase {
  kind: 'session.totals';
  sent: number;
  received: number;
  totalSize: number;
}

/** `auth failed on module M from HOST (IP) for USER: REASON` (reasons seen: `password mismatch`, `no matching rule`). */
export interface AuthFailedEvent extends LogEventBase {
  kind: 'auth.failed';
  module: string;
  host: string;
  ip: string;
  /** As the client sent it (so: anything). '' if the daemon did not name one. */
  user: string;
  reason: string;
}

/** `unknown module 'M' tried from HOST (IP)`. The name is whatever the client asked for. */
export interface ModuleUnknownEvent extends LogEventBase {
  kind: 'module.unknown';
  module: string;
  host: string;
  ip: string;
}

/** `rsync allowed access on module M from HOST (IP)`: host rules passed (auth, if any, comes next). */
export interface ModuleAllowedEvent extends LogEventBase {
  kind: 'module.allowed';
  module: string;
  host: string;
  ip: string;
}

/** `rsync denied on module M from HOST (IP)`: refused by `hosts allow` / `hosts deny`. */
export interface ModuleDeniedEvent extends LogEventBase {
  kind: 'module.denied';
  module: string;
  host: string;
  ip: string;
}

/** `max connections (N) reached`. */
export interface MaxConnectionsEvent extends LogEventBase {
  kind: 'max.connections';
  /**
   * Always null from parseLogLine: the daemon's line does not name the module. The same pid logged a
   * `module.allowed` event just before; a consumer that tracks pid -> module fills it in.
   */
  module: string | null;
  limit: number;
}

/**
 * An error or warning line:
 *  - `rsync error: MESSAGE (code N) at FILE(LINE) [ROLE=VERSION]` (and `rsync warning: ...`): the exit of a
 *    connection's process with rsync exit code N;
 *  - `rsync: [ROLE] MESSAGE` / `rsync: MESSAGE [ROLE]`: a failure that did not (yet) end the transfer
 *    (e.g. `rsync: [sender] write error: Broken pipe (32)`);
 *  - `ERROR: MESSAGE` / `WARNING: MESSAGE` (e.g. `ERROR: module is read only`).
 */
export interface ErrorEvent extends LogEventBase {
  kind: 'error';
  severity: 'error' | 'warning';
  /** The description without the leading marker, role and trailing code/location. Escapes kept (display text). */
  message: string;
  /** The rsync exit code, for `rsync error:` / `rsync warning:` lines; else null. */
  code: number | null;
  /** The rsync process role, e.g. 'sender', 'receiver', 'generator', 'Receiver' (as logged); null if not named. */
  role: string | null;
  /** Source location in rsync, e.g. `main.c` and 1185, from `at main.c(1185)`. */
  sourceFile: string | null;
  sourceLine: number | null;
  /** The rsync version from `[ROLE=VERSION]`. */
  version: string | null;
  /** The whole message after the line prefix. */
  text: string;
}

/** A daemon line that carries nothing stored (e.g. `receiving file list`, `module-list request from ...`). */
export interface OtherEvent extends LogEventBase {
  kind: 'other';
  /** The message after the line prefix, UTF-8 decoded (lossy), `\#ooo` escapes kept. */
  message: string;
}

export type LogEvent =
  | ConnectEvent
  | SessionStartEvent
  | FileEvent
  | SessionTotalsEvent
  | AuthFailedEvent
  | ModuleUnknownEvent
  | ModuleAllowedEvent
  | ModuleDeniedEvent
  | MaxConnectionsEvent
  | ErrorEvent
  | OtherEvent;

export type LogEventKind = LogEvent['kind'];
