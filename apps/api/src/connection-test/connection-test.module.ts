import { Module } from '@nestjs/common';
import { BansModule } from '../bans/bans.module';
import { DaemonModule } from '../daemon/daemon.module';
import { ModulesModule } from '../modules/modules.module';
import { RsyncUsersModule } from '../rsync-users/rsync-users.module';
import { ConnectionTestController } from './connection-test.controller';
import { ConnectionTestService } from './connection-test.service';

@Module({
  imports: [ModulesModule, RsyncUsersModule, DaemonModule, BansModule],
  controllers: [ConnectionTestController],
  providers: [ConnectionTestService],
})
export class ConnectionTestModule {}
