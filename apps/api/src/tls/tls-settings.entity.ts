import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The one row of TLS listener settings (issue 11). */
@Entity('tls_settings')
export class TlsSettingsEntity {
  @PrimaryColumn('integer') id!: number;
  @Column('boolean') enabled!: boolean;
  @Column('datetime', { name: 'updated_at' }) updatedAt!: Date;
}
