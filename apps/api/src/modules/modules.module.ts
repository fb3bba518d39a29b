import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DaemonModule } from '../daemon/daemon.module';
import { RsyncUsersModule } from '../rsync-users/rsync-users.module';
import { ModulesController } from './modules.controller';
import { ModulesService } from './modules.service';
import { RsyncModuleEntity } from './rsync-module.entity';

@Module({
  imports: [TypeOrmModule.forFeature([RsyncModuleEntity]), DaemonModule, RsyncUsersModule],
  controllers: [ModulesController],
  providers: [ModulesService],
  exports: [ModulesService],
})
export class ModulesModule {}
