import { Module } from '@nestjs/common';
import { DaemonModule } from '../daemon/daemon.module';
import { HealthController } from './health.controller';

@Module({ imports: [DaemonModule], controllers: [HealthController] })
export class HealthModule {}
