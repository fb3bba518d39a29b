import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import type { FileEventDto } from '@rsynchub/contracts';
import { emptyEffects, parseLogLine, SessionTracker, TrackerEffects, TRANSFER_LOG_FORMAT } from '@rsynchub/rsync-log';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { DbWriteQueue } from '../database/db-write-queue';
import { daemonPaths } from '../daemon/daemon-paths';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { LiveEventsHub } from '../events/live-events.hub';
import { FilePosition, LogFollower } from './log-follower';
import { trackedFileToDto, trackedFromRow, trackedToDto } from './transfer-mappers';
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
/** SQLite allows 32766 bound variables per statement; 8 per file row. */
const FILE_ROWS_PER_INSERT = 4000;
/** 17 bound values per inserted session row, 14 per updated one. */
const SESSION_ROWS_PER_STATEMENT = 1000;

function pidAlive(pid: number): boolean {
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

  private wake(): void {
    if (this.wakeTimer || this.stopped) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.kick();
    }, POLL_MS);
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

  private async pass(): Promise<void> {
    const follower = this.follower!;
    // Big backlogs are taken in slices, each its own transaction, so a restart mid-way loses nothing done.
    for (;;) {
      const { lines, positions, caughtUp } = follower.read();
      this.stats.lastReadAt = new Date();
      this.stats.caughtUp = caughtUp;
      const fx = emptyEffects();
      const now = Date.now();
      for (const l of lines) {
        const event = parseLogLine(l.line);
        if (event) {
          this.tracker.apply(event, fx, now);
          this.stats.lastLineAt = event.at;
        }
      }
      if (caughtUp) this.tracker.closeVanished(pidAlive, now, VANISHED_QUIET_MS, fx);
      const changed = lines.length > 0 || fx.timeline.length > 0;
      if (changed) {
        const fileIds = await this.writes.transaction((em) => this.commit(em, fx, positions));
        this.stats.linesIngested += lines.length;
        this.stats.filesIngested += fx.files.length;
        this.stats.sessionsIngested += fx.inserted.length;
        this.publish(fx, fileIds);
      }
      if (this.tracker.openSessions.length === 0) follower.dropQuietDrained(5_000);
      else follower.dropQuietDrained(DRAIN_QUIET_MS);
      if (caughtUp || this.stopped) return;
    }
  }

  /**
   * Writes a batch; returns the id given to each file event (same order as fx.files). Rows go in as multi-row
   * statements (a few hundred sessions or thousands of files per statement), so a batch of one-file sessions costs
   * a handful of round trips to SQLite instead of two per session.
   */
  private async commit(em: EntityManager, fx: TrackerEffects, positions: FilePosition[]): Promise<number[]> {
    for (let i = 0; i < fx.inserted.length; i += SESSION_ROWS_PER_STATEMENT) {
      const slice = fx.inserted.slice(i, i + SESSION_ROWS_PER_STATEMENT);
      const params: unknown[] = [];
      for (const s of slice) {
        params.push(s.daemonPid, s.module, s.user, s.clientIp, s.clientHost, s.direction, s.startedAt.toISOString(), s.endedAt?.toISOString() ?? null,
          s.bytesReceived, s.bytesSent, s.totalSize, s.fileCount, s.dirCount, s.deletedCount, s.status, s.exitCode, s.error);
      }
      // The driver answers an INSERT with the last row id; one multi-row INSERT in a transaction nobody else writes
      // to gets consecutive AUTOINCREMENT ids (the counters' triggers write to other tables only).
      const last = (await em.query(
        `INSERT INTO transfer_sessions (daemon_pid, module, user, client_ip, client_host, direction, started_at, ended_at,
          bytes_received, bytes_sent, total_size, file_count, dir_count, deleted_count, status, exit_code, error)
         VALUES ${slice.map(() => '(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)').join(',')}`,
        params,
      )) as number;
      slice.forEach((s, k) => (s.id = last - slice.length + 1 + k));
    }
    const updated = [...fx.updated];
    for (let i = 0; i < updated.length; i += SESSION_ROWS_PER_STATEMENT) {
      const slice = updated.slice(i, i + SESSION_ROWS_PER_STATEMENT);
      const params: unknown[] = [];
      for (const s of slice) {
        params.push(s.id, s.module, s.user, s.direction, s.endedAt?.toISOString() ?? null, s.bytesReceived, s.bytesSent, s.totalSize, s.fileCount,
          s.dirCount, s.deletedCount, s.status, s.exitCode, s.error);
      }
      await em.query(
        `UPDATE transfer_sessions SET module = v.column2, user = v.column3, direction = v.column4, ended_at = v.column5, bytes_received = v.column6,
          bytes_sent = v.column7, total_size = v.column8, file_count = v.column9, dir_count = v.column10, deleted_count = v.column11,
          status = v.column12, exit_code = v.column13, error = v.column14
         FROM (VALUES ${slice.map(() => '(?,?,?,?,?,?,?,?,?,?,?,?,?,?)').join(',')}) AS v WHERE transfer_sessions.id = v.column1`,
        params,
      );
    }
    const ids: number[] = [];
    for (let i = 0; i < fx.files.length; i += FILE_ROWS_PER_INSERT) {
      const slice = fx.files.slice(i, i + FILE_ROWS_PER_INSERT);
      const params: unknown[] = [];
      for (const f of slice) params.push(f.session.id, f.at.toISOString(), f.op, f.path, f.size, f.bytes, f.itemize);
      // One multi-row INSERT in a transaction nobody else writes to: its AUTOINCREMENT ids are consecutive.
      const last = (await em.query(`INSERT INTO file_events (session_id, at, op, path, size, bytes, itemize) VALUES ${slice.map(() => '(?,?,?,?,?,?,?)').join(',')}`, params)) as number;
      for (let k = 0; k < slice.length; k++) ids.push(last - slice.length + 1 + k);
    }
    await em.query(`INSERT INTO ingest_state (id, files_json, updated_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET files_json = excluded.files_json, updated_at = excluded.updated_at`, [
      JSON.stringify(positions),
      new Date().toISOString(),
    ]);
    return ids;
  }

  private publish(fx: TrackerEffects, fileIds: number[]): void {
    const fileIndex = new Map(fx.files.map((f, i) => [f, fileIds[i]!]));
    let files: FileEventDto[] = [];
    let filesModule: string | null = null;
    const flushFiles = () => {
      if (files.length > 0) this.hub.publish('session.file', files, filesModule);
      files = [];
    };
    for (const t of fx.timeline) {
      if (t.type === 'file') {
        const module = t.file.session.module;
        if (module !== filesModule) flushFiles();
        filesModule = module;
        files.push(trackedFileToDto(t.file, fileIndex.get(t.file)!));
        continue;
      }
      flushFiles();
      const dto = trackedToDto(t.session);
      if (t.type === 'started') this.hub.publish('session.started', dto, t.session.module);
      else if (t.type === 'ended') this.hub.publish('session.ended', dto, t.session.module);
      else this.hub.publish('auth.failed', dto, t.session.module);
    }
    flushFiles();
    // Counts and bytes so far of sessions still running, after their files: clients replace, never add up.
    const progressed = new Set(fx.files.map((f) => f.session).filter((s) => s.status === 'active'));
    for (const s of progressed) this.hub.publish('session.progress', trackedToDto(s), s.module);
  }
}
