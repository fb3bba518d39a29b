import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A log of the rows the daemon's files are made of, written by SQLite itself (triggers): every insert, update and
 * delete of a module, a grant or an rsync user adds a line naming what changed ('m' + module name, 'u' + user name;
 * '*' when a user is renamed: module sections name their users). The API keeps the modules and the secrets in memory
 * and, inside each config change's transaction, reads only the lines after the state it holds (see
 * apps/api/src/daemon/config-change-log.ts) instead of every row. Whoever changes the rows (this server, another
 * connection, a migration, a restore) goes through the triggers; a rolled-back transaction takes its lines with it.
 * `token` is random per line: a line number seen before with another token means the log was rolled back or
 * replaced, and the state built on it is thrown away.
 */
export class ConfigChangeLog1764101600000 implements MigrationInterface {
  name = 'ConfigChangeLog1764101600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE config_changes (
      seq INTEGER PRIMARY KEY,
      token BLOB NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('m', 'u', '*')),
      key TEXT NULL
    )`);
    const log = (kind: string, key: string) => `INSERT INTO config_changes (token, kind, key) VALUES (randomblob(8), '${kind}', ${key});`;
    for (const [table, kind, column] of [['rsync_modules', 'm', 'name'], ['module_grants', 'm', 'module_name'], ['rsync_users', 'u', 'name']] as const) {
      await q.query(`CREATE TRIGGER config_changes_${table}_insert AFTER INSERT ON ${table} BEGIN ${log(kind, `NEW.${column}`)} END`);
      await q.query(`CREATE TRIGGER config_changes_${table}_delete AFTER DELETE ON ${table} BEGIN ${log(kind, `OLD.${column}`)} END`);
      await q.query(`CREATE TRIGGER config_changes_${table}_update AFTER UPDATE ON ${table} BEGIN
        ${log(kind, `OLD.${column}`)}
        INSERT INTO config_changes (token, kind, key) SELECT randomblob(8), '${kind}', NEW.${column} WHERE NEW.${column} IS NOT OLD.${column} COLLATE BINARY;
        ${table === 'rsync_users' ? `INSERT INTO config_changes (token, kind, key) SELECT randomblob(8), '*', NULL WHERE NEW.name IS NOT OLD.name COLLATE BINARY;` : ''}
      END`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['rsync_modules', 'module_grants', 'rsync_users']) {
      for (const op of ['insert', 'delete', 'update']) await q.query(`DROP TRIGGER IF EXISTS config_changes_${table}_${op}`);
    }
    await q.query(`DROP TABLE config_changes`);
  }
}
