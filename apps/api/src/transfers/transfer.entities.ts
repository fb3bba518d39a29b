import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { FileOp, TransferDirection, TransferStatus } from '@rsynchub/contracts';

@Entity('transfer_sessions')
export class TransferSessionEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('integer', { name: 'daemon_pid' }) daemonPid!: number;
  @Column('text', { nullable: true }) module!: string | null;
  @Column('text', { nullable: true }) user!: string | null;
  @Column('text', { name: 'client_ip' }) clientIp!: string;
  @Column('text', { name: 'client_host' }) clientHost!: string;
  @Column('text', { nullable: true }) direction!: TransferDirection | null;
  @Column('text', { name: 'started_at' }) startedAt!: string;
  @Column('text', { name: 'ended_at', nullable: true }) endedAt!: string | null;
  @Column('integer', { name: 'bytes_received' }) bytesReceived!: number;
  @Column('integer', { name: 'bytes_sent' }) bytesSent!: number;
  @Column('integer', { name: 'total_size' }) totalSize!: number;
  @Column('integer', { name: 'file_count' }) fileCount!: number;
  @Column('integer', { name: 'dir_count' }) dirCount!: number;
  @Column('integer', { name: 'deleted_count' }) deletedCount!: number;
  @Column('text') status!: TransferStatus;
  @Column('integer', { name: 'exit_code', nullable: true }) exitCode!: number | null;
  @Column('text', { nullable: true }) error!: string | null;
}

@Entity('file_events')
export class FileEventEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('integer', { name: 'session_id' }) sessionId!: number;
  @Column('text') at!: string;
  @Column('text') op!: FileOp;
  @Column('text') path!: string;
  @Column('integer') size!: number;
  @Column('integer') bytes!: number;
  @Column('text') itemize!: string;
}

@Entity('ingest_state')
export class IngestStateEntity {
  @PrimaryColumn('integer') id!: number;
  @Column('text', { name: 'files_json' }) filesJson!: string;
  @Column('text', { name: 'updated_at' }) updatedAt!: string;
}
