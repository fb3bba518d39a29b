import { Column, Entity, PrimaryColumn } from 'typeorm';
import { jsonArray } from '../database/column-transformers';

/** The daemon's global options: a single row (id = 1). */
@Entity('daemon_settings')
export class DaemonSettingsEntity {
  @PrimaryColumn('integer')
  id!: number;

  @Column('integer')
  port!: number;

  @Column('text')
  address!: string;

  @Column('text')
  motd!: string;

  @Column('integer', { name: 'max_connections' })
  maxConnections!: number;

  @Column('integer')
  timeout!: number;

  @Column('boolean', { name: 'reverse_lookup' })
  reverseLookup!: boolean;

  @Column('text', { name: 'hosts_allow', transformer: jsonArray })
  hostsAllow!: string[];

  @Column('text', { name: 'hosts_deny', transformer: jsonArray })
  hostsDeny!: string[];

  /** Host sources use to reach this server, in connect snippets; '' = automatic. */
  @Column('text', { name: 'public_host', default: '' })
  publicHost!: string;

  @Column('datetime', { name: 'updated_at' })
  updatedAt!: Date;
}
