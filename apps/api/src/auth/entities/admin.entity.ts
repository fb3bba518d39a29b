import { Column, Entity, PrimaryGeneratedColumn, ValueTransformer } from 'typeorm';
import type { AdminRole } from '@rsynchub/contracts';

/** NOT NULL 0/1 integer column read as a boolean. */
const intBoolean: ValueTransformer = {
  to: (value: boolean | undefined) => (value === undefined ? undefined : value ? 1 : 0),
  from: (value: number) => value === 1,
};

/** Table `admins`: console/API accounts. Never leaves the API; see `toAdminDto`. */
@Entity({ name: 'admins' })
export class AdminEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  /** Unique case-insensitively (COLLATE NOCASE in the schema). */
  @Column({ type: 'text' })
  username!: string;

  /** argon2id PHC string. */
  @Column({ type: 'text', name: 'password_hash' })
  passwordHash!: string;

  @Column({ type: 'text' })
  role!: AdminRole;

  @Column({ type: 'integer', name: 'must_change_password', transformer: intBoolean })
  mustChangePassword!: boolean;

  @Column({ type: 'datetime', name: 'created_at' })
  createdAt!: Date;

  @Column({ type: 'datetime', name: 'updated_at' })
  updatedAt!: Date;

  @Column({ type: 'datetime', name: 'last_login_at', nullable: true })
  lastLoginAt!: Date | null;
}
