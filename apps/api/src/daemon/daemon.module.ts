import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ConfigDriftService } from './config-drift.service';
import { DaemonController } from './daemon.controller';
import { DaemonSettingsEntity } from './daemon-settings.entity';
import { DaemonSettingsService } from './daemon-settings.service';
import { DaemonSupervisor } from './daemon-supervisor';
import { DaemonService } from './daemon.service';
import { RsyncdConfigWriter } from './rsyncd-config-writer';

@Module({
  imports: [TypeOrmModule.forFeature([DaemonSettingsEntity]), AuditModule],
  controllers: [DaemonController],
  providers: [RsyncdConfigWriter, DaemonSupervisor, DaemonSettingsService, DaemonService, ConfigDriftService],
  exports: [RsyncdConfigWriter, DaemonService, ConfigDriftService],
})
export class DaemonModule {}
