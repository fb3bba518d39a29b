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
  /** maxSessions counts real sessions only; refused connections have their own cap (maxRefused). */
  retention: { transferDays: number; maxFileEvents: number; maxSessions: number; maxRefused: number; auditDays: number; intervalSeconds: number };
  /** Allowed browser origins for the WebSocket and cookie-authenticated mutating requests (besides same-origin). */
  allowedOrigins: string[];
  /** Live events (a file counts one each) kept for clients that reconnect with `lastEventId`. */
  liveReplayEvents: number;
  /** Automatic bans of rsync password guessers (README "Bans"). threshold 0 turns them off. */
  bans: { threshold: number; windowSeconds: number; durationSeconds: number; neverBan: string[] };
  /**
   * Express `trust proxy` (RSYNCHUB_TRUST_PROXY): false (default) uses the socket's address; a hop count or a list of
   * proxy addresses makes the login throttle, the audit log and the Secure cookie see the client behind the proxy.
   */
  trustProxy: false | number | string[];
  /** A source is `stale` after this many seconds without a heartbeat, `offline` after 10x (RSYNCHUB_SOURCE_STALE_SECONDS). */
  sourceStaleSeconds: number;
  /** rsync over TLS (README "Encrypted transport"). */
  tls: TlsConfig;
}

export interface TlsConfig {
  /** RSYNCHUB_RSYNC_TLS_PORT: the rsync-over-TLS listener (default 8874; 874, rsync-ssl's default, as root). */
  rsyncTlsPort: number;
  /** RSYNCHUB_TLS_CERT / RSYNCHUB_TLS_KEY: an admin-provided certificate (chain) and key, reloaded when they change. */
  certFile: string | undefined;
  keyFile: string | undefined;
  /** Console and API over HTTPS: RSYNCHUB_HTTPS=1, or by default when a certificate is provided (RSYNCHUB_HTTPS=0 keeps HTTP). */
  https: boolean;
  /** RSYNCHUB_HTTPS_PORT (default 3443). */
  httpsPort: number;
  /** RSYNCHUB_TLS_FRONT: `native` (default: the C front when it is built, else Node) or `node` (always the Node front). */
  front: 'native' | 'node';
  /** With HTTPS on, RSYNCHUB_HTTP_PORT answers with redirects to HTTPS unless RSYNCHUB_HTTP_REDIRECT=0 (then no HTTP listener). */
  httpRedirect: boolean;
}

function boolFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new Error(`${name} must be 1 or 0 (true/false, yes/no, on/off), got "${env[name]}"`);
}

export function tlsConfigFromEnv(env: NodeJS.ProcessEnv, cwd: string): TlsConfig {
  const certFile = env.RSYNCHUB_TLS_CERT ? path.resolve(cwd, env.RSYNCHUB_TLS_CERT) : undefined;
  const keyFile = env.RSYNCHUB_TLS_KEY ? path.resolve(cwd, env.RSYNCHUB_TLS_KEY) : undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error('RSYNCHUB_TLS_CERT and RSYNCHUB_TLS_KEY must be set together (the certificate chain and its private key)');
  }
  const root = process.getuid?.() === 0;
  const front = (env.RSYNCHUB_TLS_FRONT ?? '').trim() || 'native';
  if (front !== 'native' && front !== 'node') throw new Error(`RSYNCHUB_TLS_FRONT must be native or node, got "${env.RSYNCHUB_TLS_FRONT}"`);
  return {
    front,
    rsyncTlsPort: intFromEnv(env, 'RSYNCHUB_RSYNC_TLS_PORT', root ? 874 : 8874, 1, 65535),
    certFile,
    keyFile,
    https: boolFromEnv(env, 'RSYNCHUB_HTTPS', certFile !== undefined),
    httpsPort: intFromEnv(env, 'RSYNCHUB_HTTPS_PORT', 3443, 0, 65535),
    httpRedirect: boolFromEnv(env, 'RSYNCHUB_HTTP_REDIRECT', true),
  };
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

/** A comma-separated list of IP addresses and CIDR networks (`10.0.0.0/8`, `2001:db8::/32`). */
function networksFromEnv(env: NodeJS.ProcessEnv, name: string): string[] {
  const entries = (env[name] || '').split(',').map((e) => e.trim()).filter(Boolean);
  for (const e of entries) {
    const [addr, prefix, extra] = e.split('/');
    const version = net.isIP(addr ?? '');
    const max = version === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    if (version === 0 || !prefixOk || extra !== undefined) throw new Error(`${name} must list IP addresses or CIDR networks separated by commas, got "${e}"`);
  }
  return entries;
}

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * RSYNCHUB_TRUST_PROXY: off unless set. `true` means one proxy hop (the address the proxy appended, not the client's
 * own X-Forwarded-For entries, which it can forge); a number is that many hops; otherwise a comma-separated list of
 * proxy addresses, CIDRs or the keywords loopback, linklocal, uniquelocal (only those peers are believed).
 */
export function trustProxyFromEnv(raw: string | undefined): false | number | string[] {
  const value = (raw ?? '').trim().toLowerCase();
  if (value === '' || ['false', 'off', 'no', '0'].includes(value)) return false;
  if (['true', 'on', 'yes'].includes(value)) return 1;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 10) throw new Error(`RSYNCHUB_TRUST_PROXY hop count must be at most 10, got "${raw}"`);
    return hops;
  }
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address, bits, ...rest] = entry.split('/');
    const family = net.isIP(address ?? '');
    const validBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (!PROXY_KEYWORDS.has(entry) && (family === 0 || !validBits || rest.length > 0)) {
      throw new Error(`RSYNCHUB_TRUST_PROXY must be true, false, a hop count, or proxy addresses/CIDRs (or loopback, linklocal, uniquelocal), got "${entry}"`);
    }
  }
  return entries;
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
      maxRefused: intFromEnv(env, 'RSYNCHUB_RETENTION_MAX_REFUSED', 100_000, 0, Number.MAX_SAFE_INTEGER),
      auditDays: intFromEnv(env, 'RSYNCHUB_AUDIT_RETENTION_DAYS', 0, 0, 36500),
      intervalSeconds: intFromEnv(env, 'RSYNCHUB_RETENTION_INTERVAL_SECONDS', 600, 1, 86_400),
    },
    sourceStaleSeconds: intFromEnv(env, 'RSYNCHUB_SOURCE_STALE_SECONDS', 90, 1, 86_400),
    allowedOrigins: (env.RSYNCHUB_ALLOWED_ORIGINS || '').split(',').map((o) => o.trim()).filter(Boolean),
    liveReplayEvents: intFromEnv(env, 'RSYNCHUB_LIVE_REPLAY_EVENTS', 50_000, 0, 10_000_000),
    bans: {
      threshold: intFromEnv(env, 'RSYNCHUB_BAN_THRESHOLD', 10, 0, 1_000_000),
      windowSeconds: intFromEnv(env, 'RSYNCHUB_BAN_WINDOW_SECONDS', 600, 1, 30 * 86_400),
      durationSeconds: intFromEnv(env, 'RSYNCHUB_BAN_DURATION_SECONDS', 3600, 1, 365 * 86_400),
      neverBan: networksFromEnv(env, 'RSYNCHUB_BAN_NEVER'),
    },
    trustProxy: trustProxyFromEnv(env.RSYNCHUB_TRUST_PROXY),
    tls: tlsConfigFromEnv(env, cwd),
  };
}
