import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { ApiTokenScope } from '@rsynchub/contracts';

/** Table `api_tokens`: long-lived bearer tokens for scripts, addressed by the SHA-256 of the token. */
@Entity({ name: 'api_tokens' })
export class ApiTokenEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  @Column({ type: 'integer', name: 'admin_id' })
  adminId!: number;

  @Column({ type: 'text' })
  name!: string;

  /** First characters of the token, for display only. */
  @Column({ type: 'text' })
  prefix!: string;

  @Column({ type: 'text', name: 'token_hash' })
  tokenHash!: string;

  @Column({ type: 'datetime', name: 'created_at' })
  createdAt!: Date;

  @Column({ type: 'datetime', name: 'last_used_at', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ type: 'datetime', name: 'expires_at', nullable: true })
  expiresAt!: Date | null;

  @Column({ type: 'datetime', name: 'revoked_at', nullable: true })
  revokedAt!: Date | null;

  /** admin | read | source (see ApiTokenScope). */
  @Column({ type: 'text', default: 'admin' })
  scope!: ApiTokenScope;

  /** A `source` token bound to one source name; null = any source. */
  @Column({ type: 'text', name: 'source_name', nullable: true })
  sourceName!: string | null;
}
