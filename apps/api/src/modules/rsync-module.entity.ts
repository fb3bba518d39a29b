import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { ModuleAnonymousAccess } from '@rsynchub/contracts';
import { jsonArray, nullableBoolean } from '../database/column-transformers';

/** One `[module]` section of rsyncd.conf. Grants (auth users) are kept by the rsync-users domain. */
@Entity('rsync_modules')
export class RsyncModuleEntity {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text') name!: string;
  @Column('text') path!: string;
  @Column('text') comment!: string;
  @Column('boolean', { name: 'read_only' }) readOnly!: boolean;
  @Column('boolean', { name: 'write_only' }) writeOnly!: boolean;
  @Column('boolean') list!: boolean;
  @Column('boolean', { name: 'ignore_errors' }) ignoreErrors!: boolean;
  @Column('integer', { name: 'max_connections' }) maxConnections!: number;
  @Column('integer') timeout!: number;
  @Column('text', { name: 'hosts_allow', transformer: jsonArray }) hostsAllow!: string[];
  @Column('text', { name: 'hosts_deny', transformer: jsonArray }) hostsDeny!: string[];
  @Column('text', { name: 'refuse_options', transformer: jsonArray }) refuseOptions!: string[];
  @Column('text', { transformer: jsonArray }) excludes!: string[];
  @Column('boolean') enabled!: boolean;
  @Column('text', { nullable: true }) uid!: string | null;
  @Column('text', { nullable: true }) gid!: string | null;
  @Column('integer', { name: 'use_chroot', nullable: true, transformer: nullableBoolean }) useChroot!: boolean | null;
  @Column('text') anonymous!: ModuleAnonymousAccess;
  @Column('boolean', { name: 'allow_root_ids' }) allowRootIds!: boolean;
  @Column('boolean', { name: 'tls_only', default: false }) tlsOnly!: boolean;
  @Column('boolean', { name: 'tls_client_cert', default: false }) tlsClientCert!: boolean;
  @Column('datetime', { name: 'created_at' }) createdAt!: Date;
  @Column('datetime', { name: 'updated_at' }) updatedAt!: Date;
}
