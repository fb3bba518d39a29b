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

  /** Appends an entry. Secrets are redacted here, whatever the caller passed. */
  async record(entry: NewAuditEntry): Promise<AuditEntryDto> {
    const dto = await this.writes.run((em) => this.insertIn(em, entry));
    this.announce(dto);
    return dto;
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
