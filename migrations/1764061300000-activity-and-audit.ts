import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Transfer history ingested from the daemon's log, the audit trail, the ingestion offset and connected sources.
 * Times are stored as ISO 8601 UTC text so range filters compare as strings and CSV exports need no conversion.
 */
export class ActivityAndAudit1764061300000 implements MigrationInterface {
  name = 'ActivityAndAudit1764061300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE transfer_sessions (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      daemon_pid INTEGER NOT NULL,
      module TEXT NULL,
      user TEXT NULL,
      client_ip TEXT NOT NULL DEFAULT '',
      client_host TEXT NOT NULL DEFAULT '',
      direction TEXT NULL CHECK (direction IN ('push','pull')),
      started_at TEXT NOT NULL,
      ended_at TEXT NULL,
      bytes_received INTEGER NOT NULL DEFAULT 0,
      bytes_sent INTEGER NOT NULL DEFAULT 0,
      total_size INTEGER NOT NULL DEFAULT 0,
      file_count INTEGER NOT NULL DEFAULT 0,
      deleted_count INTEGER NOT NULL DEFAULT 0,
      status TEXT NOT NULL CHECK (status IN ('active','success','error','auth_failed','refused')),
      exit_code INTEGER NULL,
      error TEXT NULL
    )`);
    await q.query(`CREATE INDEX idx_sessions_started ON transfer_sessions(started_at)`);
    await q.query(`CREATE INDEX idx_sessions_module_started ON transfer_sessions(module, started_at)`);
    await q.query(`CREATE INDEX idx_sessions_status ON transfer_sessions(status)`);

    await q.query(`CREATE TABLE file_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      session_id INTEGER NOT NULL REFERENCES transfer_sessions(id) ON DELETE CASCADE,
      at TEXT NOT NULL,
      op TEXT NOT NULL CHECK (op IN ('recv','send','del')),
      path TEXT NOT NULL,
      size INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      itemize TEXT NOT NULL
    )`);
    await q.query(`CREATE INDEX idx_file_events_session ON file_events(session_id, id)`);
    await q.query(`CREATE INDEX idx_file_events_at ON file_events(at)`);

    await q.query(`CREATE TABLE audit_log (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL,
      actor TEXT NOT NULL,
      actor_type TEXT NOT NULL CHECK (actor_type IN ('admin','token','anonymous')),
      role TEXT NULL,
      action TEXT NOT NULL,
      target TEXT NULL,
      client_ip TEXT NULL,
      outcome TEXT NOT NULL CHECK (outcome IN ('success','failure')),
      detail TEXT NULL,
      before_json TEXT NULL,
      after_json TEXT NULL
    )`);
    await q.query(`CREATE INDEX idx_audit_at ON audit_log(at)`);
    await q.query(`CREATE INDEX idx_audit_action ON audit_log(action, at)`);
    await q.query(`CREATE INDEX idx_audit_actor ON audit_log(actor, at)`);

    // Where ingestion stopped, per log file being read (the current one and, after a rotation, the renamed one
    // that connections started earlier still write to): identity (device + inode) and the offset just past the
    // last line committed. Written in the same transaction as the rows those lines produced, so a restart neither
    // skips nor repeats a line.
    await q.query(`CREATE TABLE ingest_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      files_json TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`);

    await q.query(`CREATE TABLE sources (
      name TEXT PRIMARY KEY COLLATE NOCASE,
      hostname TEXT NOT NULL,
      version TEXT NOT NULL,
      targets_json TEXT NOT NULL,
      client_ip TEXT NULL,
      last_seen_at TEXT NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['sources', 'ingest_state', 'audit_log', 'file_events', 'transfer_sessions']) await q.query(`DROP TABLE ${t}`);
  }
}
