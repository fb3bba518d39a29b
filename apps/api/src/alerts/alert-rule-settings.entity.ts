import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('alert_rule_settings')
export class AlertRuleSettingsEntity {
  @PrimaryColumn('text') rule!: string;
  @Column('text', { name: 'settings_json' }) settingsJson!: string;
  @Column('text', { name: 'updated_at' }) updatedAt!: string;
}
