import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One definition of "files": regular files only; directories get their own count. Sessions whose file events are
 * all still stored (retention may have pruned some) are recounted by that rule; the others keep their old count.
 */
export class DirCount1764100400000 implements MigrationInterface {
  name = 'DirCount1764100400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE transfer_sessions ADD COLUMN dir_count INTEGER NOT NULL DEFAULT 0`);
    await q.query(`UPDATE transfer_sessions SET
        file_count = (SELECT COUNT(*) FROM file_events f WHERE f.session_id = transfer_sessions.id AND f.op != 'del' AND substr(f.itemize, 2, 1) = 'f'),
        dir_count = (SELECT COUNT(*) FROM file_events f WHERE f.session_id = transfer_sessions.id AND f.op != 'del' AND substr(f.itemize, 2, 1) = 'd')
      WHERE file_count + deleted_count > 0
        AND file_count + deleted_count = (SELECT COUNT(*) FROM file_events f WHERE f.session_id = transfer_sessions.id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE transfer_sessions SET file_count = file_count + dir_count`);
    await q.query(`ALTER TABLE transfer_sessions DROP COLUMN dir_count`);
  }
}
