import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * rsync_bans: client addresses the daemon refuses after repeated failed authentications (survive restarts).
 * audit_log.actor_type also allows 'system': entries RsyncHub writes on its own (bans, config repairs).
 */
export class BansAndSystemAudit1764100300000 implements MigrationInterface {
  name = 'BansAndSystemAudit1764100300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE rsync_bans (
      address TEXT PRIMARY KEY NOT NULL,
      banned_at TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      failures INTEGER NOT NULL,
      reason TEXT NOT NULL
    )`);
    await q.query(`CREATE INDEX idx_rsync_bans_expires ON rsync_bans(expires_at)`);
    await widenActorTypes(q, `'admin','token','anonymous'`, `'admin','token','anonymous','system'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE rsync_bans`);
    await q.query(`DELETE FROM audit_log WHERE actor_type = 'system'`);
    await widenActorTypes(q, `'admin','token','anonymous','system'`, `'admin','token','anonymous'`);
  }
}

/**
 * SQLite cannot alter a CHECK constraint: the table is rebuilt from its own stored definition with only the list
 * of actor types replaced, so columns other migrations may have added are kept as they are, and so are its indexes.
 */
async function widenActorTypes(q: QueryRunner, from: string, to: string): Promise<void> {
  const [table] = (await q.query(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'`)) as { sql: string }[];
  const needle = `actor_type IN (${from})`;
  if (!table || !table.sql.includes(needle)) throw new Error(`audit_log does not have the expected actor_type check (${needle})`);
  const indexes = (await q.query(`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log' AND sql IS NOT NULL`)) as { sql: string }[];
  await q.query(table.sql.replace(needle, `actor_type IN (${to})`).replace(/^CREATE TABLE "?audit_log"?/, 'CREATE TABLE audit_log_rebuilt'));
  await q.query(`INSERT INTO audit_log_rebuilt SELECT * FROM audit_log`);
  await q.query(`DROP TABLE audit_log`);
  await q.query(`ALTER TABLE audit_log_rebuilt RENAME TO audit_log`);
  for (const index of indexes) await q.query(index.sql);
}
