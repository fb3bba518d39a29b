import { MigrationInterface, QueryRunner } from 'typeorm';

/** Adds one session row's figures to its (module, status) counter. */
const addToCounters = (r: 'NEW') => `
  INSERT INTO transfer_counters (module, status, sessions, bytes_received, bytes_sent, files, dirs)
  VALUES (COALESCE(${r}.module, ''), ${r}.status, 1, ${r}.bytes_received, ${r}.bytes_sent, ${r}.file_count, ${r}.dir_count)
  ON CONFLICT (module, status) DO UPDATE SET sessions = sessions + 1, bytes_received = bytes_received + excluded.bytes_received,
    bytes_sent = bytes_sent + excluded.bytes_sent, files = files + excluded.files, dirs = dirs + excluded.dirs;`;

/** Takes one session row's figures off its counter again; a counter left with no session goes (as with a recount). */
const subtractFromCounters = (r: 'OLD') => `
  UPDATE transfer_counters SET sessions = sessions - 1, bytes_received = bytes_received - ${r}.bytes_received,
    bytes_sent = bytes_sent - ${r}.bytes_sent, files = files - ${r}.file_count, dirs = dirs - ${r}.dir_count
  WHERE module = COALESCE(${r}.module, '') AND status = ${r}.status;
  DELETE FROM transfer_counters WHERE module = COALESCE(${r}.module, '') AND status = ${r}.status AND sessions = 0;`;

/** A newer session (or successful push) of a module becomes its latest. */
const noteActivity = (r: 'NEW') => `
  INSERT INTO module_activity (module, last_session_id, last_push_id)
  SELECT ${r}.module, ${r}.id, CASE WHEN ${r}.direction = 'push' AND ${r}.status = 'success' THEN ${r}.id END WHERE ${r}.module IS NOT NULL
  ON CONFLICT (module) DO UPDATE SET last_session_id = MAX(last_session_id, excluded.last_session_id),
    last_push_id = NULLIF(MAX(COALESCE(last_push_id, 0), COALESCE(excluded.last_push_id, 0)), 0);`;

/** When the row that was a module's latest (or latest push) goes or changes, the next one is looked up by index. */
const recomputeActivity = (r: 'OLD', changed = 'TRUE') => `
  UPDATE module_activity SET
    last_session_id = COALESCE((SELECT MAX(id) FROM transfer_sessions WHERE module = ${r}.module COLLATE NOCASE), 0),
    last_push_id = (SELECT MAX(id) FROM transfer_sessions WHERE module = ${r}.module COLLATE NOCASE AND direction = 'push' AND status = 'success')
  WHERE ${r}.module IS NOT NULL AND module = ${r}.module AND (last_session_id = ${r}.id OR last_push_id = ${r}.id) AND ${changed};
  DELETE FROM module_activity WHERE ${r}.module IS NOT NULL AND module = ${r}.module AND last_session_id = 0;`;

/**
 * Running counters, so `/metrics` and `GET /transfers/by-module` cost the same at 100 sessions and at 10 million:
 * per (module, status) totals, and per module its newest session and newest successful push. Kept by triggers on
 * `transfer_sessions`, so every writer (ingestion, retention, cascades, a manual DELETE) updates them in the same
 * transaction and they always equal a full recount. Also indexes for the `user=` and `ip=` filters (newest first
 * within the index, so a page reads only its own rows).
 */
export class TransferCounters1764100700000 implements MigrationInterface {
  name = 'TransferCounters1764100700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE transfer_counters (
      module TEXT NOT NULL,
      status TEXT NOT NULL,
      sessions INTEGER NOT NULL,
      bytes_received INTEGER NOT NULL,
      bytes_sent INTEGER NOT NULL,
      files INTEGER NOT NULL,
      dirs INTEGER NOT NULL,
      PRIMARY KEY (module, status)
    ) WITHOUT ROWID`);
    await q.query(`CREATE TABLE module_activity (
      module TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
      last_session_id INTEGER NOT NULL,
      last_push_id INTEGER NULL
    )`);
    await q.query(`CREATE INDEX idx_sessions_module_nocase ON transfer_sessions(module COLLATE NOCASE)`);
    await q.query(`CREATE INDEX idx_sessions_module_push ON transfer_sessions(module COLLATE NOCASE) WHERE direction = 'push' AND status = 'success'`);
    await q.query(`CREATE INDEX idx_sessions_user ON transfer_sessions(user)`);
    await q.query(`CREATE INDEX idx_sessions_client_ip ON transfer_sessions(client_ip)`);

    await q.query(`INSERT INTO transfer_counters (module, status, sessions, bytes_received, bytes_sent, files, dirs)
      SELECT COALESCE(module, ''), status, COUNT(*), SUM(bytes_received), SUM(bytes_sent), SUM(file_count), SUM(dir_count)
      FROM transfer_sessions GROUP BY COALESCE(module, ''), status`);
    await q.query(`INSERT INTO module_activity (module, last_session_id, last_push_id)
      SELECT module, MAX(id), (SELECT MAX(p.id) FROM transfer_sessions p WHERE p.module = t.module COLLATE NOCASE AND p.direction = 'push' AND p.status = 'success')
      FROM transfer_sessions t WHERE module IS NOT NULL GROUP BY module COLLATE NOCASE`);

    await q.query(`CREATE TRIGGER trg_sessions_insert_counters AFTER INSERT ON transfer_sessions BEGIN
      ${addToCounters('NEW')}
      ${noteActivity('NEW')}
    END`);
    await q.query(`CREATE TRIGGER trg_sessions_update_counters AFTER UPDATE ON transfer_sessions BEGIN
      ${subtractFromCounters('OLD')}
      ${addToCounters('NEW')}
      ${recomputeActivity('OLD', `(OLD.module IS NOT NEW.module OR OLD.direction IS NOT NEW.direction OR OLD.status IS NOT NEW.status)`)}
      ${noteActivity('NEW')}
    END`);
    await q.query(`CREATE TRIGGER trg_sessions_delete_counters AFTER DELETE ON transfer_sessions BEGIN
      ${subtractFromCounters('OLD')}
      ${recomputeActivity('OLD')}
    END`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['trg_sessions_insert_counters', 'trg_sessions_update_counters', 'trg_sessions_delete_counters']) await q.query(`DROP TRIGGER ${t}`);
    for (const i of ['idx_sessions_module_nocase', 'idx_sessions_module_push', 'idx_sessions_user', 'idx_sessions_client_ip']) await q.query(`DROP INDEX ${i}`);
    await q.query(`DROP TABLE module_activity`);
    await q.query(`DROP TABLE transfer_counters`);
  }
}
