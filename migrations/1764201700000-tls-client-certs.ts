import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 11 (optional item): client certificates the console issues from the private CA, one per source, and a
 * module's `tls_client_cert` setting (served only to TLS connections presenting one of them, not revoked). A revoked
 * certificate keeps its row (`revoked_at`): the list shows what was issued and when it stopped working. The name is
 * unique (case-insensitively) among certificates not revoked (a partial index), so a source can be issued a new one under its old name
 * after revoking the old one.
 */
export class TlsClientCerts1764201700000 implements MigrationInterface {
  name = 'TlsClientCerts1764201700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rsync_modules ADD COLUMN tls_client_cert BOOLEAN NOT NULL DEFAULT 0`);
    await q.query(`CREATE TABLE tls_client_certs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      fingerprint TEXT NOT NULL UNIQUE,
      serial TEXT NOT NULL,
      certificate TEXT NOT NULL,
      not_before DATETIME NOT NULL,
      not_after DATETIME NOT NULL,
      created_at DATETIME NOT NULL,
      created_by TEXT NOT NULL,
      revoked_at DATETIME NULL
    )`);
    await q.query(`CREATE UNIQUE INDEX tls_client_certs_active_name ON tls_client_certs (name COLLATE NOCASE) WHERE revoked_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE tls_client_certs`);
    await q.query(`ALTER TABLE rsync_modules DROP COLUMN tls_client_cert`);
  }
}
