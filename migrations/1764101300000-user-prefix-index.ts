import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The sessions list filters `user=` by prefix, case-insensitively (`LIKE 'x%'`). SQLite serves such a LIKE from an
 * index only when the index compares NOCASE, so the BINARY `idx_sessions_user` was never used and `user=` with few
 * or no matches scanned every session. The NOCASE index replaces it (nothing else reads `user` through an index).
 */
export class UserPrefixIndex1764101300000 implements MigrationInterface {
  name = 'UserPrefixIndex1764101300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX idx_sessions_user_nocase ON transfer_sessions(user COLLATE NOCASE)`);
    await q.query(`DROP INDEX IF EXISTS idx_sessions_user`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX idx_sessions_user ON transfer_sessions(user)`);
    await q.query(`DROP INDEX idx_sessions_user_nocase`);
  }
}
