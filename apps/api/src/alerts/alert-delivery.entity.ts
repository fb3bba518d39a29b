import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('alert_deliveries')
export class AlertDeliveryEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('integer', { name: 'channel_id' }) channelId!: number;
  @Column('integer', { name: 'alert_id', nullable: true }) alertId!: number | null;
  @Column('text') kind!: 'firing' | 'resolved' | 'test';
  @Column('text') at!: string;
  @Column('boolean') ok!: boolean;
  @Column('text', { nullable: true }) error!: string | null;
}
