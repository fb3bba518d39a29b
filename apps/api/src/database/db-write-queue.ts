import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';

/**
 * SQLite through TypeORM has one connection: two transactions open at once would nest (as savepoints) or swallow
 * each other's writes. Every multi-statement write (config changes, log ingestion batches, audit entries) goes
 * through this queue, so transactions run one after another and a rollback only ever undoes its own work.
 */
@Injectable()
export class DbWriteQueue {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Runs `work` in its own transaction once every earlier one has finished. */
  transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.serialise(() => this.dataSource.transaction(work));
  }

  /** Runs `work` (no transaction) in the same queue, for single statements that must not land inside another's transaction. */
  run<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.serialise(() => work(this.dataSource.manager));
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
