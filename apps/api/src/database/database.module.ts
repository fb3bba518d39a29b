import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ConfigModule } from '../config/config.module';
import { DbWriteQueue } from './db-write-queue';
import { ownerOnlyDatabaseFiles } from './database-files';
import { PendingDirs } from './pending-dirs';
import { sqliteDriver } from './sqlite-driver';

/** Compiled migrations live in the top-level `migrations/` project; the schema changes only through them. */
export const MIGRATIONS_GLOB = path.resolve(__dirname, '../../../../migrations/dist/*.js');

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      imports: [ConfigModule],
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
        const database = path.join(config.dataDir, 'rsynchub.sqlite');
        ownerOnlyDatabaseFiles(database);
        return {
          type: 'sqlite' as const,
          // Without verbose mode (a stack trace per statement), unless RSYNCHUB_SQLITE_VERBOSE=1: see sqlite-driver.ts.
          driver: sqliteDriver(),
          database,
          enableWAL: true,
          busyTimeout: 5000,
          autoLoadEntities: true,
          synchronize: false,
          migrationsRun: true,
          // Each migration in its own transaction, so one that must run outside any (VACUUM) can say so.
          migrationsTransactionMode: 'each' as const,
          migrations: [MIGRATIONS_GLOB],
          logging: ['error' as const],
        };
      },
    }),
  ],
  providers: [DbWriteQueue, PendingDirs],
  exports: [DbWriteQueue, PendingDirs],
})
export class DatabaseModule {}
