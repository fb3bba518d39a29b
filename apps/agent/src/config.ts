/**
 * Agent configuration: types, defaults and validation. Pure: no file system access here (reading the file and checking
 * password-file modes happen in cli.ts / agent.ts).
 */
import * as YAML from 'yaml';
import { DEFAULT_TLS_PORT, parseFingerprint } from './tls-options';

export interface RemoteConfig {
  host: string;
  /** rsync daemon port; 873 unless given. */
  port: number;
  module: string;
  /** Daemon auth user (`auth users`); absent for an anonymous module. */
  user?: string;
  /** File holding the daemon password; must be mode 0600 (checked at start). */
  passwordFile?: string;
  /**
   * Push over TLS (the agent's in-process relay, see tls-relay.ts): the port is then the server's TLS port (874 unless
   * given). Trust: the pinned fingerprint, the CA in caFile (plus the host name), both, or else the system CAs.
   */
  tls?: boolean;
  /** Pinned SHA-256 fingerprint of the server certificate, canonical `AB:CD:...` form (see parseFingerprint). */
  fingerprint?: string;
  /** PEM file of the CA that signs the server certificate (the host name is verified too). */
  caFile?: string;
  /**
   * Client certificate (PEM, absolute path) the agent presents to the server, issued by the console per source; a
   * module may require one (tlsClientCert). Always together with clientKey, only with tls: true.
   */
  clientCert?: string;
  /** Private key of clientCert (PEM, unencrypted, absolute path); must not be readable by group or others (checked at start). */
  clientKey?: string;
}

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** 0..1: each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

/** Which kinds of change are pushed (sersync's <inotify> switches, reduced to what a recursive watcher can tell apart). */
export interface EventSwitches {
  /** Propagate deletions (sersync `delete`). Renames always propagate their new name; the old name only if this is on. */
  delete: boolean;
  /** Push created files and directories (sersync createFile/createFolder/closeWrite/moveTo). */
  create: boolean;
  /** Push content and attribute changes of existing files (sersync closeWrite/modify/attrib). */
  modify: boolean;
}

export interface WatchConfig {
  /** Absolute local directory to watch. */
  path: string;
  remotes: RemoteConfig[];
  /** rsync options used for every push, e.g. ['-artz']. */
  rsyncParams: string[];
  /** rsync exclude patterns (passed as --exclude to every run, including full syncs). */
  excludes: string[];
  /** JavaScript regular expressions on the path relative to the watched root; matching events are not pushed. */
  excludeRegex: string[];
  /** Extra rsync exclude patterns applied to full syncs only (sersync crontabfilter). */
  fullSyncExcludes: string[];
  events: EventSwitches;
}

export interface DeleteGuardConfig {
  enabled: boolean;
  /** A full sync that would delete more than this share (percent) of the target's entries pauses the target. */
  maxDeletePercent: number;
  /** ...or more than this many entries (0 = no absolute limit). */
  maxDeleteFiles: number;
  /** The share rule applies only to targets with at least this many entries (tiny trees churn by nature). */
  minTargetEntries: number;
}

export interface HeartbeatConfig {
  /** Base URL of the RsyncHub server, e.g. http://hub.example:3000 */
  url: string;
  /** API token, or read from tokenFile. */
  token?: string;
  tokenFile?: string;
  intervalSec: number;
}

export interface AgentConfig {
  /** Name reported to the hub; defaults to the hostname. */
  name?: string;
  watches: WatchConfig[];
  /** A batch is pushed once no event came for this long (quiet period)... */
  batchDelayMs: number;
  /** ...or this long after its first event, whichever comes first, so a long burst still moves. */
  maxBatchDelayMs: number;
  retry: RetryPolicy;
  /** rsync --timeout (seconds of I/O inactivity); 0 = none (not advised: a hung target then holds its queue forever). */
  timeoutSec: number;
  /** rsync --contimeout for daemon connections. */
  connectTimeoutSec: number;
  /**
   * Kill an rsync run whose I/O counters (/proc/PID/io) have not moved for this long, a backstop for when rsync's own
   * --timeout does not fire (e.g. blocked before its protocol starts). 0 = derived: timeoutSec + connectTimeoutSec + 30.
   */
  stallKillSec: number;
  /**
   * Keep a warm standby rsync client per target (plain, or TLS with the native connector): the next single-edit run,
   * started ahead and held before it connects (see warm-standby.ts and the README). Default true;
   * RSYNCHUB_AGENT_WARM_STANDBY=0 or --no-warm-standby turn it off.
   */
  warmStandby: boolean;
  /** Never let a vanished, unmounted, emptied or replaced source wipe a target (see README "Delete guard"). */
  deleteGuard: DeleteGuardConfig;
  fullSync: {
    /** Full sync of every watch at start (sersync -r). */
    onStart: boolean;
    /** Periodic full sync (sersync crontab); 0 = never. */
    intervalSec: number;
    /**
     * A burst of at least this many watcher events (ended by 1 s without events) is verified with a full sync of its
     * root, because @parcel/watcher drops inotify queue overflows without a word: events lost in one would otherwise go
     * unnoticed. Absent = derived from the kernel's queue size (fs.inotify.max_queued_events / 8); 0 = never.
     */
    afterBurstEvents?: number;
  };
  /** After an unclean stop (crash, SIGKILL) run a full sync, since events held in memory may have been lost. */
  recoverWithFullSync: boolean;
  /** Upper bound on paths handed to one rsync run; a backlog larger than this is split. */
  maxPathsPerRun: number;
  stateDir?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  heartbeat?: HeartbeatConfig;
  /**
   * Self-verification: every intervalSec a dry run compares each target with the root (at the lowest priority);
   * differences no seen change explains are pushed and reported as missed by the watcher. 0 = off.
   */
  verify: { intervalSec: number };
}

/**
 * No -u: the agent is the source of truth for its targets, and -u (skip files newer on the receiver) leaves a restored
 * older file (mv, cp -p, tar x) stale on the target forever. See README "About -u".
 */
export const DEFAULT_RSYNC_PARAMS = ['-artz'];
export const DEFAULT_PORT = 873;
/** Self-verification every 10 minutes by default (a dry run: cheap, see verify.ts). */
export const DEFAULT_VERIFY_INTERVAL_SEC = 600;

export const DEFAULTS = {
  batchDelayMs: 0,
  maxBatchDelayMs: 1000,
  retry: { initialDelayMs: 1000, maxDelayMs: 60_000, factor: 2, jitter: 0.2 } as RetryPolicy,
  timeoutSec: 60,
  connectTimeoutSec: 10,
  deleteGuard: { enabled: true, maxDeletePercent: 50, maxDeleteFiles: 0, minTargetEntries: 10 } as DeleteGuardConfig,
  maxPathsPerRun: 100_000,
  heartbeatIntervalSec: 30,
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid agent config:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses JSON or YAML text (YAML is a superset of JSON, but JSON gets JSON's clearer error messages). */
export function parseConfigText(text: string, fileName = 'config'): unknown {
  const trimmed = text.trimStart();
  if (fileName.endsWith('.json') || trimmed.startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigError([`${fileName}: not valid JSON: ${(e as Error).message}`]);
    }
  }
  try {
    return YAML.parse(text);
  } catch (e) {
    throw new ConfigError([`${fileName}: not valid YAML: ${(e as Error).message}`]);
  }
}

/** Splits an rsync params string the way sersync's commonParams is meant: whitespace separated options. */
export function splitParams(params: string): string[] {
  return params.split(/\s+/).filter((p) => p.length > 0);
}

/**
 * Parses `user@host::module`, `host::module`, `rsync://[user@]host[:port]/module` (a trailing path is refused: targets
 * are module roots).
 */
export function parseRemoteSpec(spec: string, defaultPort = DEFAULT_PORT): RemoteConfig {
  let m = /^rsync:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/([^/]+)\/?$/.exec(spec);
  if (m) {
    const r: RemoteConfig = { host: m[2].replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : defaultPort, module: m[4] };
    if (m[1]) r.user = m[1];
    return r;
  }
  m = /^(?:([^@:]+)@)?([^:]+)::([^/]+)\/?$/.exec(spec);
  if (m) {
    const r: RemoteConfig = { host: m[2], port: defaultPort, module: m[3] };
    if (m[1]) r.user = m[1];
    return r;
  }
  throw new ConfigError([`remote "${spec}": expected user@host::module or rsync://user@host:port/module`]);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates raw (parsed JSON/YAML) config, fills defaults, and returns it; throws ConfigError listing every problem. */
export function validateConfig(raw: unknown): AgentConfig {
  const problems: string[] = [];
  if (!isObj(raw)) throw new ConfigError(['config must be an object with a "watches" list']);

  const known = new Set([
    'name', 'watches', 'batchDelayMs', 'maxBatchDelayMs', 'retry', 'timeoutSec', 'connectTimeoutSec', 'fullSync', 'recoverWithFullSync',
    'maxPathsPerRun', 'stallKillSec', 'warmStandby', 'deleteGuard', 'stateDir', 'logLevel', 'heartbeat', 'verify',
  ]);
  for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`${k}: unknown setting`);

  const num = (v: unknown, field: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      problems.push(`${field}: must be a number between ${min} and ${max}`);
      return def;
    }
    return v;
  };
  const bool = (v: unknown, field: string, def: boolean): boolean => {
    if (v === undefined) return def;
    if (typeof v !== 'boolean') {
      problems.push(`${field}: must be true or false`);
      return def;
    }
    return v;
  };
  const str = (v: unknown, field: string, required: boolean): string | undefined => {
    if (v === undefined || v === null) {
      if (required) problems.push(`${field}: required`);
      return undefined;
    }
    if (typeof v !== 'string' || v.trim() === '') {
      problems.push(`${field}: must be a non-empty string`);
      return undefined;
    }
    return v;
  };
  const strList = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      problems.push(`${field}: must be a list of strings`);
      return [];
    }
    return v as string[];
  };

  const watches: WatchConfig[] = [];
  if (!Array.isArray(raw.watches) || raw.watches.length === 0) {
    problems.push('watches: must be a non-empty list of { path, remotes }');
  } else {
    raw.watches.forEach((w: unknown, i: number) => {
      const f = `watches[${i}]`;
      if (!isObj(w)) {
        problems.push(`${f}: must be an object`);
        return;
      }
      const path = str(w.path, `${f}.path`, true);
      if (path !== undefined && !path.startsWith('/')) problems.push(`${f}.path: must be an absolute path`);
      const remotes: RemoteConfig[] = [];
      if (!Array.isArray(w.remotes) || w.remotes.length === 0) {
        problems.push(`${f}.remotes: must be a non-empty list of { host, module, port?, user?, passwordFile?, tls?, fingerprint?, caFile?, clientCert?, clientKey? }`);
      } else {
        w.remotes.forEach((r: unknown, j: number) => {
          const rf = `${f}.remotes[${j}]`;
          if (typeof r === 'string') {
            try {
              remotes.push(parseRemoteSpec(r));
            } catch (e) {
              problems.push(`${rf}: ${(e as ConfigError).problems[0]}`);
            }
            return;
          }
          if (!isObj(r)) {
            problems.push(`${rf}: must be an object or a "user@host::module" string`);
            return;
          }
          const host = str(r.host, `${rf}.host`, true);
          const module = str(r.module, `${rf}.module`, true);
          if (module !== undefined && /[/\s]/.test(module)) problems.push(`${rf}.module: must not contain "/" or spaces`);
          const tls = bool(r.tls, `${rf}.tls`, false);
          const port = num(r.port, `${rf}.port`, tls ? DEFAULT_TLS_PORT : DEFAULT_PORT, 1, 65535);
          if (r.port !== undefined && !Number.isInteger(r.port)) problems.push(`${rf}.port: must be an integer`);
          const user = str(r.user, `${rf}.user`, false);
          const passwordFile = str(r.passwordFile, `${rf}.passwordFile`, false);
          if (passwordFile !== undefined && !user) problems.push(`${rf}.passwordFile: given without user`);
          const tlsOptions = validateRemoteTls(r, rf, tls, problems);
          for (const k of Object.keys(r)) {
            if (!['host', 'port', 'module', 'user', 'passwordFile', 'tls', 'fingerprint', 'caFile', 'clientCert', 'clientKey'].includes(k)) problems.push(`${rf}.${k}: unknown setting`);
          }
          if (host && module) {
            const rc: RemoteConfig = { host, port, module };
            if (user) rc.user = user;
            if (passwordFile) rc.passwordFile = passwordFile;
            if (tls) Object.assign(rc, { tls: true }, tlsOptions);
            remotes.push(rc);
          }
        });
      }
      let rsyncParams = DEFAULT_RSYNC_PARAMS;
      if (typeof w.rsyncParams === 'string') rsyncParams = splitParams(w.rsyncParams);
      else if (w.rsyncParams !== undefined) rsyncParams = strList(w.rsyncParams, `${f}.rsyncParams`);
      for (const p of rsyncParams) {
        if (!p.startsWith('-')) problems.push(`${f}.rsyncParams: "${p}" is not an option (must start with "-")`);
        if (/^--(files-from|from0|delete|remove-source-files|daemon|server)\b/.test(p) && !/^--delete-(missing-args|after|during|delay|before)/.test(p)) {
          problems.push(`${f}.rsyncParams: "${p}" is managed by the agent and cannot be set`);
        }
      }
      // A remote shell turns an rsync:// push into daemon-over-shell, which bypasses the TLS relay.
      const rsh = rsyncParams.find((p) => /^--rsh\b/.test(p) || /^-[A-Za-z0-9]*e/.test(p));
      if (rsh && remotes.some((r) => r.tls)) problems.push(`${f}.rsyncParams: "${rsh}" (a remote shell) cannot be combined with a tls remote; the agent makes the TLS connection itself`);
      const excludeRegex = strList(w.excludeRegex, `${f}.excludeRegex`);
      for (const re of excludeRegex) {
        try {
          new RegExp(re);
        } catch {
          problems.push(`${f}.excludeRegex: "${re}" is not a valid regular expression`);
        }
      }
      const ev = isObj(w.events) ? w.events : {};
      if (w.events !== undefined && !isObj(w.events)) problems.push(`${f}.events: must be an object`);
      for (const k of Object.keys(w)) {
        if (!['path', 'remotes', 'rsyncParams', 'excludes', 'excludeRegex', 'fullSyncExcludes', 'events'].includes(k)) {
          problems.push(`${f}.${k}: unknown setting`);
        }
      }
      watches.push({
        path: path ? stripTrailingSlash(path) : '',
        remotes,
        rsyncParams,
        excludes: strList(w.excludes, `${f}.excludes`),
        excludeRegex,
        fullSyncExcludes: strList(w.fullSyncExcludes, `${f}.fullSyncExcludes`),
        events: {
          delete: bool(ev.delete, `${f}.events.delete`, true),
          create: bool(ev.create, `${f}.events.create`, true),
          modify: bool(ev.modify, `${f}.events.modify`, true),
        },
      });
    });
    const paths = watches.map((w) => w.path).filter(Boolean);
    for (const a of paths) {
      for (const b of paths) {
        if (a !== b && (b + '/').startsWith(a === '/' ? '/' : a + '/')) problems.push(`watches: "${b}" is inside "${a}"; watch one of them`);
      }
    }
    if (new Set(paths).size !== paths.length) problems.push('watches: the same path is listed twice; list its remotes together');
  }

  const retryRaw = isObj(raw.retry) ? raw.retry : {};
  if (raw.retry !== undefined && !isObj(raw.retry)) problems.push('retry: must be an object');
  const retry: RetryPolicy = {
    initialDelayMs: num(retryRaw.initialDelayMs, 'retry.initialDelayMs', DEFAULTS.retry.initialDelayMs, 1),
    maxDelayMs: num(retryRaw.maxDelayMs, 'retry.maxDelayMs', DEFAULTS.retry.maxDelayMs, 1),
    factor: num(retryRaw.factor, 'retry.factor', DEFAULTS.retry.factor, 1, 100),
    jitter: num(retryRaw.jitter, 'retry.jitter', DEFAULTS.retry.jitter, 0, 1),
  };
  if (retry.maxDelayMs < retry.initialDelayMs) problems.push('retry.maxDelayMs: must be >= retry.initialDelayMs');

  const fsRaw = isObj(raw.fullSync) ? raw.fullSync : {};
  if (raw.fullSync !== undefined && !isObj(raw.fullSync)) problems.push('fullSync: must be an object { onStart, intervalSec, afterBurstEvents }');
  for (const k of Object.keys(fsRaw)) {
    if (!['onStart', 'intervalSec', 'afterBurstEvents'].includes(k)) problems.push(`fullSync.${k}: unknown setting`);
  }

  const dgRaw = isObj(raw.deleteGuard) ? raw.deleteGuard : {};
  if (raw.deleteGuard !== undefined && !isObj(raw.deleteGuard)) problems.push('deleteGuard: must be an object { enabled, maxDeletePercent, maxDeleteFiles, minTargetEntries }');
  for (const k of Object.keys(dgRaw)) {
    if (!['enabled', 'maxDeletePercent', 'maxDeleteFiles', 'minTargetEntries'].includes(k)) problems.push(`deleteGuard.${k}: unknown setting`);
  }
  const deleteGuard: DeleteGuardConfig = {
    enabled: bool(dgRaw.enabled, 'deleteGuard.enabled', DEFAULTS.deleteGuard.enabled),
    maxDeletePercent: num(dgRaw.maxDeletePercent, 'deleteGuard.maxDeletePercent', DEFAULTS.deleteGuard.maxDeletePercent, 0, 100),
    maxDeleteFiles: num(dgRaw.maxDeleteFiles, 'deleteGuard.maxDeleteFiles', DEFAULTS.deleteGuard.maxDeleteFiles, 0),
    minTargetEntries: num(dgRaw.minTargetEntries, 'deleteGuard.minTargetEntries', DEFAULTS.deleteGuard.minTargetEntries, 0),
  };

  let heartbeat: HeartbeatConfig | undefined;
  if (raw.heartbeat !== undefined) {
    if (!isObj(raw.heartbeat)) problems.push('heartbeat: must be an object { url, token | tokenFile, intervalSec }');
    else {
      const url = str(raw.heartbeat.url, 'heartbeat.url', true);
      if (url && !/^https?:\/\//.test(url)) problems.push('heartbeat.url: must start with http:// or https://');
      const token = str(raw.heartbeat.token, 'heartbeat.token', false);
      const tokenFile = str(raw.heartbeat.tokenFile, 'heartbeat.tokenFile', false);
      if (!token && !tokenFile) problems.push('heartbeat: needs token or tokenFile');
      heartbeat = { url: url ?? '', intervalSec: num(raw.heartbeat.intervalSec, 'heartbeat.intervalSec', DEFAULTS.heartbeatIntervalSec, 1) };
      if (token) heartbeat.token = token;
      if (tokenFile) heartbeat.tokenFile = tokenFile;
    }
  }

  const verifyRaw = isObj(raw.verify) ? raw.verify : {};
  if (raw.verify !== undefined && !isObj(raw.verify)) problems.push('verify: must be an object { intervalSec }');
  for (const k of Object.keys(verifyRaw)) if (k !== 'intervalSec') problems.push(`verify.${k}: unknown setting`);

  const logLevel = raw.logLevel ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel as string)) problems.push('logLevel: must be debug, info, warn or error');

  const config: AgentConfig = {
    watches,
    batchDelayMs: num(raw.batchDelayMs, 'batchDelayMs', DEFAULTS.batchDelayMs, 0, 60_000),
    maxBatchDelayMs: num(raw.maxBatchDelayMs, 'maxBatchDelayMs', DEFAULTS.maxBatchDelayMs, 0, 600_000),
    retry,
    timeoutSec: num(raw.timeoutSec, 'timeoutSec', DEFAULTS.timeoutSec, 0),
    connectTimeoutSec: num(raw.connectTimeoutSec, 'connectTimeoutSec', DEFAULTS.connectTimeoutSec, 0),
    stallKillSec: num(raw.stallKillSec, 'stallKillSec', 0, 0),
    warmStandby: bool(raw.warmStandby, 'warmStandby', true),
    deleteGuard,
    fullSync: {
      onStart: bool(fsRaw.onStart, 'fullSync.onStart', false),
      intervalSec: num(fsRaw.intervalSec, 'fullSync.intervalSec', 0, 0),
      ...(fsRaw.afterBurstEvents === undefined ? {} : { afterBurstEvents: num(fsRaw.afterBurstEvents, 'fullSync.afterBurstEvents', 0, 0) }),
    },
    recoverWithFullSync: bool(raw.recoverWithFullSync, 'recoverWithFullSync', true),
    maxPathsPerRun: num(raw.maxPathsPerRun, 'maxPathsPerRun', DEFAULTS.maxPathsPerRun, 1),
    logLevel: logLevel as AgentConfig['logLevel'],
    verify: { intervalSec: num(verifyRaw.intervalSec, 'verify.intervalSec', DEFAULT_VERIFY_INTERVAL_SEC, 0) },
  };
  const name = str(raw.name, 'name', false);
  if (name) config.name = name;
  const stateDir = str(raw.stateDir, 'stateDir', false);
  if (stateDir) config.stateDir = stateDir;
  if (heartbeat) config.heartbeat = heartbeat;

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * The TLS settings of one remote (`tls`, `fingerprint`, `caFile`, `clientCert`, `clientKey`); problems are added to the
 * list. A fingerprint, CA file or client certificate without `tls: true` is refused rather than ignored: the push would
 * go in plaintext while the config looks safe. (Whether the files exist, parse and match is checked at start: agent.ts.)
 */
function validateRemoteTls(r: Record<string, unknown>, rf: string, tls: boolean, problems: string[]): { fingerprint?: string; caFile?: string; clientCert?: string; clientKey?: string } {
  const out: { fingerprint?: string; caFile?: string; clientCert?: string; clientKey?: string } = {};
  if (r.fingerprint !== undefined) {
    if (typeof r.fingerprint !== 'string') problems.push(`${rf}.fingerprint: must be a string (sha256:<64 hex digits>)`);
    else {
      const fp = parseFingerprint(r.fingerprint);
      if ('error' in fp) problems.push(`${rf}.fingerprint: ${fp.error}`);
      else out.fingerprint = fp.fingerprint;
    }
  }
  if (r.caFile !== undefined) {
    if (typeof r.caFile !== 'string' || r.caFile.trim() === '') problems.push(`${rf}.caFile: must be a non-empty string (a PEM file)`);
    else if (!r.caFile.startsWith('/')) problems.push(`${rf}.caFile: must be an absolute path`);
    else out.caFile = r.caFile;
  }
  for (const k of ['clientCert', 'clientKey'] as const) {
    const v = r[k];
    if (v === undefined) continue;
    const what = k === 'clientCert' ? 'the client certificate, PEM' : "the client certificate's private key, PEM";
    if (typeof v !== 'string' || v.trim() === '') problems.push(`${rf}.${k}: must be a non-empty string (${what})`);
    else if (!v.startsWith('/')) problems.push(`${rf}.${k}: must be an absolute path`);
    else out[k] = v;
  }
  // One without the other cannot be used: a certificate proves nothing without its key.
  if ((r.clientCert === undefined) !== (r.clientKey === undefined)) {
    problems.push(r.clientCert === undefined ? `${rf}.clientKey: given without clientCert (set both, or neither)` : `${rf}.clientCert: given without clientKey (set both, or neither)`);
  }
  if (!tls && (r.tls === undefined || r.tls === false)) {
    for (const k of ['fingerprint', 'caFile', 'clientCert', 'clientKey'] as const) {
      if (r[k] !== undefined) problems.push(`${rf}.${k}: needs tls: true (without it the push goes in plaintext and ${k} is not used)`);
    }
  }
  return out;
}

function stripTrailingSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** Stable identifier of one (watched root, remote) pair: names its journal file. */
export function targetId(root: string, remote: RemoteConfig): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_');
  let h = 0;
  for (const c of root) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return `${safe(remote.host)}_${remote.port}_${safe(remote.module)}_${(h >>> 0).toString(16)}`;
}

/** The mode problem of a password file, or null when it is fine. rsync refuses other-accessible files; we ask for 0600. */
export function passwordFileModeProblem(file: string, mode: number): string | null {
  if ((mode & 0o077) !== 0) {
    return `password file ${file} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; it must not be accessible by group or others (chmod 600 ${file})`;
  }
  return null;
}
