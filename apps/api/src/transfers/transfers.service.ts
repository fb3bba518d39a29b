import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository, SelectQueryBuilder } from 'typeorm';
import {
  FileEventDto,
  FileEventQuery,
  ModuleActivityDto,
  Page,
  StatsDto,
  TRANSFER_STATUSES,
  TransferQuery,
  TransferSessionDto,
  TransferStatus,
} from '@rsynchub/contracts';
import { BadRequestException } from '@nestjs/common';
import { entryKindSql } from '@rsynchub/rsync-log';
import { Readable } from 'node:stream';
import { csvLineSelect, csvStream, type CsvColumn, type CsvLine } from './csv-stream';
import { likePrefix } from '../common/like';
import { activeSecondsByMinute } from './active-seconds';
import { decodeCursor, encodeCursor, parseLimit, parseTime } from '../common/pagination';
import { TransferLogIngestor } from './transfer-log-ingestor';
import { fileRowToDto, sessionRowToDto } from './transfer-mappers';
import { FileEventEntity, TransferSessionEntity } from './transfer.entities';

/** LIKE with the user's text taken literally. */
function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const SESSION_CSV_PAGE = 1_000;
/**
 * Prefix filters (`module=`, `user=`) and `ORDER BY id DESC LIMIT n`: a NOCASE index finds the matching rows but in
 * value order, so they must be sorted; the id order finds a page fast only when matches are dense. Which is cheaper
 * depends on the data, which SQLite's planner does not know (no statistics), so `sessionsPage` asks the index first:
 * fewer than PREFIX_FEW matches are read through it and sorted; more, covering at most PREFIX_MAX_VALUES distinct
 * values, are read value by value in id order (each an ordered index walk) and merged; more values than that scan
 * in id order.
 */
export const PREFIX_FEW = 2_000;
const PREFIX_MAX_VALUES = 32;
type PrefixColumn = 'module' | 'user';
/** How one page of a filtered session list is read (see PREFIX_FEW). */
type PrefixPlan =
  | { kind: 'empty' }
  /**
   * `timeIds`: the ids of every session in the from=/to= window, when it holds fewer than PREFIX_FEW; `timeWalk`: the
   * window is wide and few sessions are newer than it, so the page is found walking ids, not the time index (see timePlan).
   */
  | { kind: 'planner'; unindexed: PrefixColumn[]; timeIds?: number[]; timeWalk?: boolean }
  | { kind: 'values'; column: PrefixColumn; values: string[] };

/** `path=` on the sessions list looks at this many of the newest file events (documented in the README). */
export const PATH_SEARCH_WINDOW = 100_000;
/** A wide from=/to= window is read in id order when at most this many sessions are newer than it (see timePlan). */
export const TIME_WALK_MAX = 20_000;
/** Small pages: each is rendered in one go on the event loop, so other requests wait at most one page. */
const FILE_CSV_PAGE = 1_000;

const SESSION_CSV_COLUMNS: CsvColumn[] = [
  { header: 'id', sql: 's.id' },
  { header: 'started_at', sql: 's.started_at' },
  { header: 'ended_at', sql: 's.ended_at' },
  { header: 'module', sql: 's.module' },
  { header: 'user', sql: 's.user' },
  { header: 'client_ip', sql: 's.client_ip' },
  { header: 'client_host', sql: 's.client_host' },
  { header: 'direction', sql: 's.direction' },
  { header: 'status', sql: 's.status' },
  { header: 'exit_code', sql: 's.exit_code' },
  { header: 'error', sql: 's.error' },
  { header: 'bytes_received', sql: 's.bytes_received' },
  { header: 'bytes_sent', sql: 's.bytes_sent' },
  { header: 'total_size', sql: 's.total_size' },
  { header: 'files', sql: 's.file_count' },
  { header: 'directories', sql: 's.dir_count' },
  { header: 'deleted', sql: 's.deleted_count' },
];
const SESSION_CSV_SELECT = csvLineSelect('s.id', SESSION_CSV_COLUMNS);

/**
 * A session row read raw under its entity's property names: pages are read without TypeORM's entity hydration, which
 * made most of an export's garbage (RSS grew by ~100 MB over a 222k-session CSV).
 */
const SESSION_SELECT = [
  's.id AS id',
  's.daemon_pid AS daemonPid',
  's.module AS module',
  's.user AS user',
  's.client_ip AS clientIp',
  's.client_host AS clientHost',
  's.direction AS direction',
  's.started_at AS startedAt',
  's.ended_at AS endedAt',
  's.bytes_received AS bytesReceived',
  's.bytes_sent AS bytesSent',
  's.total_size AS totalSize',
  's.file_count AS fileCount',
  's.dir_count AS dirCount',
  's.deleted_count AS deletedCount',
  's.status AS status',
  's.exit_code AS exitCode',
  's.error AS error',
];

const FILE_CSV_COLUMNS: CsvColumn[] = [
  { header: 'id', sql: 'f.id' },
  { header: 'at', sql: 'f.at' },
  { header: 'op', sql: 'f.op' },
  { header: 'path', sql: 'f.path' },
  { header: 'size', sql: 'f.size' },
  { header: 'bytes', sql: 'f.bytes' },
  { header: 'itemize', sql: 'f.itemize' },
];
const FILE_CSV_SELECT = csvLineSelect('f.id', FILE_CSV_COLUMNS);

@Injectable()
export class TransfersService {
  constructor(
    @InjectRepository(TransferSessionEntity) private readonly sessions: Repository<TransferSessionEntity>,
    @InjectRepository(FileEventEntity) private readonly files: Repository<FileEventEntity>,
    private readonly ingestor: TransferLogIngestor,
  ) {}

  async list(q: TransferQuery): Promise<Page<TransferSessionDto>> {
    const limit = parseLimit(q.limit);
    this.filtered(q); // validates the query before any look-up
    const rows = await this.sessionsPage(q, await this.timePlan(q, await this.prefixPlan(q)), decodeCursor(q.cursor), limit + 1);
    const items = rows.slice(0, limit).map(sessionRowToDto);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
  }

  /** Every matching session, newest first, streamed page by page (no row limit). */
  csv(q: TransferQuery): Readable {
    this.filtered(q); // validates the query now, so a bad filter is a 400 before any byte is sent
    // The plan is made once: pages go from newest to oldest, so rows added meanwhile are never part of the export.
    let plan: Promise<PrefixPlan> | null = null;
    return csvStream(SESSION_CSV_COLUMNS, async (lastId) => {
      plan ??= this.prefixPlan(q).then((p) => this.timePlan(q, p));
      const before = lastId ?? decodeCursor(q.cursor);
      return this.sessionsPage<CsvLine>(q, await plan, before, SESSION_CSV_PAGE, SESSION_CSV_SELECT);
    });
  }

  /**
   * Newest session and newest successful push of every module that has any: read from `module_activity` (kept by
   * triggers), so the cost follows the number of modules, not of sessions.
   */
  async activityByModule(): Promise<ModuleActivityDto[]> {
    const rows: { module: string; lastSessionAt: string; lastStatus: TransferStatus; lastPushAt: string | null; lastPushSize: number | null; lastPushFiles: number | null }[] =
      await this.sessions.manager.query(
        `SELECT s.module AS module, s.started_at AS lastSessionAt, s.status AS lastStatus,
           p.started_at AS lastPushAt, p.total_size AS lastPushSize, p.file_count AS lastPushFiles
         FROM module_activity a
         JOIN transfer_sessions s ON s.id = a.last_session_id
         LEFT JOIN transfer_sessions p ON p.id = a.last_push_id
         ORDER BY s.module`,
      );
    return rows;
  }

  async get(id: number): Promise<TransferSessionDto> {
    const row = await this.sessions.findOneBy({ id });
    if (!row) throw new NotFoundException(`transfer session ${id} does not exist`);
    return sessionRowToDto(row);
  }

  async filesOf(id: number, q: FileEventQuery): Promise<Page<FileEventDto>> {
    await this.get(id);
    const limit = parseLimit(q.limit, 200, 5000);
    const rows = await this.filesFiltered(id, q).take(limit + 1).getMany();
    const items = rows.slice(0, limit).map(fileRowToDto);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
  }

  /** Every matching file event of a session, in arrival order, streamed page by page (no row limit). */
  async filesCsv(id: number, q: FileEventQuery): Promise<Readable> {
    await this.get(id);
    this.filesFiltered(id, q); // validates the query before any byte is sent
    return csvStream(FILE_CSV_COLUMNS, async (lastId) => {
      const qb = this.filesFiltered(id, q);
      if (lastId !== null) qb.andWhere('f.id > :csvAfter', { csvAfter: lastId });
      return qb.select(FILE_CSV_SELECT).limit(FILE_CSV_PAGE).getRawMany<CsvLine>();
    });
  }

  /** Live figures: over the last `windowSeconds` per module, per-minute series for the last hour, today's totals. */
  async stats(windowSeconds = 60): Promise<StatsDto> {
    const now = Date.now();
    const windowStart = new Date(now - windowSeconds * 1000).toISOString();
    const hourStart = new Date(now - 3600_000).toISOString();
    const dayStart = new Date(new Date().setUTCHours(0, 0, 0, 0)).toISOString();
    const em = this.sessions.manager;
    const isFile = entryKindSql('f', 'file');
    const [perModule, series, runs, today, failedLogins] = await Promise.all([
      em.query(
        `SELECT s.module AS module, SUM(f.bytes) AS bytes, SUM(CASE WHEN ${isFile} THEN 1 ELSE 0 END) AS files
         FROM file_events f JOIN transfer_sessions s ON s.id = f.session_id WHERE f.at >= ? GROUP BY s.module`,
        [windowStart],
      ) as Promise<{ module: string | null; bytes: number; files: number }[]>,
      em.query(
        `SELECT substr(f.at, 1, 16) || ':00.000Z' AS t, s.module AS module, SUM(f.bytes) AS bytes, SUM(CASE WHEN ${isFile} THEN 1 ELSE 0 END) AS files
         FROM file_events f JOIN transfer_sessions s ON s.id = f.session_id WHERE f.at >= ? GROUP BY t, s.module ORDER BY t`,
        [hourStart],
      ) as Promise<{ t: string; module: string | null; bytes: number; files: number }[]>,
      em.query(
        `SELECT COALESCE(module, '') AS module, started_at AS startedAt, ended_at AS endedAt FROM transfer_sessions
         WHERE direction IS NOT NULL AND (ended_at IS NULL OR ended_at >= ?)`,
        [hourStart],
      ) as Promise<{ module: string; startedAt: string; endedAt: string | null }[]>,
      em.query(
        `SELECT COUNT(*) AS sessions, COALESCE(SUM(bytes_received + bytes_sent), 0) AS bytes, COALESCE(SUM(file_count), 0) AS files,
           SUM(CASE WHEN status = 'auth_failed' THEN 1 ELSE 0 END) AS authFailures
         FROM transfer_sessions WHERE started_at >= ?`,
        [dayStart],
      ) as Promise<{ sessions: number; bytes: number; files: number; authFailures: number }[]>,
      em.query(`SELECT COUNT(*) AS n FROM audit_log WHERE action = 'auth.login' AND outcome = 'failure' AND at >= ?`, [dayStart]) as Promise<{ n: number }[]>,
    ]);
    const open = this.ingestor.openSessions;
    const activeByModule = new Map<string, number>();
    for (const s of open) activeByModule.set(s.module ?? '', (activeByModule.get(s.module ?? '') ?? 0) + 1);
    const modules = new Map<string, StatsDto['modules'][number]>();
    for (const r of perModule) {
      const m = r.module ?? '';
      modules.set(m, { module: m, bytesPerSecond: r.bytes / windowSeconds, filesPerSecond: r.files / windowSeconds, activeSessions: activeByModule.get(m) ?? 0 });
    }
    for (const [m, n] of activeByModule) if (!modules.has(m)) modules.set(m, { module: m, bytesPerSecond: 0, filesPerSecond: 0, activeSessions: n });
    const active = activeSecondsByMinute(
      runs.map((r) => ({ module: r.module, startMs: Date.parse(r.startedAt), endMs: r.endedAt ? Date.parse(r.endedAt) : now })),
      Date.parse(hourStart) - 60_000,
      now,
    );
    const st = this.ingestor.stats;
    return {
      activeSessions: open.length,
      modules: [...modules.values()].sort((a, b) => a.module.localeCompare(b.module)),
      windowSeconds,
      series: series.map((r) => ({
        t: r.t,
        module: r.module ?? '',
        bytes: r.bytes,
        files: r.files,
        activeSeconds: Math.round((active.get(`${Date.parse(r.t)}|${r.module ?? ''}`) ?? 0) * 1000) / 1000,
      })),
      today: {
        sessions: today[0]?.sessions ?? 0,
        bytes: today[0]?.bytes ?? 0,
        files: today[0]?.files ?? 0,
        authFailures: today[0]?.authFailures ?? 0,
        failedLogins: failedLogins[0]?.n ?? 0,
      },
      ingestionLagSeconds: st.caughtUp || !st.lastLineAt ? 0 : Math.max(0, (now - st.lastLineAt.getTime()) / 1000),
    };
  }

  /** Per-module totals for Prometheus: running counters (kept by triggers), as many rows as modules × outcomes. */
  async totalsByModule(): Promise<{ module: string; status: string; sessions: number; bytesReceived: number; bytesSent: number; files: number; dirs: number }[]> {
    return this.sessions.manager.query(
      `SELECT module, status, sessions, bytes_received AS bytesReceived, bytes_sent AS bytesSent, files, dirs FROM transfer_counters ORDER BY module, status`,
    );
  }

  /** Up to `n` sessions matching `q` with ids below `before` (all when null), newest first, read the way `plan` says. */
  private async sessionsPage<Row = TransferSessionEntity>(q: TransferQuery, plan: PrefixPlan, before: number | null, n: number, select: string[] = SESSION_SELECT): Promise<Row[]> {
    if (plan.kind === 'empty') return [];
    if (plan.kind === 'planner') {
      const qb = this.filtered(q, before, plan.unindexed, plan.timeWalk);
      if (plan.timeIds) qb.andWhere('s.id IN (SELECT value FROM json_each(:timeIds))', { timeIds: JSON.stringify(plan.timeIds) });
      return qb.select(select).limit(n).getRawMany<Row>();
    }
    const { column, values } = plan;
    const others = (['module', 'user'] as const).filter((c) => c !== column);
    // Ids only (from the index), merged; then the page's rows in one look-up.
    const parts: { id: number }[][] = await Promise.all(
      values.map((value) =>
        this.filtered({ ...q, [column]: undefined }, before, others)
          .andWhere(`s.${column} = :value COLLATE NOCASE`, { value })
          .select('s.id', 'id')
          .limit(n)
          .getRawMany(),
      ),
    );
    const ids = parts
      .flat()
      .map((r) => r.id)
      .sort((a, b) => b - a)
      .slice(0, n);
    if (ids.length === 0) return [];
    return this.sessions.createQueryBuilder('s').select(select).whereInIds(ids).orderBy('s.id', 'DESC').getRawMany<Row>();
  }

  /**
   * A from=/to= window left to the planner made it either walk every newer session in id order (`to=` alone: SCAN)
   * or sort every session of the window (both bounds: the started_at index, then a temp B-tree for ORDER BY id) —
   * linear in the history. One bounded look-up of the window in idx_sessions_started decides: no session, the answer
   * is empty; fewer than PREFIX_FEW, the page is read by those ids (a sort of at most PREFIX_FEW rows). A wider window
   * is read in id order (the time index kept out of it) when a second bounded look-up finds fewer than TIME_WALK_MAX
   * sessions newer than the window: the walk then passes at most those before the window's matches, which are many.
   * A wide window far back in a long history is left to the planner (its sort is linear in the window).
   */
  private async timePlan(q: TransferQuery, plan: PrefixPlan): Promise<PrefixPlan> {
    if (plan.kind !== 'planner' || (!q.from && !q.to)) return plan;
    const from = parseTime('from', q.from);
    const to = parseTime('to', q.to);
    const where = [from ? 'started_at >= ?' : null, to ? 'started_at < ?' : null].filter((w) => w !== null).join(' AND ');
    const em = this.sessions.manager;
    const ids = (await em.query(`SELECT id FROM transfer_sessions INDEXED BY idx_sessions_started WHERE ${where} LIMIT ${PREFIX_FEW}`, [
      ...(from ? [from] : []),
      ...(to ? [to] : []),
    ])) as { id: number }[];
    if (ids.length === 0) return { kind: 'empty' };
    if (ids.length < PREFIX_FEW) return { ...plan, timeIds: ids.map((r) => r.id) };
    if (!to) return { ...plan, timeWalk: true };
    const [{ n }] = await em.query(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM transfer_sessions INDEXED BY idx_sessions_started WHERE started_at >= ? LIMIT ${TIME_WALK_MAX})`,
      [to],
    );
    return n < TIME_WALK_MAX ? { ...plan, timeWalk: true } : plan;
  }

  /** Decides how `sessionsPage` reads the prefix filters of `q` (see PREFIX_FEW), from a few bounded index look-ups. */
  private async prefixPlan(q: TransferQuery): Promise<PrefixPlan> {
    const columns = (['module', 'user'] as const).filter((c) => q[c]);
    if (columns.length === 0) return { kind: 'planner', unindexed: [] };
    const em = this.sessions.manager;
    const counts = await Promise.all(
      columns.map(async (column) => {
        const [{ n }] = await em.query(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM transfer_sessions WHERE ${column} LIKE ? ESCAPE '\\' LIMIT ${PREFIX_FEW})`, [
          likePrefix(q[column]!),
        ]);
        return { column, n: n as number };
      }),
    );
    if (counts.some((c) => c.n === 0)) return { kind: 'empty' };
    const fewest = counts.reduce((a, b) => (b.n < a.n ? b : a));
    if (fewest.n < PREFIX_FEW) return { kind: 'planner', unindexed: columns.filter((c) => c !== fewest.column) };
    let best: { column: PrefixColumn; values: string[] } | null = null;
    for (const column of columns) {
      const values = await this.prefixValues(column, q[column]!, PREFIX_MAX_VALUES + 1);
      if (values.length <= PREFIX_MAX_VALUES && (!best || values.length < best.values.length)) best = { column, values };
    }
    return best ? { kind: 'values', ...best } : { kind: 'planner', unindexed: columns };
  }

  /**
   * The distinct values (NOCASE) of `column` starting with `prefix`, at most `max`: a walk that seeks the NOCASE index
   * once per value (values sharing a prefix are neighbours in it), so its cost follows the values, not the rows.
   */
  private async prefixValues(column: PrefixColumn, prefix: string, max: number): Promise<string[]> {
    const rows: { v: string }[] = await this.sessions.manager.query(
      `WITH RECURSIVE d(v) AS (
         SELECT (SELECT ${column} FROM transfer_sessions WHERE ${column} LIKE ?1 ESCAPE '\\' ORDER BY ${column} COLLATE NOCASE LIMIT 1)
         UNION ALL
         SELECT (SELECT ${column} FROM transfer_sessions WHERE ${column} > d.v COLLATE NOCASE ORDER BY ${column} COLLATE NOCASE LIMIT 1)
         FROM d WHERE d.v LIKE ?1 ESCAPE '\\' LIMIT ?2
       ) SELECT v FROM d WHERE v LIKE ?1 ESCAPE '\\'`,
      [likePrefix(prefix), max + 1],
    );
    return rows.map((r) => r.v);
  }

  /**
   * The filters of `q` as a query, newest first, ids below `before`. Prefix filters named in `unindexed` are
   * written so SQLite cannot drive the query from their index (`+column`), see PREFIX_FEW; so is the time window
   * when `timeWalk` (see timePlan).
   */
  private filtered(
    q: TransferQuery,
    before: number | null = decodeCursor(q.cursor),
    unindexed: readonly PrefixColumn[] = [],
    timeWalk = false,
  ): SelectQueryBuilder<TransferSessionEntity> {
    const qb = this.sessions.createQueryBuilder('s').orderBy('s.id', 'DESC');
    if (before !== null) qb.andWhere('s.id < :cursor', { cursor: before });
    const col = (c: PrefixColumn) => (unindexed.includes(c) ? `+s.${c}` : `s.${c}`);
    // Module and user match by prefix (issue 13: "web" finds web and webshop), case-insensitive like the module always was.
    if (q.module) qb.andWhere(`${col('module')} LIKE :module ESCAPE '\\'`, { module: likePrefix(q.module) });
    if (q.user) qb.andWhere(`${col('user')} LIKE :user ESCAPE '\\'`, { user: likePrefix(q.user) });
    if (q.ip) qb.andWhere('s.client_ip = :ip', { ip: q.ip });
    if (q.status) {
      if (!TRANSFER_STATUSES.includes(q.status as TransferStatus)) throw new BadRequestException(`status: must be one of ${TRANSFER_STATUSES.join(', ')}`);
      qb.andWhere('s.status = :status', { status: q.status });
    }
    const from = parseTime('from', q.from);
    const to = parseTime('to', q.to);
    const startedAt = timeWalk ? '+s.started_at' : 's.started_at';
    if (from) qb.andWhere(`${startedAt} >= :from`, { from });
    if (to) qb.andWhere(`${startedAt} < :to`, { to });
    if (q.path) {
      // Substring search cannot use an index: it is bounded to the newest PATH_SEARCH_WINDOW file events (a rowid
      // range), so its cost stays flat however long the history grows.
      qb.andWhere(
        `s.id IN (SELECT f.session_id FROM file_events f WHERE f.id > (SELECT COALESCE(MAX(id), 0) FROM file_events) - ${PATH_SEARCH_WINDOW} AND f.path LIKE :path ESCAPE '\\')`,
        { path: likeContains(q.path) },
      );
    }
    return qb;
  }

  private filesFiltered(sessionId: number, q: FileEventQuery): SelectQueryBuilder<FileEventEntity> {
    // Files in the order they arrived; the cursor moves forward through a session.
    const qb = this.files.createQueryBuilder('f').where('f.session_id = :sessionId', { sessionId }).orderBy('f.id', 'ASC');
    const cursor = decodeCursor(q.cursor);
    if (cursor !== null) qb.andWhere('f.id > :cursor', { cursor });
    if (q.op) qb.andWhere('f.op = :op', { op: q.op });
    if (q.path) qb.andWhere(`f.path LIKE :path ESCAPE '\\'`, { path: likeContains(q.path) });
    return qb;
  }
}
