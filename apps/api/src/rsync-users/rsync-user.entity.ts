import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { ModuleAccess } from '@rsynchub/contracts';

@Entity('rsync_users')
export class RsyncUserEntity {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text')
  name!: string;

  @Column('text')
  comment!: string;

  /** AES-256-GCM sealed, see SecretBox. */
  @Column('text', { name: 'password_encrypted' })
  passwordEncrypted!: string;

  @Column('datetime', { name: 'password_updated_at' })
  passwordUpdatedAt!: Date;

  @Column('datetime', { name: 'created_at' })
  createdAt!: Date;

  @Column('datetime', { name: 'updated_at' })
  updatedAt!: Date;
}

/** Which rsync user may use which module, and how. Owned here so users know where they are granted. */
@Entity('module_grants')
export class ModuleGrantEntity {
  @PrimaryColumn('text', { name: 'module_name' })
  moduleName!: string;

  @PrimaryColumn('integer', { name: 'user_id' })
  userId!: number;

  @Column('text')
  access!: ModuleAccess;

  /** Keeps the order the admin gave, which is the order of `auth users`. */
  @Column('integer')
  position!: number;
}
