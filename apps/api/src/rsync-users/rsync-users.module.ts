import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DaemonModule } from '../daemon/daemon.module';
import { ModuleGrantEntity, RsyncUserEntity } from './rsync-user.entity';
import { RsyncUsersController } from './rsync-users.controller';
import { RsyncUsersService } from './rsync-users.service';
import { SecretBox } from './secret-box';

@Module({
  imports: [TypeOrmModule.forFeature([RsyncUserEntity, ModuleGrantEntity]), DaemonModule],
  controllers: [RsyncUsersController],
  providers: [RsyncUsersService, SecretBox],
  exports: [RsyncUsersService],
})
export class RsyncUsersModule {}
