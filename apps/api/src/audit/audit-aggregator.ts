import { HttpException, HttpStatus, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Request } from 'express';
import { DbWriteQueue } from '../database/db-write-queue';
import { AuditEntryEntity } from './audit-entry.entity';
import { AuditService } from './audit.service';

/** One audit row per client address and window for throttled logins. */
export const AGGREGATE_WINDOW_MS = 60_000;
/** The open row's count is written at most this often while the flood goes on. */
const FLUSH_MS = 1_000;
const MAX_OPEN = 10_000;

interface OpenAggregate {
  id: Promise<number | null>;
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
 * otherwise fill the audit log and the SQLite write queue, and slow every other route. The first refusal of an
 * address in a window writes a row at once (and streams it live); later ones in the window only raise that row's
 * count, written back about once a second. This in-place count is the only update to an audit row.
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
    private readonly audit: AuditService,
    private readonly writes: DbWriteQueue,
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
    const fresh: OpenAggregate = { id: Promise.resolve(null), count: 1, firstAt: now, lastAt: now, windowEnds: now + AGGREGATE_WINDOW_MS, flushedCount: 1 };
    const { detail, after } = describe(ip, fresh);
    fresh.id = this.audit
      .record({ actor: 'anonymous', actorType: 'anonymous', role: null, action: 'auth.login', target: null, clientIp: ip, outcome: 'failure', detail, before: null, after: { ...after } })
      .then((dto) => dto.id)
      .catch((e: unknown) => {
        this.logger.error(`could not audit throttled logins from ${ip}: ${String(e)}`);
        return null;
      });
    this.open.set(ip, fresh);
    while (this.open.size > MAX_OPEN) {
      const [oldestIp, oldest] = this.open.entries().next().value as [string, OpenAggregate];
      this.close(oldestIp, oldest);
    }
    return fresh.id.then(() => undefined);
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
    const rows: { id: number; detail: string; afterJson: string; a: OpenAggregate; count: number }[] = [];
    for (const [ip, a] of due) {
      const id = await a.id;
      if (id === null) continue;
      const { detail, after } = describe(ip, a);
      rows.push({ id, detail, afterJson: JSON.stringify(after), a, count: a.count });
    }
    if (rows.length === 0) return;
    try {
      await this.writes.transaction(async (em) => {
        const repo = em.getRepository(AuditEntryEntity);
        for (const r of rows) await repo.update({ id: r.id }, { detail: r.detail, afterJson: r.afterJson });
      });
      for (const r of rows) r.a.flushedCount = r.count;
    } catch (e) {
      this.logger.error(`could not update throttled-login counts: ${String(e)}`);
    }
  }
}
