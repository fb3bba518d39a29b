import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { AlertChannelType, AlertSeverity } from '@rsynchub/contracts';

@Entity('alert_channels')
export class AlertChannelEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('text') name!: string;
  @Column('text') type!: AlertChannelType;
  @Column('boolean') enabled!: boolean;
  @Column('text', { name: 'min_severity' }) minSeverity!: AlertSeverity;
  @Column('boolean', { name: 'send_resolved' }) sendResolved!: boolean;
  /** The webhook or email config, without any secret. */
  @Column('text', { name: 'config_json' }) configJson!: string;
  /** The SMTP password, sealed by SecretBox (AES-256-GCM); null when none. */
  @Column('text', { name: 'secret_enc', nullable: true }) secretEnc!: string | null;
  @Column('text', { name: 'created_at' }) createdAt!: string;
  @Column('text', { name: 'updated_at' }) updatedAt!: string;
}
