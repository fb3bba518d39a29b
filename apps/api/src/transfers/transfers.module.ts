import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { DaemonModule } from '../daemon/daemon.module';
import { RetentionService } from './retention.service';
import { TransferLogIngestor } from './transfer-log-ingestor';
import { FileEventEntity, IngestStateEntity, TransferSessionEntity } from './transfer.entities';
import { TransfersController } from './transfers.controller';
import { TransfersService } from './transfers.service';

@Module({
  imports: [TypeOrmModule.forFeature([TransferSessionEntity, FileEventEntity, IngestStateEntity]), DaemonModule, AuditModule],
  controllers: [TransfersController],
  providers: [TransferLogIngestor, TransfersService, RetentionService],
  exports: [TransfersService, TransferLogIngestor],
})
export class TransfersModule {}
