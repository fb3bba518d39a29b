import type { AdminDto, ApiTokenDto } from '@rsynchub/contracts';
import type { AdminEntity } from './entities/admin.entity';
import type { ApiTokenEntity } from './entities/api-token.entity';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** The only way an admin row leaves the API: no hash, no flags beyond the contract. */
export function toAdminDto(a: AdminEntity): AdminDto {
  return {
    id: a.id,
    username: a.username,
    role: a.role,
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
    lastLoginAt: iso(a.lastLoginAt),
  };
}

/** The only way a token row leaves the API: the display prefix, never the hash. */
export function toApiTokenDto(t: ApiTokenEntity): ApiTokenDto {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    adminId: t.adminId,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: iso(t.lastUsedAt),
    expiresAt: iso(t.expiresAt),
    scope: t.scope,
    sourceName: t.sourceName,
  };
}
