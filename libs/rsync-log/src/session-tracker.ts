import { entryKind } from './entry-kind';
import type { LogEvent } from './types';

export type SessionStatus = 'active' | 'success' | 'error' | 'auth_failed' | 'refused';

/** A transfer session as the tracker knows it; the store assigns `id` when it inserts the row. */
export interface TrackedSession {
  id: number | null;
  daemonPid: number;
  module: string | null;
  user: string | null;
  clientIp: string;
  clientHost: string;
  direction: 'push' | 'pull' | null;
  startedAt: Date;
  endedAt: Date | null;
  /** While active: the sum of the per-file `%b` bytes logged so far; at the end, the daemon's totals. */
  bytesReceived: number;
  bytesSent: number;
  totalSize: number;
  /** Regular files, directories and deletions, counted by `entryKind` (the one definition of "files"). */
  fileCount: number;
  dirCount: number;
  deletedCount: number;
  status: SessionStatus;
  exitCode: number | null;
  error: string | null;
  /** Time of the session's last log line (tracker clock), for deciding it vanished. */
  lastActivity: number;
}

export interface TrackedFile {
  session: TrackedSession;
  at: Date;
  op: 'recv' | 'send' | 'del';
  path: string;
  size: number;
  bytes: number;
  itemize: string;
}

/** What the store must do after a batch of lines, and what the live stream must say, in log order. */
export interface TrackerEffects {
  /** Sessions to insert (in order). Their fields already hold the state at the end of the batch. */
  inserted: TrackedSession[];
  /** Sessions inserted earlier whose row must be rewritten. */
  updated: Set<TrackedSession>;
  files: TrackedFile[];
  /** Live events in the order the log implies. */
  timeline: ({ type: 'started' | 'ended' | 'auth.failed'; session: TrackedSession } | { type: 'file'; file: TrackedFile })[];
}

export function emptyEffects(): TrackerEffects {
  return { inserted: [], updated: new Set(), files: [], timeline: [] };
}

interface Connection {
  host: string;
  ip: string;
  at: number;
  module: string | null;
}

/** Connections that never became a session (module listings, port probes) are forgotten after this long. */
const CONNECTION_MEMORY_MS = 10 * 60_000;

/**
 * Turns the daemon's interleaved log events into sessions and file events. The daemon forks one process per
 * connection, so lines are tied together by pid; a session ends with its totals line, or with an `rsync error`
 * line, or (when the client vanished and nothing was written) when its process is gone — see `closeVanished`.
 * Pure: no I/O; the caller feeds events and applies the effects.
 */
export class SessionTracker {
  private readonly open = new Map<number, TrackedSession>();
  /** Sessions closed by an error line: a totals line may still follow (e.g. code 23, partial transfer). */
  private readonly closedByError = new Map<number, TrackedSession>();
  /** Sessions closed by their totals line: the daemon may still log the exit code after it (e.g. code 10). */
  private readonly closedByTotals = new Map<number, TrackedSession>();
  private readonly connections = new Map<number, Connection>();

  constructor(openSessions: TrackedSession[] = []) {
    for (const s of openSessions) this.open.set(s.daemonPid, s);
  }

  get openSessions(): TrackedSession[] {
    return [...this.open.values()];
  }

  apply(e: LogEvent, fx: TrackerEffects, now = e.at.getTime()): void {
    switch (e.kind) {
      case 'connect': {
        const stale = this.open.get(e.pid);
        if (stale) this.end(stale, fx, e.at, 'error', 'connection ended without a summary');
        this.closedByError.delete(e.pid);
        this.closedByTotals.delete(e.pid);
        this.connections.set(e.pid, { host: e.host, ip: e.ip, at: now, module: null });
        this.forgetOldConnections(now);
        return;
      }
      case 'module.allowed': {
        const c = this.connection(e.pid, e.host, e.ip, now);
        c.module = e.module;
        return;
      }
      case 'session.start': {
        const existing = this.open.get(e.pid);
        if (existing && existing.direction === null) {
          Object.assign(existing, { direction: e.direction, module: e.module, user: e.user, lastActivity: now });
          this.touch(existing, fx);
          return;
        }
        if (existing) this.end(existing, fx, e.at, 'error', 'connection ended without a summary');
        const s = this.create(fx, e.pid, e.at, now, { module: e.module, user: e.user, clientIp: e.ip, clientHost: e.host, direction: e.direction });
        fx.timeline.push({ type: 'started', session: s });
        return;
      }
      case 'file': {
        let s = this.open.get(e.pid);
        if (!s) {
          // The start line was lost (e.g. rotated away before we saw it): the file line names everything needed.
          s = this.create(fx, e.pid, e.at, now, { module: e.module, user: e.user, clientIp: e.ip, clientHost: e.host, direction: e.op === 'send' ? 'pull' : 'push' });
          fx.timeline.push({ type: 'started', session: s });
        }
        const kind = entryKind(e.op, e.itemize);
        if (kind === 'file') s.fileCount++;
        else if (kind === 'dir') s.dirCount++;
        else if (kind === 'deleted') s.deletedCount++;
        // The daemon logs totals only at the end; until then the bytes of each logged file are the progress.
        if (s.status === 'active') {
          if (e.op === 'recv') s.bytesReceived += e.bytes;
          else if (e.op === 'send') s.bytesSent += e.bytes;
        }
        s.lastActivity = now;
        this.touch(s, fx);
        const file: TrackedFile = { session: s, at: e.at, op: e.op, path: e.path, size: e.size, bytes: e.bytes, itemize: e.itemize };
        fx.files.push(file);
        fx.timeline.push({ type: 'file', file });
        return;
      }
      case 'session.totals': {
        const s = this.open.get(e.pid) ?? this.closedByError.get(e.pid);
        if (!s) return; // the listener's own totals line at shutdown: no session
        s.bytesReceived = e.received;
        s.bytesSent = e.sent;
        s.totalSize = e.totalSize;
        s.lastActivity = now;
        if (this.open.get(e.pid) === s) {
          // An error line without an exit code (e.g. "rsync: [sender] send_files failed to open ...") means files were
          // skipped; the daemon, as sender, never logs the 23 its client exits with. Not a success: record that 23.
          if (!s.exitCode && s.error !== null) s.exitCode = 23;
          this.end(s, fx, e.at, s.exitCode ? 'error' : 'success', s.error);
          this.closedByTotals.set(e.pid, s);
        } else this.touch(s, fx);
        this.closedByError.delete(e.pid);
        return;
      }
      case 'auth.failed': {
        const s = this.refusal(fx, e.pid, e.at, now, e.module, e.user, e.ip, e.host, 'auth_failed', e.reason);
        fx.timeline.push({ type: 'auth.failed', session: s });
        return;
      }
      // Refusals are sessions that ended as they began: the live stream says so like any other end.
      case 'module.unknown':
        fx.timeline.push({ type: 'ended', session: this.refusal(fx, e.pid, e.at, now, e.module, null, e.ip, e.host, 'refused', 'unknown module') });
        return;
      case 'module.denied':
        fx.timeline.push({
          type: 'ended',
          session: this.refusal(fx, e.pid, e.at, now, e.module, null, e.ip, e.host, 'refused', 'access denied by hosts allow/deny'),
        });
        return;
      case 'max.connections': {
        const c = this.connections.get(e.pid);
        const s = this.refusal(fx, e.pid, e.at, now, e.module ?? c?.module ?? null, null, c?.ip ?? '', c?.host ?? '', 'refused', `max connections (${e.limit}) reached`);
        fx.timeline.push({ type: 'ended', session: s });
        return;
      }
      case 'error': {
        const s = this.open.get(e.pid);
        if (e.code === null) {
          // A complaint that does not end the process (e.g. "ERROR: module is read only"): keep the first one.
          if (s && e.severity === 'error' && s.error === null) {
            s.error = e.message;
            s.lastActivity = now;
            this.touch(s, fx);
          }
          return;
        }
        const late = s ? undefined : this.closedByTotals.get(e.pid);
        if (late) {
          // The exit code logged after the totals line (e.g. code 10 after a broken pipe) is the session's outcome.
          this.closedByTotals.delete(e.pid);
          if (e.code !== 0) {
            late.exitCode = e.code;
            if (e.severity === 'error') {
              late.status = 'error';
              late.error = late.error ?? e.message;
            }
            late.lastActivity = now;
            this.touch(late, fx);
          }
          return;
        }
        if (s) {
          s.exitCode = e.code;
          if (e.severity === 'error') s.error = s.error ?? e.message;
          this.end(s, fx, e.at, e.severity === 'error' && e.code !== 0 ? 'error' : 'success', s.error);
          this.closedByError.set(e.pid, s);
          return;
        }
        const c = this.connections.get(e.pid);
        if (c && e.severity === 'error') {
          // Failed before the transfer began (e.g. chroot or path problems): still a session the admin must see.
          const failed = this.create(fx, e.pid, e.at, now, { module: c.module, user: null, clientIp: c.ip, clientHost: c.host, direction: null });
          failed.exitCode = e.code;
          this.end(failed, fx, e.at, 'error', e.message);
        }
        return;
      }
      case 'other':
        return;
    }
  }

  /**
   * Ends open sessions whose daemon process is gone and that wrote nothing for `quietMs`: a client killed mid-
   * transfer leaves no totals line. Call only when every written line has been read, or a late line would be missed.
   */
  closeVanished(isAlive: (pid: number) => boolean, now: number, quietMs: number, fx: TrackerEffects): void {
    for (const s of this.open.values()) {
      if (now - s.lastActivity < quietMs || isAlive(s.daemonPid)) continue;
      this.end(s, fx, new Date(now), 'error', s.error ?? 'connection ended without a summary');
    }
    for (const [pid, s] of this.closedByError) if (now - s.lastActivity > quietMs && !isAlive(pid)) this.closedByError.delete(pid);
    for (const [pid, s] of this.closedByTotals) if (now - s.lastActivity > quietMs && !isAlive(pid)) this.closedByTotals.delete(pid);
    this.forgetOldConnections(now);
  }

  private refusal(
    fx: TrackerEffects,
    pid: number,
    at: Date,
    now: number,
    module: string | null,
    user: string | null,
    ip: string,
    host: string,
    status: 'auth_failed' | 'refused',
    reason: string,
  ): TrackedSession {
    const open = this.open.get(pid);
    if (open) this.open.delete(pid);
    const s = open ?? this.create(fx, pid, at, now, { module, user, clientIp: ip, clientHost: host, direction: null });
    this.open.delete(pid);
    s.status = status;
    s.error = reason;
    s.endedAt = at;
    if (user !== null) s.user = user;
    this.touch(s, fx);
    this.connections.delete(pid);
    return s;
  }

  private create(
    fx: TrackerEffects,
    pid: number,
    at: Date,
    now: number,
    fields: Pick<TrackedSession, 'module' | 'user' | 'clientIp' | 'clientHost' | 'direction'>,
  ): TrackedSession {
    const s: TrackedSession = {
      id: null,
      daemonPid: pid,
      ...fields,
      startedAt: at,
      endedAt: null,
      bytesReceived: 0,
      bytesSent: 0,
      totalSize: 0,
      fileCount: 0,
      dirCount: 0,
      deletedCount: 0,
      status: 'active',
      exitCode: null,
      error: null,
      lastActivity: now,
    };
    this.open.set(pid, s);
    fx.inserted.push(s);
    return s;
  }

  private end(s: TrackedSession, fx: TrackerEffects, at: Date, status: SessionStatus, error: string | null): void {
    s.status = status;
    s.error = status === 'success' ? null : error;
    s.endedAt = at;
    this.open.delete(s.daemonPid);
    this.connections.delete(s.daemonPid);
    this.touch(s, fx);
    fx.timeline.push({ type: 'ended', session: s });
  }

  private touch(s: TrackedSession, fx: TrackerEffects): void {
    if (s.id !== null) fx.updated.add(s);
  }

  private connection(pid: number, host: string, ip: string, now: number): Connection {
    let c = this.connections.get(pid);
    if (!c) {
      c = { host, ip, at: now, module: null };
      this.connections.set(pid, c);
    }
    return c;
  }

  private forgetOldConnections(now: number): void {
    if (this.connections.size < 1000) return;
    for (const [pid, c] of this.connections) if (now - c.at > CONNECTION_MEMORY_MS) this.connections.delete(pid);
  }
}
