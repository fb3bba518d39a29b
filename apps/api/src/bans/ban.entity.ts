import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A client address every module refuses until `expiresAt` (a row exists only while the ban is in force). */
@Entity('rsync_bans')
export class BanEntity {
  @PrimaryColumn('text') address!: string;
  @Column('text', { name: 'banned_at' }) bannedAt!: string;
  @Column('text', { name: 'expires_at' }) expiresAt!: string;
  @Column('integer') failures!: number;
  @Column('text') reason!: string;
}
