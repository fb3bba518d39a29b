import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DaemonModule } from '../daemon/daemon.module';
import { ModuleGrantEntity, RsyncUserEntity } from './rsync-user.entity';
import { RsyncUsersController } from './rsync-users.controller';
import { RsyncUsersService } from './rsync-users.service';
import { SecretBoxModule } from './secret-box.module';

@Module({
  imports: [TypeOrmModule.forFeature([RsyncUserEntity, ModuleGrantEntity]), DaemonModule, SecretBoxModule],
  controllers: [RsyncUsersController],
  providers: [RsyncUsersService],
  exports: [RsyncUsersService],
})
export class RsyncUsersModule {}
