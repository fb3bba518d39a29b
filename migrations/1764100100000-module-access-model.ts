import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 14: modules say exactly who can do what.
 *  - `anonymous` ('none' | 'read' | 'read-write'): access without a password is explicit. A module that had no grants
 *    was open to anyone; it keeps exactly the access it had (read-only -> 'read', else 'read-write'), so nothing
 *    changes silently, and the console and `warnings` now flag it.
 *  - A module stored as read-only with an `rw` grant let that user write (rsync's grant wins over `read only`): it is
 *    stored as writable, which is what the daemon did, so the console no longer labels it read-only.
 *  - `allow_root_ids`: uid/gid root (or 0) needs an explicit opt-in. Modules that already have it were set by an
 *    admin before the rule existed, so they keep it.
 */
export class ModuleAccessModel1764100100000 implements MigrationInterface {
  name = 'ModuleAccessModel1764100100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE rsync_modules ADD COLUMN anonymous TEXT NOT NULL DEFAULT 'none' CHECK (anonymous IN ('none','read','read-write'))`,
    );
    await q.query(`ALTER TABLE rsync_modules ADD COLUMN allow_root_ids INTEGER NOT NULL DEFAULT 0`);
    await q.query(`UPDATE rsync_modules SET anonymous = CASE WHEN read_only = 1 THEN 'read' ELSE 'read-write' END
      WHERE NOT EXISTS (SELECT 1 FROM module_grants g WHERE g.module_name = rsync_modules.name)`);
    await q.query(`UPDATE rsync_modules SET read_only = 0
      WHERE read_only = 1 AND EXISTS (SELECT 1 FROM module_grants g WHERE g.module_name = rsync_modules.name AND g.access = 'rw')`);
    await q.query(`UPDATE rsync_modules SET allow_root_ids = 1
      WHERE uid = 'root' OR gid = 'root' OR (uid GLOB '[0-9]*' AND CAST(uid AS INTEGER) = 0) OR (gid GLOB '[0-9]*' AND CAST(gid AS INTEGER) = 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rsync_modules DROP COLUMN allow_root_ids`);
    await q.query(`ALTER TABLE rsync_modules DROP COLUMN anonymous`);
  }
}
