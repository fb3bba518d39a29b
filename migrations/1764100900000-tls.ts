import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 11: `tls_only` per module (the plain daemon refuses it to every address) and the TLS listener's setting
 * (one row; enabled by default, so encrypted transport is there from the first start).
 */
export class Tls1764100900000 implements MigrationInterface {
  name = 'Tls1764100900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rsync_modules ADD COLUMN tls_only BOOLEAN NOT NULL DEFAULT 0`);
    await q.query(`CREATE TABLE tls_settings (id INTEGER PRIMARY KEY CHECK (id = 1), enabled BOOLEAN NOT NULL DEFAULT 1, updated_at DATETIME NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE tls_settings`);
    await q.query(`ALTER TABLE rsync_modules DROP COLUMN tls_only`);
  }
}
