import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Initial schema: admin accounts and their credentials, rsync auth users with their grants, modules, daemon settings.
 * Names are case-insensitively unique (COLLATE NOCASE) because rsync module names are matched case-insensitively
 * by the daemon, and two users differing only in case would be a trap in `auth users` lines.
 */
export class InitialSchema1764061200000 implements MigrationInterface {
  name = 'InitialSchema1764061200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE admins (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      username TEXT NOT NULL UNIQUE COLLATE NOCASE,
      password_hash TEXT NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('admin','auditor')),
      must_change_password INTEGER NOT NULL DEFAULT 0,
      created_at DATETIME NOT NULL,
      updated_at DATETIME NOT NULL,
      last_login_at DATETIME NULL
    )`);
    await q.query(`CREATE TABLE admin_sessions (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      admin_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
      token_hash TEXT NOT NULL UNIQUE,
      ip TEXT NULL,
      user_agent TEXT NULL,
      created_at DATETIME NOT NULL,
      last_seen_at DATETIME NOT NULL,
      expires_at DATETIME NOT NULL,
      revoked_at DATETIME NULL
    )`);
    await q.query(`CREATE INDEX idx_admin_sessions_admin ON admin_sessions(admin_id)`);
    await q.query(`CREATE TABLE api_tokens (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      admin_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
      name TEXT NOT NULL,
      prefix TEXT NOT NULL,
      token_hash TEXT NOT NULL UNIQUE,
      created_at DATETIME NOT NULL,
      last_used_at DATETIME NULL,
      expires_at DATETIME NULL,
      revoked_at DATETIME NULL
    )`);
    await q.query(`CREATE INDEX idx_api_tokens_admin ON api_tokens(admin_id)`);

    await q.query(`CREATE TABLE rsync_users (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL UNIQUE COLLATE NOCASE,
      comment TEXT NOT NULL DEFAULT '',
      password_encrypted TEXT NOT NULL,
      password_updated_at DATETIME NOT NULL,
      created_at DATETIME NOT NULL,
      updated_at DATETIME NOT NULL
    )`);
    await q.query(`CREATE TABLE rsync_modules (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL UNIQUE COLLATE NOCASE,
      path TEXT NOT NULL,
      comment TEXT NOT NULL DEFAULT '',
      read_only INTEGER NOT NULL DEFAULT 0,
      write_only INTEGER NOT NULL DEFAULT 0,
      list INTEGER NOT NULL DEFAULT 1,
      ignore_errors INTEGER NOT NULL DEFAULT 0,
      max_connections INTEGER NOT NULL DEFAULT 0,
      timeout INTEGER NOT NULL DEFAULT 0,
      hosts_allow TEXT NOT NULL DEFAULT '[]',
      hosts_deny TEXT NOT NULL DEFAULT '[]',
      refuse_options TEXT NOT NULL DEFAULT '[]',
      excludes TEXT NOT NULL DEFAULT '[]',
      enabled INTEGER NOT NULL DEFAULT 1,
      uid TEXT NULL,
      gid TEXT NULL,
      use_chroot INTEGER NULL,
      created_at DATETIME NOT NULL,
      updated_at DATETIME NOT NULL
    )`);
    // Grants name the module (names never change) and the user by id; deleting a module drops its grants,
    // deleting a user that is still granted somewhere is refused by the database itself.
    await q.query(`CREATE TABLE module_grants (
      module_name TEXT NOT NULL COLLATE NOCASE REFERENCES rsync_modules(name) ON DELETE CASCADE,
      user_id INTEGER NOT NULL REFERENCES rsync_users(id) ON DELETE RESTRICT,
      access TEXT NOT NULL CHECK (access IN ('rw','ro')),
      position INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (module_name, user_id)
    )`);
    await q.query(`CREATE INDEX idx_module_grants_user ON module_grants(user_id)`);

    await q.query(`CREATE TABLE daemon_settings (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      port INTEGER NOT NULL,
      address TEXT NOT NULL,
      motd TEXT NOT NULL DEFAULT '',
      max_connections INTEGER NOT NULL DEFAULT 0,
      timeout INTEGER NOT NULL DEFAULT 0,
      reverse_lookup INTEGER NOT NULL DEFAULT 0,
      hosts_allow TEXT NOT NULL DEFAULT '[]',
      hosts_deny TEXT NOT NULL DEFAULT '[]',
      updated_at DATETIME NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['daemon_settings', 'module_grants', 'rsync_modules', 'rsync_users', 'api_tokens', 'admin_sessions', 'admins']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
