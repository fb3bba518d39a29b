import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import type { FileEventDto, TransferSessionDto } from '@rsynchub/contracts';
import { emptyEffects, parseLogLine, SessionTracker, TRANSFER_LOG_FORMAT, type TrackedFile, type TrackedSession, type TrackerEffects } from '@rsynchub/rsync-log';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { DbWriteQueue } from '../database/db-write-queue';
import { daemonPaths } from '../daemon/daemon-paths';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { LiveEventsHub } from '../events/live-events.hub';
import { FilePosition, LogFollower } from './log-follower';
import { trackedFromRow, trackedToDto } from './transfer-mappers';
import { IngestStateEntity, TransferSessionEntity } from './transfer.entities';

/** After the log grew, wait this long before reading, so a burst of lines lands in one transaction. */
const POLL_MS = 25;
/**
 * With no change notice, read anyway this often: catches what a watch cannot see (network file systems, a missed
 * event) and closes sessions whose process vanished. Idle, the server does nothing else for the log.
 */
const IDLE_POLL_MS = 1_000;
/** A session whose process is gone and that wrote nothing for this long ended without a summary line. */
const VANISHED_QUIET_MS = 2_000;
/** A rotated log file that has been quiet this long (and has no open session left) is let go. */
const DRAIN_QUIET_MS = 5 * 60_000;
/**
 * Lines parsed between two yields to the event loop while a batch is being written (see pass). Each of the batch's
 * statements is issued only at a yield, and SQLite idles until then: with 2,000 lines (~12 ms) per slice the write and
 * the parse barely overlapped (bench ingest, 100-file sessions: 83-104k lines/s); with 250, 104-122k side by side.
 */
const PARSE_SLICE_LINES = 250;
/** File rows per INSERT (one bound JSON array each). */
const FILE_ROWS_PER_INSERT = 4000;
/** Session rows per INSERT or UPDATE (one bound JSON array each). */
const SESSION_ROWS_PER_STATEMENT = 1000;

const HAVE_PROC = fs.existsSync('/proc/self/stat');

/**
 * Whether the daemon process `pid` still runs. Checked for every ended session once it has been quiet for a while,
 * so it must be cheap: where there is a /proc, a stat of /proc/<pid> (no exception for the common "gone" answer;
 * process.kill(pid, 0) builds an Error for each ESRCH).
 */
function pidAlive(pid: number): boolean {
  if (HAVE_PROC) return fs.existsSync(`/proc/${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface IngestStats {
  linesIngested: number;
  filesIngested: number;
  sessionsIngested: number;
  /** When the newest ingested line was read, and the time that line carried. */
  lastLineAt: Date | null;
  lastReadAt: Date | null;
  /** True when the last read reached the end of every file. */
  caughtUp: boolean;
}

/**
 * Follows the daemon's transfer log into SQLite: sessions and file events, batched into one transaction per read
 * together with the read position, so ingestion resumes exactly where the last commit left off. Live events go
 * out after each commit.
 */
@Injectable()
export class TransferLogIngestor implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(TransferLogIngestor.name);
  private readonly logFile: string;
  private follower: LogFollower | null = null;
  private tracker = new SessionTracker();
  private timer: NodeJS.Timeout | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private watcher: fs.FSWatcher | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** When the last pass started (performance.now()). */
  private lastPassAt = Number.NEGATIVE_INFINITY;
  readonly stats: IngestStats = { linesIngested: 0, filesIngested: 0, sessionsIngested: 0, lastLineAt: null, lastReadAt: null, caughtUp: true };

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly writes: DbWriteQueue,
    private readonly hub: LiveEventsHub,
    writer: RsyncdConfigWriter,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.logFile = daemonPaths(config.dataDir).logFile;
    // Registered before the first config is written (at bootstrap), so the daemon logs in the format we parse.
    writer.setTransferLogFormat(TRANSFER_LOG_FORMAT);
  }

  async onModuleInit(): Promise<void> {
    await this.restore();
    this.timer = setInterval(() => this.kick(), this.watchLogDir() ? IDLE_POLL_MS : POLL_MS);
    this.timer.unref();
  }

  /**
   * Wakes ingestion when anything named like the log changes in its directory (writes, rotation). Returns false
   * when the directory cannot be watched: then the log is polled every POLL_MS as before.
   */
  private watchLogDir(): boolean {
    const base = path.basename(this.logFile);
    try {
      fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
      this.watcher = fs.watch(path.dirname(this.logFile), { persistent: false }, (_event, name) => {
        if (name === null || String(name).startsWith(base)) this.wake();
      });
    } catch (err) {
      this.logger.warn(`cannot watch the log directory (${(err as Error).message}): polling every ${POLL_MS} ms`);
      return false;
    }
    this.watcher.on('error', (err) => {
      this.logger.warn(`log directory watch failed (${err.message}): polling every ${POLL_MS} ms`);
      this.watcher?.close();
      this.watcher = null;
      if (this.timer) clearInterval(this.timer);
      this.timer = this.stopped ? null : setInterval(() => this.kick(), POLL_MS);
      this.timer?.unref();
    });
    return true;
  }

  /**
   * A change notice: read at once when ingestion has been quiet (the live stream's latency is this), but start at
   * most one pass per POLL_MS, so under a steady stream of lines a burst still lands in one transaction.
   */
  private wake(): void {
    if (this.wakeTimer || this.stopped) return;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = null;
        this.kick();
      },
      Math.max(0, this.lastPassAt + POLL_MS - performance.now()),
    );
    this.wakeTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.watcher?.close();
    await this.running;
    this.follower?.close();
  }

  /** Open sessions of this process's tracker (for live figures). */
  get openSessions() {
    return this.tracker.openSessions;
  }

  /** Runs one ingestion pass now and waits for it (tests and shutdown). */
  async drain(): Promise<void> {
    this.kick();
    while (this.running) await this.running;
  }

  private async restore(): Promise<void> {
    const state = await this.dataSource.getRepository(IngestStateEntity).findOneBy({ id: 1 });
    const positions: FilePosition[] = state ? JSON.parse(state.filesJson) : [];
    const open = await this.dataSource.getRepository(TransferSessionEntity).findBy({ status: 'active' });
    this.tracker = new SessionTracker(open.map(trackedFromRow));
    this.follower?.close();
    this.follower = new LogFollower(this.logFile, positions);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.lastPassAt = performance.now();
    this.running = this.pass()
      .catch(async (err: unknown) => {
        this.logger.error(`ingestion failed, resuming from the last commit: ${(err as Error).message}`);
        await this.restore().catch(() => undefined);
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Reads, parses and writes until the log is caught up. Parsing and writing overlap: while batch N is being written
   * (SQLite works on its own thread), batch N+1 is read and parsed. That is safe because each batch is frozen when
   * its parse ends (`freeze`: row values and live-event DTOs copied from the tracker's objects), batches are written
   * in order, one transaction each, and a failed write aborts the chain (the pass fails; `restore` rewinds to the
   * last commit). At most one batch waits behind the one being written, so memory stays bounded.
   */
  private async pass(): Promise<void> {
    const follower = this.follower!;
    let writing: Promise<void> | null = null;
    try {
      // Big backlogs are taken in slices, each its own transaction, so a restart mid-way loses nothing done.
      for (;;) {
        const { lines, positions, caughtUp } = follower.read();
        this.stats.lastReadAt = new Date();
        this.stats.caughtUp = caughtUp;
        const fx = emptyEffects();
        const now = Date.now();
        let lastAt: Date | null = null;
        for (let i = 0; i < lines.length; i++) {
          const event = parseLogLine(lines[i]!.line);
          if (event) {
            this.tracker.apply(event, fx, now);
            lastAt = event.at;
          }
          // While the previous batch is written, let its statements' completions run now and then: each INSERT is
          // issued when the one before it is done, so a parse loop that never yields leaves SQLite idle until it ends.
          if (writing && i % PARSE_SLICE_LINES === PARSE_SLICE_LINES - 1) await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (caughtUp) this.tracker.closeVanished(pidAlive, now, VANISHED_QUIET_MS, fx);
        if (lines.length > 0 || fx.timeline.length > 0) {
          const batch = freeze(fx, positions, lines.length, lastAt);
          const previous = writing;
          writing = (async () => {
            if (previous) await previous;
            // Not waiting for the disk: a batch an OS crash undoes is read again from the log (its position commits with it).
            const fileIds = await this.writes.transactionWithoutFsync((em) => this.commit(em, batch));
            this.stats.linesIngested += batch.lines;
            this.stats.filesIngested += batch.files.length;
            this.stats.sessionsIngested += batch.inserted.length;
            if (batch.lastAt) this.stats.lastLineAt = batch.lastAt;
            this.publish(batch, fileIds);
          })();
          // Parse the next slice while this one is written, but never run further ahead than that.
          if (previous) await previous;
        }
        if (this.tracker.openSessions.length === 0) follower.dropQuietDrained(5_000);
        else follower.dropQuietDrained(DRAIN_QUIET_MS);
        if (caughtUp || this.stopped) return;
      }
    } finally {
      if (writing) await writing;
    }
  }

  /**
   * Writes a batch; returns the id given to each file event (same order as batch.files). Rows go in as a few
   * statements, each taking its rows as ONE bound JSON array read by `json_each` (binding thousands of separate
   * values cost more main-thread time than building the JSON; SQLite parses it on its own thread). A session
   * inserted by an earlier batch has its id by now: batches are written in order.
   */
  private async commit(em: EntityManager, batch: Batch): Promise<number[]> {
    for (let i = 0; i < batch.inserted.length; i += SESSION_ROWS_PER_STATEMENT) {
      const slice = batch.inserted.slice(i, i + SESSION_ROWS_PER_STATEMENT);
      // The driver answers an INSERT with the last row id; one multi-row INSERT in a transaction nobody else writes
      // to gets consecutive AUTOINCREMENT ids in json_each's (array) order (the counters' triggers write to other
      // tables only).
      const last = (await em.query(
        `INSERT INTO transfer_sessions (daemon_pid, module, user, client_ip, client_host, direction, started_at, ended_at,
          bytes_received, bytes_sent, total_size, file_count, dir_count, deleted_count, status, exit_code, error)
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9,
          value->>10, value->>11, value->>12, value->>13, value->>14, value->>15, value->>16 FROM json_each(?) ORDER BY key`,
        [JSON.stringify(slice.map((x) => x.row))],
      )) as number;
      slice.forEach((x, k) => (x.session.id = last - slice.length + 1 + k));
    }
    for (let i = 0; i < batch.updated.length; i += SESSION_ROWS_PER_STATEMENT) {
      const slice = batch.updated.slice(i, i + SESSION_ROWS_PER_STATEMENT);
      await em.query(
        `UPDATE transfer_sessions SET module = v.value->>1, user = v.value->>2, direction = v.value->>3, ended_at = v.value->>4,
          bytes_received = v.value->>5, bytes_sent = v.value->>6, total_size = v.value->>7, file_count = v.value->>8,
          dir_count = v.value->>9, deleted_count = v.value->>10, status = v.value->>11, exit_code = v.value->>12, error = v.value->>13
         FROM json_each(?) AS v WHERE transfer_sessions.id = v.value->>0`,
        [JSON.stringify(slice.map((x) => [x.session.id, ...x.row]))],
      );
    }
    const ids: number[] = [];
    for (let i = 0; i < batch.files.length; i += FILE_ROWS_PER_INSERT) {
      const slice = batch.files.slice(i, i + FILE_ROWS_PER_INSERT);
      const rows: unknown[] = [];
      for (const f of slice) rows.push([f.session.id, isoOf(f.at), f.op, f.path, f.size, f.bytes, f.itemize]);
      // One multi-row INSERT in a transaction nobody else writes to: its AUTOINCREMENT ids are consecutive.
      const last = (await em.query(
        `INSERT INTO file_events (session_id, at, op, path, size, bytes, itemize)
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6 FROM json_each(?) ORDER BY key`,
        [JSON.stringify(rows)],
      )) as number;
      for (let k = 0; k < slice.length; k++) ids.push(last - slice.length + 1 + k);
    }
    await em.query(`INSERT INTO ingest_state (id, files_json, updated_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET files_json = excluded.files_json, updated_at = excluded.updated_at`, [
      JSON.stringify(batch.positions),
      new Date().toISOString(),
    ]);
    return ids;
  }

  private publish(batch: Batch, fileIds: number[]): void {
    let files: FileEventDto[] = [];
    let filesModule: string | null = null;
    let k = 0; // file entries of the timeline come in batch.files order
    let e = 0;
    const flushFiles = () => {
      if (files.length > 0) this.hub.publish('session.file', files, filesModule);
      files = [];
    };
    for (const t of batch.timeline) {
      if (t.type === 'file') {
        const module = t.file.session.module;
        if (module !== filesModule) flushFiles();
        filesModule = module;
        const f = t.file;
        // trackedFileToDto's fields, with the time string shared by the file lines of one second.
        files.push({ id: fileIds[k++]!, sessionId: f.session.id!, at: isoOf(f.at), op: f.op, path: f.path, size: f.size, bytes: f.bytes, itemize: f.itemize });
        continue;
      }
      flushFiles();
      const dto = batch.sessionDtos[e++]!;
      dto.id = t.session.id!;
      if (t.type === 'started') this.hub.publish('session.started', dto, dto.module);
      else if (t.type === 'ended') this.hub.publish('session.ended', dto, dto.module);
      else this.hub.publish('auth.failed', dto, dto.module);
    }
    flushFiles();
    // Counts and bytes so far of sessions still running, after their files: clients replace, never add up.
    for (const p of batch.progressed) {
      p.dto.id = p.session.id!;
      this.hub.publish('session.progress', p.dto, p.dto.module);
    }
  }
}

/** A parsed batch, frozen when its parse ended: what its transaction writes and what the live stream then says. */
interface Batch {
  lines: number;
  lastAt: Date | null;
  positions: FilePosition[];
  /** Row values in column order (see commit), without the id the insert gives. */
  inserted: { session: TrackedSession; row: unknown[] }[];
  /** Row values after the id, which is read at write time (an earlier batch may be inserting the session). */
  updated: { session: TrackedSession; row: unknown[] }[];
  /** File events never change once made, so they are kept as they are. */
  files: TrackedFile[];
  /** The tracker's timeline as it is (its entries are not changed by later lines; the sessions they point to are). */
  timeline: TrackerEffects['timeline'];
  /** A frozen DTO for each session entry of the timeline, in order. */
  sessionDtos: TransferSessionDto[];
  progressed: { session: TrackedSession; dto: TransferSessionDto }[];
}

/** Copies everything of `fx` that later lines may still change (the sessions' fields) out of the tracker's objects. */
function freeze(fx: TrackerEffects, positions: FilePosition[], lines: number, lastAt: Date | null): Batch {
  const dtos = new Map<TrackedSession, TransferSessionDto>();
  const dtoOf = (s: TrackedSession) => {
    let d = dtos.get(s);
    if (!d) dtos.set(s, (d = trackedToDto(s)));
    // Each live event gets its own object: publish fills in the id, and one event's object must not be shared.
    return { ...d };
  };
  const sessionDtos: TransferSessionDto[] = [];
  for (const t of fx.timeline) if (t.type !== 'file') sessionDtos.push(dtoOf(t.session));
  const progressed: Batch['progressed'] = [];
  const seen = new Set<TrackedSession>();
  let lastSession: TrackedSession | null = null;
  for (const f of fx.files) {
    if (f.session === lastSession) continue; // runs of one session's files are the common case
    lastSession = f.session;
    if (f.session.status === 'active' && !seen.has(f.session)) {
      seen.add(f.session);
      progressed.push({ session: f.session, dto: dtoOf(f.session) });
    }
  }
  for (const s of fx.inserted) if (s.id === null) s.id = PENDING_ID;
  return {
    lines,
    lastAt,
    positions,
    inserted: fx.inserted.map((s) => ({
      session: s,
      row: [s.daemonPid, s.module, s.user, s.clientIp, s.clientHost, s.direction, isoOf(s.startedAt), s.endedAt ? isoOf(s.endedAt) : null,
        s.bytesReceived, s.bytesSent, s.totalSize, s.fileCount, s.dirCount, s.deletedCount, s.status, s.exitCode, s.error],
    })),
    updated: [...fx.updated].map((s) => ({
      session: s,
      row: [s.module, s.user, s.direction, s.endedAt ? isoOf(s.endedAt) : null, s.bytesReceived, s.bytesSent, s.totalSize, s.fileCount,
        s.dirCount, s.deletedCount, s.status, s.exitCode, s.error],
    })),
    files: fx.files,
    timeline: fx.timeline,
    sessionDtos,
    progressed,
  };
}

/** Log times have whole seconds and bursts share one: remember the last conversion. */
let lastIsoTime = NaN;
let lastIso = '';
function isoOf(d: Date): string {
  const t = d.getTime();
  if (t !== lastIsoTime) {
    lastIsoTime = t;
    lastIso = d.toISOString();
  }
  return lastIso;
}

/**
 * The id of a session whose insert is frozen but not yet written. The tracker records a change to a session as an
 * update only once the session has an id (before, its insert still carries every field); with the next batch parsed
 * while this one is written, a session inserted here and changed there must count as inserted already.
 */
const PENDING_ID = -1;
