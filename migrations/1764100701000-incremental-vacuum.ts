import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Space freed by retention goes back to the file system: `auto_vacuum = INCREMENTAL`, and retention runs
 * `PRAGMA incremental_vacuum` after it deletes. SQLite can only switch an existing file to it by rebuilding the whole
 * file once with VACUUM: this migration does that at the first start after the upgrade. It takes time in proportion
 * to the database's size (tens of seconds per GB) and needs as much free disk again while it runs; a new database
 * is converted while it is still empty. VACUUM cannot run inside a transaction, hence `transaction = false`.
 */
export class IncrementalVacuum1764100701000 implements MigrationInterface {
  name = 'IncrementalVacuum1764100701000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    const [{ auto_vacuum: mode }] = await q.query(`PRAGMA auto_vacuum`);
    if (mode === 2) return;
    await q.query(`PRAGMA auto_vacuum = INCREMENTAL`);
    await q.query(`VACUUM`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`PRAGMA auto_vacuum = NONE`);
    await q.query(`VACUUM`);
  }
}
