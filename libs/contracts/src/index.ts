/**
 * The wire contract between the RsyncHub API, the web console and the agent.
 * Plain types only (no runtime code besides constants), so the browser bundle pays nothing for them.
 */

export const API_PREFIX = '/api/v1';

export * from './alerts';
export * from './tls';
import type { AlertDto } from './alerts';

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** One body shape for every error the API returns. */
export interface ApiErrorBody {
  statusCode: number;
  /** Short machine-friendly kind: 'validation', 'not_found', 'conflict', 'unauthorized', 'forbidden', ... */
  error: string;
  /** Human message, naming the field and the rule where there is one. */
  message: string;
  /** Per-field problems: when the request body was invalid (400), or a value clashes with an existing one (409). */
  details?: FieldError[];
}

export interface FieldError {
  /** The field as the request names it, list entries with a 0-based index: `hostsAllow[2]`, `users[0].access`. */
  field: string;
  /** The rule the value broke, said of the field ("must be ..."), without the field's name in front. */
  message: string;
  /**
   * `field` split into its steps, for clients that map errors onto their own inputs: `['hostsAllow', 2]`,
   * `['users', 0, 'access']`. Numbers are 0-based list indexes (a console shows "line 3" for index 2).
   */
  path?: (string | number)[];
}

// ---------------------------------------------------------------------------------------------------------------
// Auth, admins, tokens
// ---------------------------------------------------------------------------------------------------------------

export type AdminRole = 'admin' | 'auditor';
export const ADMIN_ROLES: readonly AdminRole[] = ['admin', 'auditor'];

export interface LoginRequest {
  username: string;
  password: string;
}

export interface LoginResponse {
  /** Session token, also set as an HttpOnly cookie; usable as `Authorization: Bearer`. */
  token: string;
  admin: AdminDto;
  /** True when the account still has a generated first-start password. */
  mustChangePassword: boolean;
}

export interface MeResponse {
  admin: AdminDto;
  /** How this request authenticated. */
  via: 'session' | 'token';
  mustChangePassword: boolean;
}

export interface ChangePasswordRequest {
  currentPassword: string;
  newPassword: string;
}

export interface AdminDto {
  id: number;
  username: string;
  role: AdminRole;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
}

export interface CreateAdminRequest {
  username: string;
  password: string;
  role: AdminRole;
}

export interface UpdateAdminRequest {
  password?: string;
  role?: AdminRole;
}

/** `POST /api/v1/admins/{id}/password`: another admin's temporary password; generated when left out. */
export interface ResetAdminPasswordRequest {
  password?: string;
}

export interface ResetAdminPasswordResponse {
  admin: AdminDto;
  /** Only when the server generated it: shown once, never stored in plain text. */
  temporaryPassword?: string;
}

export interface ApiTokenDto {
  id: number;
  name: string;
  /** First characters of the token, to recognise it in a list; never enough to use it. */
  prefix: string;
  adminId: number;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  /** What the token may do; see ApiTokenScope. */
  scope: ApiTokenScope;
  /** For a `source` token bound to one source: the only source name it may send heartbeats as. */
  sourceName: string | null;
}

/**
 * `admin`: everything the creating account's role allows (the default). `read`: GET/HEAD routes (incl. `/metrics`)
 * and the live stream, never admin-only routes. `source`: `POST /sources/heartbeat` only, nothing else.
 */
export type ApiTokenScope = 'admin' | 'read' | 'source';
export const API_TOKEN_SCOPES: readonly ApiTokenScope[] = ['admin', 'read', 'source'];

export interface CreateApiTokenRequest {
  name: string;
  /** Lifetime in days; absent means no expiry. */
  expiresInDays?: number;
  /** Default `admin`. Auditors may create `read` tokens only. */
  scope?: ApiTokenScope;
  /** Only with scope `source`: bind the token to this source name (heartbeats as any other name are refused). */
  sourceName?: string;
}

export interface CreateApiTokenResponse {
  token: ApiTokenDto;
  /** The secret token itself. Shown once, stored hashed. */
  secret: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Rsync auth users (the daemon's `auth users` + secrets file)
// ---------------------------------------------------------------------------------------------------------------

export interface RsyncUserDto {
  name: string;
  comment: string;
  createdAt: string;
  updatedAt: string;
  passwordUpdatedAt: string;
  /** Modules that grant this user access. */
  modules: { module: string; access: ModuleAccess }[];
}

export interface CreateRsyncUserRequest {
  name: string;
  /** Omit to have a strong password generated and returned once. */
  password?: string;
  comment?: string;
}

export interface UpdateRsyncUserRequest {
  /** Sets or rotates the password. */
  password?: string;
  /** True to generate a new password, returned once. */
  generatePassword?: boolean;
  comment?: string;
}

export interface RsyncUserWithSecretResponse {
  user: RsyncUserDto;
  /** Present only when the server generated the password in this request. */
  generatedPassword?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------------------------

export type ModuleAccess = 'rw' | 'ro';

export interface ModuleUserGrant {
  name: string;
  access: ModuleAccess;
}

/**
 * Access WITHOUT a password (no `auth users`). 'none' (the default) needs at least one user grant; 'read' serves the
 * module read-only to anyone who can reach the daemon; 'read-write' lets anyone push into it (flagged in `warnings`).
 */
export type ModuleAnonymousAccess = 'none' | 'read' | 'read-write';
export const MODULE_ANONYMOUS_ACCESS: readonly ModuleAnonymousAccess[] = ['none', 'read', 'read-write'];

/** Every field a module can be created with; all optional but name and path. */
export interface ModuleFields {
  name: string;
  path: string;
  comment: string;
  readOnly: boolean;
  writeOnly: boolean;
  list: boolean;
  ignoreErrors: boolean;
  /** 0 means unlimited. */
  maxConnections: number;
  /** Seconds of I/O inactivity before the daemon drops a client; 0 means none. */
  timeout: number;
  hostsAllow: string[];
  hostsDeny: string[];
  users: ModuleUserGrant[];
  /** Access without a password; anything but 'none' needs an empty `users` list. Default 'none'. */
  anonymous: ModuleAnonymousAccess;
  refuseOptions: string[];
  excludes: string[];
  enabled: boolean;
  /** Only honoured when the server runs as root. */
  uid: string | null;
  gid: string | null;
  useChroot: boolean | null;
  /** Must be true for `uid`/`gid` root or 0 (transfers as root); never set by an import. Default false. */
  allowRootIds: boolean;
  /**
   * Accept this module only through RsyncHub's TLS listener (rsync-ssl, the agent with `tls: true`): the plain
   * daemon's config refuses every address for it. Default false (absent means false).
   */
  tlsOnly?: boolean;
  /**
   * Accept this module only from TLS connections that present a client certificate issued by this server's console
   * and not revoked (`/api/v1/tls/client-certs`). Implies `tlsOnly`. Default false (absent means false).
   */
  tlsClientCert?: boolean;
}

export type CreateModuleRequest = Pick<ModuleFields, 'name' | 'path'> & Partial<Omit<ModuleFields, 'name' | 'path'>>;
export type UpdateModuleRequest = Partial<Omit<ModuleFields, 'name'>>;

export interface ModuleDto extends ModuleFields {
  createdAt: string;
  updatedAt: string;
  /** Why some requested settings are not in the rendered config (e.g. uid without root). */
  warnings: string[];
}

export interface DeleteModuleResponse {
  name: string;
  purged: boolean;
}

/** `GET /api/v1/modules?limit=&offset=&q=`: one page of modules by name (case-insensitive), see ModulePage. */
export interface ModuleListQuery {
  /** 1..500; the response is a ModulePage (without limit: the whole list as an array, as before). */
  limit?: number;
  /** Modules to skip (default 0). */
  offset?: number;
  /** Only names starting with this (case-insensitive). */
  q?: string;
}

export interface ModulePage {
  items: ModuleDto[];
  /** How many modules match `q` in all (not only on this page). */
  total: number;
  limit: number;
  offset: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Daemon
// ---------------------------------------------------------------------------------------------------------------

export type DaemonState = 'starting' | 'running' | 'stopped' | 'crashed';

export interface DaemonStatusDto {
  state: DaemonState;
  pid: number | null;
  port: number;
  address: string;
  version: string | null;
  /** Seconds since the current process started; null when not running. */
  uptimeSeconds: number | null;
  startedAt: string | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  lastError: string | null;
  runningAsRoot: boolean;
  /** Module paths must lie strictly inside one of these (RSYNCHUB_STORAGE_ROOTS). */
  storageRoots: string[];
}

export interface DaemonSettingsDto {
  port: number;
  address: string;
  motd: string;
  /** 0 means unlimited; applies per module when a module sets none. */
  maxConnections: number;
  timeout: number;
  reverseLookup: boolean;
  hostsAllow: string[];
  hostsDeny: string[];
  /**
   * Host name or address source machines use to reach this server, used by every connect snippet. Empty means
   * automatic: `publicHostEffective` is then the server's first non-loopback address.
   */
  publicHost?: string;
  /** Read only: `publicHost`, or the automatic default when it is empty. */
  publicHostEffective?: string;
}

export type UpdateDaemonSettingsRequest = Partial<Omit<DaemonSettingsDto, 'publicHostEffective'>>;

/** `GET/PUT /api/v1/daemon/settings`: the settings, and which of them an environment variable pins (not changeable here). */
export interface DaemonSettingsViewDto extends DaemonSettingsDto {
  /** Field -> the environment variable that sets it, e.g. `{ port: 'RSYNCHUB_RSYNC_PORT' }`. */
  pinnedByEnvironment: Partial<Record<'port' | 'address', string>>;
}

/** A client address the daemon refuses because it guessed rsync passwords (`GET /api/v1/bans`). */
export interface BanDto {
  address: string;
  bannedAt: string;
  expiresAt: string;
  /** Failed authentications within the window that led to the ban. */
  failures: number;
  reason: string;
}

/** How automatic bans work (environment variables, see README). `threshold` 0 = bans are off. */
export interface BanSettingsDto {
  threshold: number;
  windowSeconds: number;
  durationSeconds: number;
  neverBan: string[];
}

export interface BanListDto {
  items: BanDto[];
  settings: BanSettingsDto;
}

/** Live: a ban was placed, lifted by an admin, or expired. */
export interface BanChangedDto {
  address: string;
  change: 'banned' | 'lifted' | 'expired';
  ban: BanDto;
}

/** Live: rsyncd.conf / the secrets file were changed outside RsyncHub (`detected`) and written back (`repaired`). */
export interface ConfigDriftDto {
  change: 'detected' | 'repaired' | 'repair-failed';
  /** What was found, e.g. "rsyncd.conf: content changed", "rsyncd.secrets: mode 644 (expected 600)". */
  problems: string[];
  error: string | null;
}

export interface DaemonConfigDto {
  /** The rendered rsyncd.conf. The secrets file is never returned. */
  config: string;
  path: string;
  secretsPath: string;
  writtenAt: string | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Import of an existing rsyncd.conf
// ---------------------------------------------------------------------------------------------------------------

export interface ImportRequest {
  config: string;
  /** Contents of the secrets file(s) the config refers to, `name:password` lines. */
  secrets?: string;
  /** Skip modules/users whose names already exist instead of failing. */
  skipExisting?: boolean;
}

export interface ImportResponse {
  createdModules: string[];
  createdUsers: string[];
  /** Users named in `auth users` that had no secret: created with a generated password (never returned here). */
  usersWithoutSecret: string[];
  skipped: { kind: 'module' | 'user' | 'global' | 'parameter'; name: string; reason: string }[];
}

// ---------------------------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------------------------

export interface HealthDto {
  status: 'ok' | 'degraded';
  daemon: DaemonState;
  version: string;
  /** Why the status is `degraded` besides the daemon state (e.g. config files changed outside RsyncHub). */
  problems?: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Transfers (ingested from the daemon's log)
// ---------------------------------------------------------------------------------------------------------------

/** `push` = a client uploaded to us (rsync "to"), `pull` = a client downloaded from us (rsync "on"). */
export type TransferDirection = 'push' | 'pull';

/**
 * active: still running; success: ended with totals and no error; error: ended with an rsync error (or its process
 * vanished without totals); auth_failed: refused at login; refused: unknown module, host rule, or max connections.
 */
export type TransferStatus = 'active' | 'success' | 'error' | 'auth_failed' | 'refused';
export const TRANSFER_STATUSES: readonly TransferStatus[] = ['active', 'success', 'error', 'auth_failed', 'refused'];

export interface TransferSessionDto {
  id: number;
  daemonPid: number;
  module: string | null;
  user: string | null;
  clientIp: string;
  clientHost: string;
  direction: TransferDirection | null;
  startedAt: string;
  endedAt: string | null;
  /** While the session is active: the bytes of the files logged so far; once ended, the daemon's totals. */
  bytesReceived: number;
  bytesSent: number;
  totalSize: number;
  /** Regular files received or sent (the one definition of "files"; see the README). */
  fileCount: number;
  /** Directories created or updated, counted apart from files. */
  dirCount: number;
  /** Deletions (files and directories: rsync does not tell them apart). */
  deletedCount: number;
  status: TransferStatus;
  exitCode: number | null;
  /** The error or refusal reason, e.g. "password mismatch", "unknown module". */
  error: string | null;
}

export type FileOp = 'recv' | 'send' | 'del';

export interface FileEventDto {
  id: number;
  sessionId: number;
  at: string;
  op: FileOp;
  /** Relative to the module root; invalid UTF-8 shown as U+FFFD. */
  path: string;
  size: number;
  /** Bytes that crossed the wire for this file. */
  bytes: number;
  /** rsync's itemized change string, e.g. ">f+++++++++". */
  itemize: string;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next (older) page; null at the end. */
  nextCursor: string | null;
}

/** Query of `GET /api/v1/transfers`; all optional. Times are ISO 8601. `format=csv` exports instead. */
export interface TransferQuery {
  module?: string;
  user?: string;
  ip?: string;
  status?: TransferStatus;
  from?: string;
  to?: string;
  /** Sessions that touched a file whose path contains this. */
  path?: string;
  cursor?: string;
  limit?: number;
}

/** The newest activity of one module (`GET /api/v1/transfers/by-module`). */
export interface ModuleActivityDto {
  module: string;
  lastSessionAt: string;
  lastStatus: TransferStatus;
  /** The newest successful push into the module. */
  lastPushAt: string | null;
  /** Total size of the files in that push (rsync's "total size"), and how many files it sent. */
  lastPushSize: number | null;
  lastPushFiles: number | null;
}

export interface FileEventQuery {
  op?: FileOp;
  path?: string;
  cursor?: string;
  limit?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------------------------

export interface AuditEntryDto {
  id: number;
  at: string;
  /** Username of the admin (actorType says whether a session or an API token acted), "anonymous" for refused unauthenticated calls, or for a failed login the attempted username when it names an account ("(unknown username)" otherwise). */
  actor: string;
  actorType: 'admin' | 'token' | 'anonymous' | 'system';
  role: AdminRole | null;
  /** e.g. module.create, module.update, module.delete, rsync-user.password.rotate, daemon.restart, auth.login.failed */
  action: string;
  target: string | null;
  clientIp: string | null;
  outcome: 'success' | 'failure';
  /** Error message for failures. */
  detail: string | null;
  /** State before and after, secrets redacted as "[redacted]". */
  before: unknown;
  after: unknown;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  outcome?: 'success' | 'failure';
  from?: string;
  to?: string;
  cursor?: string;
  limit?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Live figures and the WebSocket stream (`/api/v1/events`)
// ---------------------------------------------------------------------------------------------------------------

export interface StatsBucket {
  /** Start of the minute, ISO 8601. */
  t: string;
  module: string;
  bytes: number;
  /** Regular files (directories and deletions are not counted). */
  files: number;
  /**
   * Seconds of this minute during which the module had a session running. Rate = bytes / activeSeconds: a 9 s push
   * shows its real speed, not its bytes spread over the whole minute.
   */
  activeSeconds: number;
}

export interface StatsDto {
  activeSessions: number;
  /** Per module, averaged over the last `windowSeconds`. */
  modules: { module: string; bytesPerSecond: number; filesPerSecond: number; activeSessions: number }[];
  windowSeconds: number;
  /** Per-minute buckets over the last hour, for the throughput chart. */
  series: StatsBucket[];
  today: { sessions: number; bytes: number; files: number; failedLogins: number; authFailures: number };
  /** Seconds between the newest log line written and its ingestion; null when idle. */
  ingestionLagSeconds: number | null;
}

export type LiveEventType =
  | 'session.started'
  | 'session.file'
  | 'session.progress'
  | 'session.ended'
  | 'auth.failed'
  | 'daemon.status'
  | 'audit.entry'
  | 'module.changed'
  | 'rsync-user.changed'
  | 'source.heartbeat'
  | 'alert.changed'
  | 'ban.changed'
  | 'config.drift';

export const LIVE_EVENT_TYPES: readonly LiveEventType[] = [
  'session.started',
  'session.file',
  'session.progress',
  'session.ended',
  'auth.failed',
  'daemon.status',
  'audit.entry',
  'module.changed',
  'rsync-user.changed',
  'source.heartbeat',
  'alert.changed',
  'ban.changed',
  'config.drift',
];

/**
 * Every server -> client message. `session.file` carries an array (batched at most every ~100 ms).
 * `id`: every event (any LiveEventType) carries one, strictly increasing along the stream (a batch of files carries
 * the id of its last event). Reconnect with `?lastEventId=<id>` (or `lastEventId` in a subscribe message) to receive
 * what was missed; when the server no longer has it (restart, buffer overrun) it sends `resync` and the client must
 * re-fetch. `hello`, `error` and `resync` carry no id of their own.
 */
export interface LiveMessage<T = unknown> {
  type: LiveEventType | 'hello' | 'error' | 'resync';
  id?: number;
  at: string;
  data: T;
}

/** `hello` data: the event types there are and the newest event id so far (resume from it). */
export interface LiveHello {
  events: readonly LiveEventType[];
  lastEventId: number;
}

/** `resync` data: the events since the client's id are gone; re-fetch, then continue from `lastEventId`. */
export interface LiveResync {
  reason: string;
  lastEventId: number;
}

export interface LiveMessageMap {
  'session.started': TransferSessionDto;
  'session.file': FileEventDto[];
  /** A running session's counts and bytes so far, after each batch of its files (replace, do not add). */
  'session.progress': TransferSessionDto;
  'session.ended': TransferSessionDto;
  'auth.failed': TransferSessionDto;
  'daemon.status': DaemonStatusDto;
  'audit.entry': AuditEntryDto;
  'module.changed': { name: string; change: 'created' | 'updated' | 'deleted' };
  'rsync-user.changed': { name: string; change: 'created' | 'updated' | 'deleted' };
  'source.heartbeat': SourceDto;
  /** An alert fired, was updated (severity, occurrences), acknowledged or resolved. */
  'alert.changed': AlertDto;
  'ban.changed': BanChangedDto;
  'config.drift': ConfigDriftDto;
}

/** Client -> server: narrow the stream. Absent fields mean "everything". Sent any time; replaces the previous one. */
export interface LiveSubscribe {
  type: 'subscribe';
  events?: LiveEventType[];
  modules?: string[];
  /** Replay (filtered) the events after this id, or get `resync` if they are gone. */
  lastEventId?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Sources (agents reporting heartbeats)
// ---------------------------------------------------------------------------------------------------------------

export interface SourceTargetStatus {
  host: string;
  port: number;
  module: string;
  queueLength: number;
  lagMs: number | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  /** The agent stopped pushing to this target (its delete guard, or an admin) until `rsynchub-agent resume`. */
  paused?: boolean;
  /** Why it is paused. */
  pauseReason?: string | null;
  /** Changes the agent's self-verification found that its watcher had missed, since the agent started (should be 0). */
  missedByWatcher?: number;
  /** Up to 20 relative paths of the last missed changes. */
  lastMissedPaths?: string[];
}

export interface SourceHeartbeatRequest {
  name: string;
  hostname: string;
  version: string;
  targets: SourceTargetStatus[];
}

/**
 * `online`: a heartbeat arrived within RSYNCHUB_SOURCE_STALE_SECONDS; `stale`: none for longer than that;
 * `offline`: none for more than 10x that. Reported queue and lag are only current while `online`.
 */
export type SourceState = 'online' | 'stale' | 'offline';

export interface SourceTargetDto extends SourceTargetStatus {
  /** `lagMs` in whole seconds (rounded up), null when the agent reported none. */
  lagSeconds: number | null;
}

export interface SourceDto extends SourceHeartbeatRequest {
  targets: SourceTargetDto[];
  lastSeenAt: string;
  clientIp: string | null;
  state: SourceState;
  /** Seconds since the last heartbeat, when the list was made. */
  secondsSinceSeen: number;
  /** The stale threshold in force (RSYNCHUB_SOURCE_STALE_SECONDS); offline is 10x this. */
  staleAfterSeconds: number;
  /** Distinct module names of its targets: the modules this source pushes into. */
  modules: string[];
  /** Sum of its targets' queue lengths. */
  queueTotal: number;
  /** Largest lag over its targets in seconds, null when none reported. */
  maxLagSeconds: number | null;
}

/** `POST /modules/:name/test-connection`: a real rsync listing of the module, run by the server against its daemon. */
export interface TestConnectionRequest {
  /** Rsync user to log in as; absent for an anonymous module. */
  user?: string;
}

export type TestConnectionProblem =
  | 'auth_failed' | 'unknown_module' | 'host_denied' | 'connection_refused' | 'daemon_not_running' | 'timeout' | 'other';

export interface TestConnectionResult {
  ok: boolean;
  /** What was run, without secrets, e.g. `rsync --list-only rsync://backup@127.0.0.1:8873/data/`. */
  command: string;
  /** Null when ok. */
  problem: TestConnectionProblem | null;
  /** Human explanation of what failed (or of the listing's size on success). */
  message: string;
  /** rsync's exit code; null when it did not run. */
  exitCode: number | null;
  /** First lines of rsync's output (stderr on failure), for the curious. */
  output: string;
}
