import * as net from 'node:net';
import * as path from 'node:path';
import { storageRootIssue } from './storage-roots';

/**
 * Everything the server reads from its environment, resolved once at start.
 * Names are part of the product's contract (README "Configuration").
 */
export interface AppConfig {
  /** SQLite file, generated rsyncd.conf + secrets, logs, lock files, encryption key. */
  dataDir: string;
  httpPort: number;
  /** Host the HTTP server binds to. */
  httpHost: string;
  rsyncPort: number;
  rsyncAddress: string;
  /** Module paths must lie strictly inside one of these. */
  storageRoots: string[];
  /** Used only when no admin exists yet (first start). */
  adminPassword: string | undefined;
  /** Path to the rsync binary. */
  rsyncBinary: string;
  /** Directory of the built web console, served at `/` when present. */
  webDir: string;
  /** Whether the daemon supervisor should start the daemon at boot. */
  startDaemon: boolean;
  /** History kept: 0 disables a limit. The audit log is kept forever unless auditDays is set. */
  retention: { transferDays: number; maxFileEvents: number; maxSessions: number; auditDays: number };
  /** Allowed browser origins for the WebSocket and cookie-authenticated mutating requests (besides same-origin). */
  allowedOrigins: string[];
}

export const APP_CONFIG = Symbol('APP_CONFIG');

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

/** Bind addresses are IP literals: a hostname would be resolved by rsync at every start, and could change. */
function ipFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (net.isIP(raw) === 0) throw new Error(`${name} must be an IP address such as 0.0.0.0 or 127.0.0.1, got "${raw}"`);
  return raw;
}

export function loadAppConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): AppConfig {
  const dataDir = path.resolve(cwd, env.RSYNCHUB_DATA_DIR || './data');
  const rootsRaw = env.RSYNCHUB_STORAGE_ROOTS;
  const storageRoots = (rootsRaw ? rootsRaw.split(':') : [path.join(dataDir, 'modules')])
    .filter((r) => r !== '')
    .map((r) => {
      if (!path.isAbsolute(r)) throw new Error(`RSYNCHUB_STORAGE_ROOTS entries must be absolute paths, got "${r}"`);
      const normalised = path.posix.normalize(r).replace(/\/+$/, '');
      if (normalised === '') throw new Error('RSYNCHUB_STORAGE_ROOTS must not contain "/" itself');
      return normalised;
    });
  for (const root of storageRoots) {
    const issue = storageRootIssue(dataDir, root);
    if (issue) throw new Error(issue);
  }
  return {
    dataDir,
    httpPort: intFromEnv(env, 'RSYNCHUB_HTTP_PORT', 3000, 0, 65535),
    httpHost: env.RSYNCHUB_HTTP_HOST || '0.0.0.0',
    rsyncPort: intFromEnv(env, 'RSYNCHUB_RSYNC_PORT', 8873, 1, 65535),
    rsyncAddress: ipFromEnv(env, 'RSYNCHUB_RSYNC_ADDRESS', '0.0.0.0'),
    storageRoots,
    adminPassword: env.RSYNCHUB_ADMIN_PASSWORD || undefined,
    rsyncBinary: env.RSYNCHUB_RSYNC_BINARY || 'rsync',
    webDir: path.resolve(__dirname, '../../../web/dist/browser'),
    startDaemon: env.RSYNCHUB_START_DAEMON !== 'false',
    retention: {
      transferDays: intFromEnv(env, 'RSYNCHUB_RETENTION_DAYS', 90, 0, 36500),
      maxFileEvents: intFromEnv(env, 'RSYNCHUB_RETENTION_MAX_FILE_EVENTS', 10_000_000, 0, Number.MAX_SAFE_INTEGER),
      maxSessions: intFromEnv(env, 'RSYNCHUB_RETENTION_MAX_SESSIONS', 1_000_000, 0, Number.MAX_SAFE_INTEGER),
      auditDays: intFromEnv(env, 'RSYNCHUB_AUDIT_RETENTION_DAYS', 0, 0, 36500),
    },
    allowedOrigins: (env.RSYNCHUB_ALLOWED_ORIGINS || '').split(',').map((o) => o.trim()).filter(Boolean),
  };
}
