import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Append-only: nothing in the API updates or deletes these rows (only the admin-configured retention does). */
@Entity('audit_log')
export class AuditEntryEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('text') at!: string;
  @Column('text') actor!: string;
  @Column('text', { name: 'actor_type' }) actorType!: 'admin' | 'token' | 'anonymous' | 'system';
  @Column('text', { nullable: true }) role!: string | null;
  @Column('text') action!: string;
  @Column('text', { nullable: true }) target!: string | null;
  @Column('text', { name: 'client_ip', nullable: true }) clientIp!: string | null;
  @Column('text') outcome!: 'success' | 'failure';
  @Column('text', { nullable: true }) detail!: string | null;
  @Column('text', { name: 'before_json', nullable: true }) beforeJson!: string | null;
  @Column('text', { name: 'after_json', nullable: true }) afterJson!: string | null;
}
