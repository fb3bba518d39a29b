import { HttpException, HttpStatus, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Request } from 'express';
import { DbWriteQueue } from '../database/db-write-queue';
import type { AuditEntryDto } from '@rsynchub/contracts';
import { LiveEventsHub } from '../events/live-events.hub';

/** One audit row per client address and window for throttled logins. */
export const AGGREGATE_WINDOW_MS = 60_000;
/** The open row's count is written at most this often while the flood goes on. */
const FLUSH_MS = 1_000;
const MAX_OPEN = 10_000;
/** Rows per statement (11 bound values each stays far below SQLite's variable limit). */
const CHUNK = 50;

interface OpenAggregate {
  /** Row id once inserted (null until the next flush writes it). */
  id: number | null;
  count: number;
  firstAt: number;
  lastAt: number;
  windowEnds: number;
  flushedCount: number;
}

/** The attempts summarised by an aggregate row (its `after` field). */
export interface AggregatedAttempts {
  throttledAttempts: number;
  firstAt: string;
  lastAt: string;
}

function describe(ip: string, a: OpenAggregate): { detail: string; after: AggregatedAttempts } {
  const firstAt = new Date(a.firstAt).toISOString();
  const lastAt = new Date(a.lastAt).toISOString();
  return {
    detail: `throttled: ${a.count} login attempt${a.count === 1 ? '' : 's'} refused from ${ip} between ${firstAt} and ${lastAt} (one entry per address and minute)`,
    after: { throttledAttempts: a.count, firstAt, lastAt },
  };
}

/**
 * Logins refused by the throttle (429) are counted, not written one by one: a flood of thousands per second would
 * otherwise fill the audit log and the SQLite write queue, and slow every other route. Once a second, one transaction
 * inserts a row for each address newly refused in its window (streamed live) and raises the count of rows whose
 * window is still open: the whole flood costs one small write per second. This in-place count is the only update to
 * an audit row.
 */
@Injectable()
export class AuditAggregator implements OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  private readonly open = new Map<string, OpenAggregate>();
  /** Aggregates pushed out of `open` (evicted) with counts still to write. */
  private readonly closed: [string, OpenAggregate][] = [];
  private flushing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly writes: DbWriteQueue,
    private readonly hub: LiveEventsHub,
  ) {
    this.timer = setInterval(() => void this.flush(Date.now()), FLUSH_MS);
    this.timer.unref();
  }

  /** Absorbs the audit entry of a throttled login; null when the request is not one (the caller records it). */
  absorb(req: Request, err: unknown, now = Date.now()): Promise<void> | null {
    if (!(err instanceof HttpException) || err.getStatus() !== HttpStatus.TOO_MANY_REQUESTS) return null;
    const routePath = (req.route as { path?: string } | undefined)?.path ?? req.path;
    if (req.method !== 'POST' || !routePath.endsWith('/auth/login')) return null;
    return this.count(req.ip ?? req.socket?.remoteAddress ?? 'unknown', now);
  }

  /** Counts one throttled login from `ip` (used directly by the early refusal that runs before Nest). */
  count(ip: string, now = Date.now()): Promise<void> {
    const current = this.open.get(ip);
    if (current && now < current.windowEnds) {
      current.count++;
      current.lastAt = now;
      return Promise.resolve();
    }
    if (current) this.close(ip, current);
    this.open.set(ip, { id: null, count: 1, firstAt: now, lastAt: now, windowEnds: now + AGGREGATE_WINDOW_MS, flushedCount: 0 });
    while (this.open.size > MAX_OPEN) {
      const [oldestIp, oldest] = this.open.entries().next().value as [string, OpenAggregate];
      this.close(oldestIp, oldest);
    }
    return Promise.resolve();
  }

  /**
   * Writes the counts that changed, all in one transaction (one fsync, not one per address: under a flood from many
   * addresses separate updates queued faster than the disk took them and starved every other write); closes windows
   * that ended. A flush still running makes the next tick skip, so writes never pile up.
   */
  async flush(now: number): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      const due: [string, OpenAggregate][] = [];
      for (const [ip, a] of this.open) {
        if (a.count !== a.flushedCount) due.push([ip, a]);
        if (now >= a.windowEnds) this.open.delete(ip);
      }
      for (const [ip, a] of this.closed.splice(0)) due.push([ip, a]);
      await this.write(due);
    } finally {
      this.flushing = false;
    }
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    while (this.flushing) await new Promise((r) => setTimeout(r, 10));
    await this.flush(Number.POSITIVE_INFINITY);
  }

  private close(ip: string, a: OpenAggregate): void {
    this.open.delete(ip);
    if (a.count !== a.flushedCount) this.closed.push([ip, a]);
  }

  private async write(due: [string, OpenAggregate][]): Promise<void> {
    if (due.length === 0) return;
    const rows = due.map(([ip, a]) => ({ ip, a, count: a.count, ...describe(ip, a) }));
    const inserted: AuditEntryDto[] = [];
    try {
      await this.writes.transaction(async (em) => {
        // A few statements per flush whatever the number of addresses (one round trip each through SQLite's single
        // connection, which every other request shares): multi-row INSERTs and one CASE UPDATE per chunk.
        const fresh = rows.filter((r) => r.a.id === null);
        const known = rows.filter((r) => r.a.id !== null);
        for (let i = 0; i < fresh.length; i += CHUNK) {
          const chunk = fresh.slice(i, i + CHUNK);
          const entries = chunk.map((r) => ({
            row: {
              at: new Date(r.a.firstAt).toISOString(),
              actor: 'anonymous',
              actorType: 'anonymous' as const,
              role: null,
              action: 'auth.login',
              target: null,
              clientIp: r.ip,
              outcome: 'failure' as const,
              detail: r.detail,
              beforeJson: null,
              afterJson: JSON.stringify(r.after),
            },
            r,
          }));
          const lastId = (await em.query(
            `INSERT INTO audit_log (at, actor, actor_type, role, action, target, client_ip, outcome, detail, before_json, after_json) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
            entries.flatMap(({ row: x }) => [x.at, x.actor, x.actorType, x.role, x.action, x.target, x.clientIp, x.outcome, x.detail, x.beforeJson, x.afterJson]),
          )) as number;
          // One statement inside our write transaction: the rows got consecutive ids, in VALUES order, ending at lastId.
          entries.forEach(({ row, r }, k) => {
            const id = lastId - entries.length + 1 + k;
            r.a.id = id;
            const { beforeJson: _before, afterJson: _after, ...plain } = row;
            inserted.push({ ...plain, id, role: null, before: null, after: { ...r.after } });
          });
        }
        for (let i = 0; i < known.length; i += CHUNK) {
          const chunk = known.slice(i, i + CHUNK);
          const cases = chunk.map(() => 'WHEN ? THEN ?').join(' ');
          await em.query(`UPDATE audit_log SET detail = CASE id ${cases} END, after_json = CASE id ${cases} END WHERE id IN (${chunk.map(() => '?').join(', ')})`, [
            ...chunk.flatMap((r) => [r.a.id, r.detail]),
            ...chunk.flatMap((r) => [r.a.id, JSON.stringify(r.after)]),
            ...chunk.map((r) => r.a.id),
          ]);
        }
      });
      for (const r of rows) r.a.flushedCount = r.count;
      for (const dto of inserted) this.hub.publish('audit.entry', dto);
    } catch (e) {
      // Ids handed out inside a rolled-back transaction are void: those rows are inserted again next time.
      for (const dto of inserted) {
        const r = rows.find((x) => x.a.id === dto.id);
        if (r) r.a.id = null;
      }
      this.logger.error(`could not write throttled-login counts: ${String(e)}`);
    }
  }
}
