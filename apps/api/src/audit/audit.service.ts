import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Brackets, EntityManager, Repository } from 'typeorm';
import type { AuditEntryDto, AuditQuery, Page } from '@rsynchub/contracts';
import { toCsv } from '../common/csv';
import { likePrefix } from '../common/like';
import { decodeCursor, encodeCursor, parseLimit, parseTime } from '../common/pagination';
import { DbWriteQueue } from '../database/db-write-queue';
import { LiveEventsHub } from '../events/live-events.hub';
import { AuditEntryEntity } from './audit-entry.entity';
import { redactSecrets } from './redact';

export type NewAuditEntry = Omit<AuditEntryDto, 'id' | 'at'>;

function toRow(entry: NewAuditEntry): Omit<AuditEntryEntity, 'id'> {
  const before = entry.before === undefined || entry.before === null ? null : JSON.stringify(redactSecrets(entry.before));
  const after = entry.after === undefined || entry.after === null ? null : JSON.stringify(redactSecrets(entry.after));
  return {
    at: new Date().toISOString(),
    actor: entry.actor,
    actorType: entry.actorType,
    role: entry.role,
    action: entry.action,
    target: entry.target,
    clientIp: entry.clientIp,
    outcome: entry.outcome,
    detail: entry.detail,
    beforeJson: before,
    afterJson: after,
  };
}

function toDto(e: AuditEntryEntity): AuditEntryDto {
  return {
    id: e.id,
    at: e.at,
    actor: e.actor,
    actorType: e.actorType,
    role: (e.role as AuditEntryDto['role']) ?? null,
    action: e.action,
    target: e.target,
    clientIp: e.clientIp,
    outcome: e.outcome,
    detail: e.detail,
    before: e.beforeJson ? JSON.parse(e.beforeJson) : null,
    after: e.afterJson ? JSON.parse(e.afterJson) : null,
  };
}

@Injectable()
export class AuditService {
  constructor(
    @InjectRepository(AuditEntryEntity) private readonly entries: Repository<AuditEntryEntity>,
    private readonly writes: DbWriteQueue,
    private readonly hub: LiveEventsHub,
  ) {}

  /** Entries waiting for the next group commit (see `record`). */
  private batch: { entry: NewAuditEntry; resolve: (dto: AuditEntryDto) => void; reject: (err: unknown) => void }[] = [];

  /**
   * Appends an entry. Secrets are redacted here, whatever the caller passed. Group commit: entries recorded while
   * the write queue is busy are inserted together in one transaction (one fsync, one place in the queue) when their
   * turn comes, so a burst of failed logins cannot queue hundreds of commits in front of an admin's own writes. Each
   * caller still gets its entry back only once it is committed.
   */
  record(entry: NewAuditEntry): Promise<AuditEntryDto> {
    return new Promise<AuditEntryDto>((resolve, reject) => {
      this.batch.push({ entry, resolve, reject });
      if (this.batch.length === 1) void this.commitBatch();
    });
  }

  private async commitBatch(): Promise<void> {
    let taken: typeof this.batch = [];
    let dtos: AuditEntryDto[];
    try {
      dtos = await this.writes.transaction(async (em) => {
        // Taken when the turn comes, not when queued: everything recorded meanwhile joins this commit.
        taken = this.batch;
        this.batch = [];
        const out: AuditEntryDto[] = [];
        for (const item of taken) out.push(await this.insertIn(em, item.entry));
        return out;
      });
    } catch (err) {
      // One bad entry must not lose the others: write them one by one.
      for (const item of taken) {
        this.writes.run((em) => this.insertIn(em, item.entry)).then((dto) => {
          this.announce(dto);
          item.resolve(dto);
        }, item.reject);
      }
      if (taken.length === 0) {
        const failed = this.batch;
        this.batch = [];
        for (const item of failed) item.reject(err);
      }
      return;
    }
    taken.forEach((item, i) => {
      this.announce(dtos[i]!);
      item.resolve(dtos[i]!);
    });
  }

  /**
   * Appends an entry inside the caller's transaction, so it commits (or not) together with the change it describes.
   * The caller announces it (`announce`) once the transaction committed.
   */
  async insertIn(em: EntityManager, entry: NewAuditEntry): Promise<AuditEntryDto> {
    const row = toRow(entry);
    const result = await em.getRepository(AuditEntryEntity).insert(row);
    return toDto({ ...row, id: result.identifiers[0]!.id as number });
  }

  /** Fills in what only the finished request knows (before/after state, outcome details) on an entry written earlier. */
  async complete(id: number, entry: NewAuditEntry): Promise<AuditEntryDto> {
    const row = toRow(entry);
    const { at: _at, ...rest } = row;
    await this.writes.run((em) => em.getRepository(AuditEntryEntity).update({ id }, rest));
    const saved = await this.entries.findOneByOrFail({ id });
    return toDto(saved);
  }

  /** Streams an entry that has been committed. */
  announce(dto: AuditEntryDto): void {
    this.hub.publish('audit.entry', dto);
  }

  async query(q: AuditQuery): Promise<Page<AuditEntryDto>> {
    const limit = parseLimit(q.limit);
    const rows = await this.filtered(q).take(limit + 1).getMany();
    const items = rows.slice(0, limit).map(toDto);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
  }

  async csv(q: AuditQuery): Promise<string> {
    const rows = (await this.filtered(q).take(100_000).getMany()).map(toDto);
    return toCsv(rows, [
      { header: 'id', value: (r) => r.id },
      { header: 'at', value: (r) => r.at },
      { header: 'actor', value: (r) => r.actor },
      { header: 'actor_type', value: (r) => r.actorType },
      { header: 'role', value: (r) => r.role },
      { header: 'action', value: (r) => r.action },
      { header: 'target', value: (r) => r.target },
      { header: 'client_ip', value: (r) => r.clientIp },
      { header: 'outcome', value: (r) => r.outcome },
      { header: 'detail', value: (r) => r.detail },
      { header: 'before', value: (r) => r.before },
      { header: 'after', value: (r) => r.after },
    ]);
  }

  /** Retention (only when the admin configured one): removes entries older than `cutoffIso`. */
  async pruneOlderThan(cutoffIso: string): Promise<number> {
    const res = await this.writes.run((em) => em.getRepository(AuditEntryEntity).createQueryBuilder().delete().where('at < :cutoff', { cutoff: cutoffIso }).execute());
    return res.affected ?? 0;
  }

  private filtered(q: AuditQuery) {
    const qb = this.entries.createQueryBuilder('a').orderBy('a.id', 'DESC');
    const cursor = decodeCursor(q.cursor);
    if (cursor !== null) qb.andWhere('a.id < :cursor', { cursor });
    // Actor and target (a module, user, address...) match by prefix, like the transfer list's module and user.
    if (q.actor) qb.andWhere(`a.actor LIKE :actor ESCAPE '\\'`, { actor: likePrefix(q.actor) });
    if (q.action) {
      qb.andWhere(new Brackets((b) => b.where('a.action = :action', { action: q.action }).orWhere('a.action LIKE :prefix', { prefix: `${q.action}.%` })));
    }
    if (q.target) qb.andWhere(`a.target LIKE :target ESCAPE '\\'`, { target: likePrefix(q.target) });
    if (q.outcome) qb.andWhere('a.outcome = :outcome', { outcome: q.outcome });
    const from = parseTime('from', q.from);
    const to = parseTime('to', q.to);
    if (from) qb.andWhere('a.at >= :from', { from });
    if (to) qb.andWhere('a.at < :to', { to });
    return qb;
  }
}
