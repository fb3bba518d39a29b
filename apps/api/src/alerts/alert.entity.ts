import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { AlertSeverity, AlertState } from '@rsynchub/contracts';

@Entity('alerts')
export class AlertEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('text') rule!: string;
  @Column('text') key!: string;
  @Column('text') severity!: AlertSeverity;
  @Column('text') state!: AlertState;
  @Column('text') title!: string;
  @Column('text') message!: string;
  @Column('text', { name: 'details_json' }) detailsJson!: string;
  @Column('text', { name: 'first_seen_at' }) firstSeenAt!: string;
  @Column('text', { name: 'last_seen_at' }) lastSeenAt!: string;
  @Column('text', { name: 'resolved_at', nullable: true }) resolvedAt!: string | null;
  @Column('integer') occurrences!: number;
  @Column('text', { name: 'acknowledged_at', nullable: true }) acknowledgedAt!: string | null;
  @Column('text', { name: 'acknowledged_by', nullable: true }) acknowledgedBy!: string | null;
}
