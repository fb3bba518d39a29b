import { Module } from '@nestjs/common';
import { DaemonModule } from '../daemon/daemon.module';
import { ModulesModule } from '../modules/modules.module';
import { RsyncUsersModule } from '../rsync-users/rsync-users.module';
import { ImportController } from './import.controller';
import { ImportService } from './import.service';

@Module({
  imports: [DaemonModule, ModulesModule, RsyncUsersModule],
  controllers: [ImportController],
  providers: [ImportService],
})
export class ImportModule {}
