import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { DbWriteQueue } from '../database/db-write-queue';
import { AuditService } from '../audit/audit.service';

const DELETE_SLICE = 50_000;
/** The first run comes this soon after start (or after one interval, if shorter), not only after a full interval. */
const FIRST_RUN_SECONDS = 30;
/** Free pages handed back to the file system per write (4 KiB pages: 8 MB), so ingestion never waits long. */
const VACUUM_PAGES_PER_STEP = 2_000;
/** Sessions that never were a transfer: the daemon refused the connection. */
const REFUSALS = `('refused','auth_failed')`;

/**
 * Keeps history bounded: sessions and file events older than the configured age, and the oldest file events beyond
 * the configured row count, are deleted in slices in the background. The audit log is kept unless its own
 * retention is configured.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RetentionService.name);
  private timer: NodeJS.Timeout | null = null;
  private firstRun: NodeJS.Timeout | null = null;

  constructor(
    private readonly writes: DbWriteQueue,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    let running = false;
    const run = () => {
      if (running) return;
      running = true;
      void this.prune()
        .then(() => this.vacuum())
        .catch((err: unknown) => this.logger.error(`pruning failed: ${String(err)}`))
        .finally(() => (running = false));
    };
    const interval = this.config.retention.intervalSeconds;
    this.firstRun = setTimeout(run, Math.min(FIRST_RUN_SECONDS, interval) * 1000);
    this.firstRun.unref();
    this.timer = setInterval(run, interval * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.firstRun) clearTimeout(this.firstRun);
  }

  /**
   * Gives the pages freed by deletions back to the file system (the database uses `auto_vacuum = INCREMENTAL`, see
   * migration 1764100701000), a slice at a time. Returns the number of pages released.
   */
  async vacuum(): Promise<number> {
    const [{ auto_vacuum: mode }] = await this.writes.run((em) => em.query(`PRAGMA auto_vacuum`));
    if (mode !== 2) return 0;
    const freePages = (em: EntityManager) => em.query(`PRAGMA freelist_count`).then((r: { freelist_count: number }[]) => r[0]!.freelist_count);
    const start = await this.writes.run(freePages);
    let free = start;
    while (free > 0) {
      const left = await this.writes.run(async (em) => {
        await em.query(`PRAGMA incremental_vacuum(${VACUUM_PAGES_PER_STEP})`);
        return freePages(em);
      });
      if (left >= free) break;
      free = left;
    }
    return start - free;
  }

  async prune(now = Date.now()): Promise<{ sessions: number; files: number; audit: number; refused: number }> {
    const r = this.config.retention;
    let files = 0;
    let sessions = 0;
    let audit = 0;
    let refused = 0;
    if (r.transferDays > 0) {
      const cutoff = new Date(now - r.transferDays * 86_400_000).toISOString();
      files += await this.deleteInSlices(`DELETE FROM file_events WHERE id IN (SELECT id FROM file_events WHERE at < ? LIMIT ${DELETE_SLICE})`, [cutoff]);
      sessions += await this.deleteInSlices(
        `DELETE FROM transfer_sessions WHERE id IN (SELECT id FROM transfer_sessions WHERE started_at < ? AND status != 'active' LIMIT ${DELETE_SLICE})`,
        [cutoff],
      );
    }
    if (r.maxFileEvents > 0) {
      const [{ n }] = await this.writes.run((em) => em.query(`SELECT COUNT(*) AS n FROM file_events`));
      if (n > r.maxFileEvents) {
        const excess = n - r.maxFileEvents;
        files += await this.deleteInSlices(`DELETE FROM file_events WHERE id IN (SELECT id FROM file_events ORDER BY id LIMIT ?)`, (left) => [Math.min(left, DELETE_SLICE)], excess);
      }
    }
    // Refused connections (unknown module, denied host, failed authentication) are counted and capped apart from
    // real sessions: anyone who can reach the port can make them, and they must not push real history out.
    if (r.maxSessions > 0) {
      const [{ n }] = await this.writes.run((em) => em.query(`SELECT COUNT(*) AS n FROM transfer_sessions WHERE status NOT IN ${REFUSALS}`));
      if (n > r.maxSessions) {
        const excess = n - r.maxSessions;
        sessions += await this.deleteInSlices(
          `DELETE FROM transfer_sessions WHERE id IN (SELECT id FROM transfer_sessions WHERE status NOT IN ${REFUSALS} AND status != 'active' ORDER BY id LIMIT ?)`,
          (left) => [Math.min(left, DELETE_SLICE)],
          excess,
        );
      }
    }
    if (r.maxRefused > 0) {
      const [{ n }] = await this.writes.run((em) => em.query(`SELECT COUNT(*) AS n FROM transfer_sessions WHERE status IN ${REFUSALS}`));
      if (n > r.maxRefused) {
        const excess = n - r.maxRefused;
        refused = await this.deleteInSlices(
          `DELETE FROM transfer_sessions WHERE id IN (SELECT id FROM transfer_sessions WHERE status IN ${REFUSALS} ORDER BY id LIMIT ?)`,
          (left) => [Math.min(left, DELETE_SLICE)],
          excess,
        );
        sessions += refused;
      }
    }
    if (r.auditDays > 0) audit = await this.audit.pruneOlderThan(new Date(now - r.auditDays * 86_400_000).toISOString());
    if (files + sessions + audit > 0) {
      this.logger.log(`retention removed ${sessions} sessions (${refused} of them refused connections), ${files} file events, ${audit} audit entries`);
    }
    return { sessions, files, audit, refused };
  }

  /** Deletes slice by slice (each its own short write) so ingestion is never held up for long. */
  private async deleteInSlices(sql: string, params: unknown[] | ((left: number) => unknown[]), atMost = Number.POSITIVE_INFINITY): Promise<number> {
    let total = 0;
    while (total < atMost) {
      const changes = await this.writes.run(async (em) => {
        await em.query(sql, typeof params === 'function' ? params(atMost - total) : params);
        return (await em.query('SELECT changes() AS n'))[0].n as number;
      });
      total += changes;
      if (changes === 0) break;
    }
    return total;
  }
}
