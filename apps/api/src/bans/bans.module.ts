import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { DaemonModule } from '../daemon/daemon.module';
import { BanEntity } from './ban.entity';
import { BansController } from './bans.controller';
import { BansService } from './bans.service';
import { OwnProbes } from './own-probes';

@Module({
  imports: [TypeOrmModule.forFeature([BanEntity]), DaemonModule, AuditModule],
  controllers: [BansController],
  providers: [BansService, OwnProbes],
  exports: [OwnProbes],
})
export class BansModule {}
