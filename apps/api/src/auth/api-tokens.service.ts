import { ForbiddenException, Injectable } from '@nestjs/common';
import { DbWriteQueue } from '../database/db-write-queue';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import type { ApiTokenDto, CreateApiTokenRequest, CreateApiTokenResponse } from '@rsynchub/contracts';
import { notFound, ValidationFailed } from '../common/errors';
import { AuthEvents } from './auth-events';
import { AUDITOR_READ_ONLY } from './auth.guard';
import { RequestContext } from './auth.service';
import { ApiTokenEntity } from './entities/api-token.entity';
import { toApiTokenDto } from './mappers';
import { Principal } from './principal';
import { API_TOKEN_PREFIX, displayPrefix, generateSecretToken, sha256Hex } from './secrets';

const DAY_MS = 24 * 60 * 60_000;

/** Long-lived API tokens. The secret is returned once; only its SHA-256 and a display prefix are stored. */
@Injectable()
export class ApiTokensService {
  constructor(
    @InjectRepository(ApiTokenEntity) private readonly tokens: Repository<ApiTokenEntity>,
    private readonly events: AuthEvents,
    private readonly writes: DbWriteQueue,
  ) {}

  /** The token belongs to (and acts with the role of) the admin creating it. */
  async create(actor: Principal, body: CreateApiTokenRequest, ctx: RequestContext): Promise<CreateApiTokenResponse> {
    const scope = body.scope ?? 'admin';
    const sourceName = body.sourceName?.trim() || null;
    // A token never grants more than the credential creating it: auditors mint read tokens only. (Read and source
    // tokens never get here: the guard refuses their POSTs.)
    if (actor.role !== 'admin' && scope !== 'read') throw new ForbiddenException(AUDITOR_READ_ONLY);
    if (actor.scope !== undefined && actor.scope !== 'admin') throw new ForbiddenException('only an admin-scoped token or a login session may create tokens');
    if (sourceName !== null && scope !== 'source') {
      throw new ValidationFailed([{ field: 'sourceName', message: 'is allowed only with scope "source"' }]);
    }
    const secret = generateSecretToken(API_TOKEN_PREFIX);
    const now = new Date();
    const row = await this.writes.run((em) => em.getRepository(ApiTokenEntity).save(
      this.tokens.create({
        adminId: actor.adminId,
        name: body.name.trim(),
        prefix: displayPrefix(secret),
        tokenHash: sha256Hex(secret),
        createdAt: now,
        lastUsedAt: null,
        expiresAt: body.expiresInDays !== undefined ? new Date(now.getTime() + body.expiresInDays * DAY_MS) : null,
        revokedAt: null,
        scope,
        sourceName,
      }),
      { transaction: false },
    ));
    this.events.emit({
      type: 'token.created',
      actor: { adminId: actor.adminId, username: actor.username, via: actor.via },
      target: { kind: 'token', id: row.id, name: row.name },
      ip: ctx.ip,
      after: { name: row.name, prefix: row.prefix, expiresAt: row.expiresAt?.toISOString() ?? null, scope: row.scope, sourceName: row.sourceName },
    });
    return { token: toApiTokenDto(row), secret };
  }

  /** All tokens not revoked, of every admin (expired ones included, with their expiry). */
  async list(): Promise<ApiTokenDto[]> {
    return (await this.tokens.find({ where: { revokedAt: IsNull() }, order: { id: 'ASC' } })).map(toApiTokenDto);
  }

  async revoke(actor: Principal, id: number, ctx: RequestContext): Promise<void> {
    const row = await this.tokens.findOne({ where: { id, revokedAt: IsNull() } });
    if (!row) throw notFound('token', String(id));
    await this.writes.run(() => this.tokens.update({ id }, { revokedAt: new Date() }));
    this.events.emit({
      type: 'token.revoked',
      actor: { adminId: actor.adminId, username: actor.username, via: actor.via },
      target: { kind: 'token', id: row.id, name: row.name },
      ip: ctx.ip,
    });
  }
}
