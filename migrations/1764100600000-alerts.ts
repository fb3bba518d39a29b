import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Alerts raised by the server's rules (history kept: a resolved alert stays, a recurrence is a new row), the
 * channels that deliver them (SMTP password encrypted in `secret_enc`, never in `config_json`), what each delivery
 * attempt gave, and per-rule settings over the built-in defaults.
 */
export class Alerts1764100600000 implements MigrationInterface {
  name = 'Alerts1764100600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE alerts (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      rule TEXT NOT NULL,
      key TEXT NOT NULL,
      severity TEXT NOT NULL CHECK (severity IN ('warning','error','critical')),
      state TEXT NOT NULL CHECK (state IN ('firing','resolved')),
      title TEXT NOT NULL,
      message TEXT NOT NULL,
      details_json TEXT NOT NULL DEFAULT '{}',
      first_seen_at TEXT NOT NULL,
      last_seen_at TEXT NOT NULL,
      resolved_at TEXT NULL,
      occurrences INTEGER NOT NULL DEFAULT 1,
      acknowledged_at TEXT NULL,
      acknowledged_by TEXT NULL
    )`);
    // At most one firing alert per key: deduplication holds even if two evaluations raced.
    await q.query(`CREATE UNIQUE INDEX idx_alerts_firing_key ON alerts(key) WHERE state = 'firing'`);
    await q.query(`CREATE INDEX idx_alerts_state ON alerts(state, id)`);
    await q.query(`CREATE INDEX idx_alerts_rule ON alerts(rule, id)`);

    await q.query(`CREATE TABLE alert_channels (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL COLLATE NOCASE UNIQUE,
      type TEXT NOT NULL CHECK (type IN ('webhook','email')),
      enabled INTEGER NOT NULL DEFAULT 1,
      min_severity TEXT NOT NULL CHECK (min_severity IN ('warning','error','critical')),
      send_resolved INTEGER NOT NULL DEFAULT 1,
      config_json TEXT NOT NULL,
      secret_enc TEXT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`);

    await q.query(`CREATE TABLE alert_deliveries (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      channel_id INTEGER NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
      alert_id INTEGER NULL,
      kind TEXT NOT NULL CHECK (kind IN ('firing','resolved','test')),
      at TEXT NOT NULL,
      ok INTEGER NOT NULL,
      error TEXT NULL
    )`);
    await q.query(`CREATE INDEX idx_alert_deliveries_channel ON alert_deliveries(channel_id, id)`);

    await q.query(`CREATE TABLE alert_rule_settings (
      rule TEXT PRIMARY KEY,
      settings_json TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE alert_rule_settings`);
    await q.query(`DROP TABLE alert_deliveries`);
    await q.query(`DROP TABLE alert_channels`);
    await q.query(`DROP TABLE alerts`);
  }
}
