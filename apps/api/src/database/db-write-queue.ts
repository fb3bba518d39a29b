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

  /**
   * Like transaction(), but its commit does not wait for the disk (SQLite `synchronous = NORMAL` for this one
   * transaction; the connection is back to the default FULL right after). In WAL mode such a commit survives a crash
   * of this process, and an OS crash or power cut can undo it, leaving the database consistent; the next ordinary
   * commit makes it durable too (the WAL is written in order). Only for writes that are redone from their source
   * when undone: log ingestion commits its read position with its rows, so it re-reads from the last durable commit.
   * Why: on a busy disk the fsync of each commit took 5-800 ms, and live events wait for the commit.
   */
  transactionWithoutFsync<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.serialise(async () => {
      // Not allowed inside a transaction ("Safety level may not be changed inside a transaction"): around it.
      await this.dataSource.query('PRAGMA synchronous = NORMAL');
      try {
        return await this.dataSource.transaction(work);
      } finally {
        await this.dataSource.query('PRAGMA synchronous = FULL');
      }
    });
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
