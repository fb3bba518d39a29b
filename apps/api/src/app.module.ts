import { Module } from '@nestjs/common';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { AuthModule } from './auth/auth.module';
import { DaemonModule } from './daemon/daemon.module';
import { RsyncUsersModule } from './rsync-users/rsync-users.module';
import { ModulesModule } from './modules/modules.module';
import { ImportModule } from './import/import.module';
import { HealthModule } from './health/health.module';
import { EventsModule } from './events/events.module';
import { AuditModule } from './audit/audit.module';
import { TransfersModule } from './transfers/transfers.module';
import { SourcesModule } from './sources/sources';
import { MetricsModule } from './metrics/metrics.controller';
import { AlertsModule } from './alerts/alerts.module';
import { BansModule } from './bans/bans.module';
import { ConnectionTestModule } from './connection-test/connection-test.module';
import { TlsModule } from './tls/tls.module';

@Module({
  imports: [ConfigModule, DatabaseModule, AuthModule, EventsModule, AuditModule, DaemonModule, RsyncUsersModule, ModulesModule, ImportModule, HealthModule, TransfersModule, SourcesModule, MetricsModule, AlertsModule, BansModule, ConnectionTestModule, TlsModule],
})
export class AppModule {}
