/**
 * Command line: `run` (default), `status`, `import-sersync`, `check-config`. Argument parsing is pure (parseCli); the
 * commands are the edge.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as YAML from 'yaml';
import { makeStateDir } from './state-dir';
import { Agent, type AgentState, defaultStateDir, pidAlive, preflight, readState, AGENT_VERSION } from './agent';
import { type AgentConfig, ConfigError, parseConfigText, parseRemoteSpec, validateConfig } from './config';
import { createLogger, type LogLevel } from './log';
import { importSersyncXml } from './sersync-import';
import { DEFAULT_TLS_PORT } from './tls-options';
import { PauseStore } from './target-control';

export const USAGE = `rsynchub-agent ${AGENT_VERSION} - real-time trigger sync to RsyncHub / rsync daemon modules

Usage:
  rsynchub-agent [run] --config FILE              run from a JSON or YAML config
  rsynchub-agent [run] --from-sersync confxml.xml run from a sersync 2.5 confxml.xml (also: -o FILE)
  rsynchub-agent [run] --watch DIR --to user@host::module [--to ...] [--port N] [--password-file F]
                       [--params "-artz"] [--exclude PATTERN]... [--delay MS]
                       [--tls (--tls-fingerprint SHA256 | --tls-ca-file CA.pem)]
                       [--tls-client-cert CLIENT.crt --tls-client-key CLIENT.key]
  rsynchub-agent status [--state-dir DIR] [--json]
  rsynchub-agent pause --target TARGET [--reason TEXT] [--state-dir DIR]
  rsynchub-agent resume --target TARGET [--state-dir DIR]
  rsynchub-agent import-sersync confxml.xml [--format yaml|json] [--out FILE] [--keep-update]
  rsynchub-agent check-config (--config FILE | --from-sersync FILE | --watch ...)

Run options:
  --full-sync, -r       full sync of every watched directory at start (like sersync -r)
  --daemon, -d          detach and run in the background (logs to --log-file, default STATE_DIR/agent.log)
  --state-dir DIR       journals, state.json and pid file (default ~/.rsynchub-agent)
  --log-file FILE       append JSON-line logs to FILE instead of stdout
  --log-level LEVEL     debug | info | warn | error
  --hub-url URL         report heartbeat and lag to a RsyncHub server
  --hub-token-file F    API token for --hub-url (or RSYNCHUB_TOKEN in the environment)
  --no-warm-standby     start each rsync run when it is due (no warm standby client; same as warmStandby: false)

--tls: push over TLS to the server's TLS port (--port, default 874), trusting the pinned certificate fingerprint
(--tls-fingerprint, from the console's Encryption page) or the CA in --tls-ca-file (host name verified); either implies --tls.
--tls-client-cert/--tls-client-key: the client certificate (issued on the console's Encryption page) and its key
(mode 0600), presented to the server; a module may require one. Both together, and only with --tls.
pause/resume: TARGET is a target id, its URL, host::module, or a module name that names one target (see status).
import-sersync --keep-update keeps -u in sersync's commonParams (dropped by default: it stops rollbacks).
`;

export interface CliArgs {
  command: 'run' | 'status' | 'pause' | 'resume' | 'import-sersync' | 'check-config' | 'help' | 'version';
  target?: string;
  reason?: string;
  keepUpdate: boolean;
  config?: string;
  fromSersync?: string;
  watch?: string;
  to: string[];
  port?: number;
  passwordFile?: string;
  params?: string;
  excludes: string[];
  delayMs?: number;
  /** --no-warm-standby: config warmStandby false. */
  noWarmStandby?: boolean;
  fullSync: boolean;
  daemon: boolean;
  stateDir?: string;
  logFile?: string;
  logLevel?: LogLevel;
  json: boolean;
  format: 'yaml' | 'json';
  out?: string;
  hubUrl?: string;
  hubTokenFile?: string;
  tls: boolean;
  tlsFingerprint?: string;
  tlsCaFile?: string;
  tlsClientCert?: string;
  tlsClientKey?: string;
  positional: string[];
}

/** Parses argv (without node and script). Throws Error with a user-facing message. */
/** Options whose value may itself start with '-' (`--params "-artz"`, `--exclude -x`): node's parseArgs refuses those. */
const DASH_VALUE_OPTIONS = new Set(['--params', '--exclude']);

export function parseCli(argv: readonly string[]): CliArgs {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (DASH_VALUE_OPTIONS.has(argv[i]) && i + 1 < argv.length) joined.push(`${argv[i]}=${argv[++i]}`);
    else joined.push(argv[i]);
  }
  const { values, positionals } = parseArgs({
    args: joined,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      'from-sersync': { type: 'string', short: 'o' },
      watch: { type: 'string' },
      to: { type: 'string', multiple: true },
      port: { type: 'string' },
      'password-file': { type: 'string' },
      params: { type: 'string' },
      exclude: { type: 'string', multiple: true },
      delay: { type: 'string' },
      'full-sync': { type: 'boolean', short: 'r' },
      daemon: { type: 'boolean', short: 'd' },
      'state-dir': { type: 'string' },
      'log-file': { type: 'string' },
      'log-level': { type: 'string' },
      json: { type: 'boolean' },
      format: { type: 'string' },
      out: { type: 'string' },
      'hub-url': { type: 'string' },
      'hub-token-file': { type: 'string' },
      tls: { type: 'boolean' },
      'tls-fingerprint': { type: 'string' },
      'tls-ca-file': { type: 'string' },
      'tls-client-cert': { type: 'string' },
      'tls-client-key': { type: 'string' },
      target: { type: 'string' },
      reason: { type: 'string' },
      'keep-update': { type: 'boolean' },
      'no-warm-standby': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
  });
  const commands = ['run', 'status', 'pause', 'resume', 'import-sersync', 'check-config', 'help', 'version'] as const;
  let command: CliArgs['command'] = 'run';
  const pos = [...positionals];
  if (pos.length > 0 && (commands as readonly string[]).includes(pos[0])) command = pos.shift() as CliArgs['command'];
  if (values.help) command = 'help';
  if (values.version) command = 'version';
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new Error(`--${name}: expected a number, got "${v}"`);
    return Number(v);
  };
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new Error('--log-level: expected debug, info, warn or error');
  }
  const format = values.format ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') throw new Error('--format: expected yaml or json');
  const args: CliArgs = {
    command,
    to: values.to ?? [],
    excludes: values.exclude ?? [],
    fullSync: values['full-sync'] ?? false,
    daemon: values.daemon ?? false,
    json: values.json ?? false,
    keepUpdate: values['keep-update'] ?? false,
    tls: (values.tls ?? false) || values['tls-fingerprint'] !== undefined || values['tls-ca-file'] !== undefined,
    format,
    positional: pos,
  };
  if (values.config) args.config = values.config;
  if (values['from-sersync']) args.fromSersync = values['from-sersync'];
  if (values.watch) args.watch = values.watch;
  const port = num(values.port, 'port');
  if (port !== undefined) args.port = port;
  if (values['password-file']) args.passwordFile = values['password-file'];
  if (values.params) args.params = values.params;
  const delay = num(values.delay, 'delay');
  if (delay !== undefined) args.delayMs = delay;
  if (values['no-warm-standby']) args.noWarmStandby = true;
  if (values['state-dir']) args.stateDir = values['state-dir'];
  if (values['log-file']) args.logFile = values['log-file'];
  if (logLevel) args.logLevel = logLevel as LogLevel;
  if (values.out) args.out = values.out;
  if (values['hub-url']) args.hubUrl = values['hub-url'];
  if (values['hub-token-file']) args.hubTokenFile = values['hub-token-file'];
  if (values['tls-fingerprint'] !== undefined) args.tlsFingerprint = values['tls-fingerprint'];
  if (values['tls-ca-file'] !== undefined) args.tlsCaFile = path.resolve(values['tls-ca-file']);
  if (values['tls-client-cert'] !== undefined) args.tlsClientCert = path.resolve(values['tls-client-cert']);
  if (values['tls-client-key'] !== undefined) args.tlsClientKey = path.resolve(values['tls-client-key']);
  if (values.target) args.target = values.target;
  // Shown in status, logs and the console: one line, bounded.
  if (values.reason) args.reason = values.reason.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 200);
  if ((command === 'pause' || command === 'resume') && !args.target) throw new Error(`${command}: give --target (a target id, URL, host::module or module name; see status)`);
  if (command === 'import-sersync' && !args.fromSersync) {
    if (pos.length !== 1) throw new Error('import-sersync: give the confxml.xml file');
    args.fromSersync = pos[0];
  }
  return args;
}

/** The one-line form as a raw config. */
export function oneLineConfig(a: CliArgs): Record<string, unknown> {
  if (!a.watch || a.to.length === 0) throw new ConfigError(['one-line form needs --watch DIR and at least one --to user@host::module']);
  // A client certificate authenticates this source; it says nothing about whom the agent trusts, so it does not turn
  // TLS on by itself (--tls-fingerprint and --tls-ca-file do): without --tls it is refused rather than ignored.
  if ((a.tlsClientCert !== undefined || a.tlsClientKey !== undefined) && !a.tls) {
    throw new ConfigError(['--tls-client-cert and --tls-client-key need --tls (with --tls-fingerprint or --tls-ca-file): without it the push goes in plaintext and the certificate is not used']);
  }
  const remotes = a.to.map((spec) => {
    const r = parseRemoteSpec(spec, a.port ?? (a.tls ? DEFAULT_TLS_PORT : 873));
    const rc: Record<string, unknown> = { ...r };
    if (a.port !== undefined && !spec.startsWith('rsync://')) rc.port = a.port;
    if (a.tls) {
      // validateConfig checks the fingerprint's form and the CA file's path like a config file's.
      rc.tls = true;
      if (a.tlsFingerprint !== undefined) rc.fingerprint = a.tlsFingerprint;
      if (a.tlsCaFile !== undefined) rc.caFile = a.tlsCaFile;
      // validateConfig refuses one without the other, like a config file's clientCert / clientKey.
      if (a.tlsClientCert !== undefined) rc.clientCert = a.tlsClientCert;
      if (a.tlsClientKey !== undefined) rc.clientKey = a.tlsClientKey;
    }
    if (a.passwordFile && r.user) rc.passwordFile = a.passwordFile; // an anonymous module among them needs none
    return rc;
  });
  // rsync sends a password only with a user: a password file no --to can use means auth failing forever (or a
  // "Password:" prompt), so refuse it rather than drop it.
  if (a.passwordFile && !remotes.some((r) => r.user)) {
    throw new ConfigError([`--password-file needs a user in --to (user@host::module or rsync://user@host/module); none of ${a.to.map((t) => `"${t}"`).join(', ')} has one`]);
  }
  const w: Record<string, unknown> = { path: path.resolve(a.watch), remotes, excludes: a.excludes };
  if (a.params) w.rsyncParams = a.params;
  const cfg: Record<string, unknown> = { watches: [w] };
  if (a.delayMs !== undefined) cfg.batchDelayMs = a.delayMs;
  return cfg;
}

/** Builds the validated config from --config, --from-sersync or the one-line form, plus import warnings. */
export function loadConfig(a: CliArgs, env: NodeJS.ProcessEnv = process.env): { config: AgentConfig; warnings: string[] } {
  const sources = [a.config, a.fromSersync, a.watch].filter(Boolean).length;
  if (sources === 0) throw new ConfigError(['no configuration: give --config FILE, --from-sersync FILE, or --watch DIR --to user@host::module']);
  if (sources > 1) throw new ConfigError(['give only one of --config, --from-sersync and --watch']);
  // Ignoring them would push in plaintext while the command line says TLS.
  if (a.tls && !a.watch) throw new ConfigError(['--tls, --tls-fingerprint and --tls-ca-file belong to the one-line form (--watch ... --to ...); in a config file set tls: true with fingerprint or caFile on each remote']);
  if ((a.tlsClientCert !== undefined || a.tlsClientKey !== undefined) && !a.watch) {
    throw new ConfigError(['--tls-client-cert and --tls-client-key belong to the one-line form (--watch ... --to ...); in a config file set clientCert and clientKey on each tls remote']);
  }
  let raw: Record<string, unknown>;
  let warnings: string[] = [];
  if (a.config) {
    const text = readText(a.config);
    raw = parseConfigText(text, a.config) as Record<string, unknown>;
  } else if (a.fromSersync) {
    const imported = importSersyncXml(readXml(a.fromSersync), { keepUpdate: a.keepUpdate });
    raw = imported.config;
    warnings = imported.warnings;
  } else {
    raw = oneLineConfig(a);
  }
  if (raw && typeof raw === 'object') {
    if (a.delayMs !== undefined) raw.batchDelayMs = a.delayMs;
    if (a.noWarmStandby) raw.warmStandby = false;
    if (a.hubUrl) {
      const hb: Record<string, unknown> = { url: a.hubUrl };
      if (a.hubTokenFile) hb.tokenFile = a.hubTokenFile;
      else if (env.RSYNCHUB_TOKEN) hb.token = env.RSYNCHUB_TOKEN;
      raw.heartbeat = hb;
    }
    if (a.logLevel) raw.logLevel = a.logLevel;
  }
  return { config: validateConfig(raw), warnings };
}

/** The sersync XML as bytes, decoded by importSersyncXml with the encoding it declares (stock files: ISO-8859-1). */
function readXml(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new ConfigError([`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m` : `${Math.round(m / 60)}h`;
}

/** The one target `spec` names: its id, URL, host::module, or a module name naming exactly one target. */
export function findTarget(state: AgentState, spec: string): AgentState['targets'][number] | string {
  const byExact = state.targets.filter((t) => t.id === spec || t.url === spec || t.url === `${spec}/` || `${t.host}::${t.module}` === spec);
  const matches = byExact.length > 0 ? byExact : state.targets.filter((t) => t.module === spec);
  if (matches.length === 1) return matches[0];
  const known = state.targets.map((t) => `${t.id} (${t.url})`).join(', ');
  return matches.length === 0 ? `no target "${spec}"; known: ${known}` : `"${spec}" names ${matches.length} targets; use an id: ${known}`;
}

/** Watcher and self-verification lines of `status` (missed changes, overflows, replaced roots). */
export function formatDetection(state: AgentState): string[] {
  const lines: string[] = [];
  for (const w of state.watches ?? []) {
    const notes = [`watcher ${w.watcher ?? 'parcel'}`, w.watching ? 'watching' : 'NOT WATCHING'];
    if (w.overflows) notes.push(`${w.overflows} inotify overflows`);
    if (w.rootReplaced) notes.push(`root replaced ${w.rootReplaced}x`);
    lines.push(`watch ${w.path}: ${notes.join(', ')}`);
  }
  for (const [id, v] of Object.entries(state.verification ?? {})) {
    const missed = v.missedByWatcher > 0
      ? `MISSED BY THE WATCHER: ${v.missedByWatcher} (last ${v.lastMissedAt}: ${v.lastMissedPaths.join(', ')})`
      : 'missed by the watcher: 0';
    lines.push(`verify ${id}: ${v.runs} runs, last ${v.lastRunAt ?? 'never'}${v.lastResult ? ` (${v.lastResult})` : ''}; ${missed}`);
  }
  return lines;
}

/** Human status table from a state snapshot. */
export function formatStatus(state: AgentState, alive: boolean): string {
  const lines: string[] = [];
  lines.push(`agent ${state.name} (${state.hostname}) v${state.version}: ${alive && state.running ? `running, pid ${state.pid}` : 'NOT RUNNING'}; started ${state.startedAt}; state updated ${state.updatedAt}; rsync runs ${state.rsyncSpawns}${state.tlsRelay ? `; TLS relay ${state.tlsRelay}` : ''}${state.rsyncSpawn ? `; rsync started by ${state.rsyncSpawn}` : ''}`);
  const rows = [['TARGET', 'ID', 'WATCH', 'STATE', 'QUEUE', 'LAG', 'LAST SUCCESS', 'LAST ERROR']];
  for (const t of state.targets) {
    rows.push([
      t.url + (t.tls ? ' (tls)' : ''), t.id, t.root, t.paused ? 'PAUSED' : t.lastErrorKind === 'tls' ? 'TLS REFUSED' : 'active', String(t.queueLength) + (t.inFlight ? '*' : ''), formatDuration(t.lagMs),
      t.lastSuccessAt ?? 'never', t.lastError ? `${t.lastErrorAt ?? ''} ${t.lastError}`.trim() : '-',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) lines.push(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
  for (const t of state.targets) {
    if (t.paused) lines.push(`PAUSED ${t.url} since ${t.pausedAt ?? '?'}: ${t.pauseReason ?? ''} (resume: rsynchub-agent resume --target ${t.id})`);
  }
  for (const t of state.targets) {
    const earlier = (t.errorHistory ?? []).filter((h) => !(h.error === t.lastError && h.at === t.lastErrorAt));
    if (earlier.length > 0) lines.push(`earlier errors ${t.url}: ${earlier.slice(-3).map((h) => `${h.at} ${h.error}`).join(' | ')}`);
  }
  // Progress only while the agent runs a full sync; a finished one is removed from the state.
  if (alive && state.running) {
    for (const [id, p] of Object.entries(state.fullSyncProgress ?? {})) {
      if (p.percent < 100) lines.push(`full sync ${id}: ${p.percent}% ${p.rate} eta ${p.eta}`);
    }
  }
  lines.push(...formatDetection(state));
  return lines.join('\n');
}

/**
 * Start errors in words an operator can act on. The kernel answers a full per-user inotify watch table with ENOSPC,
 * which reads as a full disk.
 */
export function explainStartError(message: string): string {
  if (/No space left on device|ENOSPC/i.test(message)) {
    return `${message}: the inotify watch limit is reached (one watch per directory; fs.inotify.max_user_watches). ` +
      'Raise it: sysctl -w fs.inotify.max_user_watches=1048576 (persist it in /etc/sysctl.d/)';
  }
  return message;
}

/** How long `--daemon` waits for the child to report that it started. */
export const DAEMON_READY_TIMEOUT_MS = 120_000;

/** Reports start-up to a `--daemon` parent (IPC channel), then lets the channel go. */
function tellParent(msg: { ready?: boolean; error?: string }): void {
  if (!process.send || !process.connected) return;
  process.send(msg, () => {
    if (process.connected) process.disconnect();
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  let a: CliArgs;
  try {
    a = parseCli(argv);
  } catch (e) {
    process.stderr.write(`rsynchub-agent: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (a.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (a.command === 'version') {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  const stateDir = path.resolve(a.stateDir ?? defaultStateDir());

  if (a.command === 'status') {
    const state = readState(stateDir);
    if (!state) {
      process.stderr.write(`no agent state in ${stateDir} (is the agent running with this --state-dir?)\n`);
      return 3;
    }
    const alive = state.running && pidAlive(state.pid);
    process.stdout.write((a.json ? JSON.stringify({ ...state, alive }, null, 2) : formatStatus(state, alive)) + '\n');
    return alive ? 0 : 3;
  }

  if (a.command === 'pause' || a.command === 'resume') {
    const state = readState(stateDir);
    if (!state) {
      process.stderr.write(`no agent state in ${stateDir} (is the agent running with this --state-dir?)\n`);
      return 3;
    }
    const found = findTarget(state, a.target!);
    if (typeof found === 'string') {
      process.stderr.write(`rsynchub-agent: ${found}\n`);
      return 2;
    }
    const store = new PauseStore(stateDir);
    if (a.command === 'pause') store.write(found.id, { reason: a.reason ? `paused by admin: ${a.reason}` : 'paused by admin', at: new Date().toISOString() });
    else store.requestResume(found.id);
    const alive = state.running && pidAlive(state.pid);
    process.stdout.write(`${a.command === 'pause' ? 'paused' : 'resumed'} ${found.url} (${found.id})${alive ? '' : '; the agent is not running: it applies this at its next start'}\n`);
    return 0;
  }

  if (a.command === 'import-sersync') {
    try {
      const { config, warnings } = importSersyncXml(readXml(a.fromSersync!), { keepUpdate: a.keepUpdate });
      validateConfig(config);
      const text = a.format === 'json' ? JSON.stringify(config, null, 2) + '\n' : YAML.stringify(config);
      if (a.out) fs.writeFileSync(a.out, text);
      else process.stdout.write(text);
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`rsynchub-agent: ${(e as Error).message}\n`);
      return 1;
    }
  }

  let config: AgentConfig;
  let warnings: string[];
  try {
    ({ config, warnings } = loadConfig(a));
  } catch (e) {
    process.stderr.write(`rsynchub-agent: ${(e as Error).message}\n`);
    return 2;
  }
  if (a.command === 'check-config') {
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    // The start checks too (files, modes, certificates), as warnings: a config is often written, or copied from the
    // console, on another machine than the source it is for, so a path missing here is not an error of the config.
    for (const p of preflight(config)) process.stderr.write(`warning: on this machine the agent would refuse to start: ${p}\n`);
    process.stdout.write(JSON.stringify(config, null, 2) + '\n');
    return 0;
  }

  const finalStateDir = path.resolve(a.stateDir ?? config.stateDir ?? defaultStateDir());
  if (a.daemon) {
    try {
      makeStateDir(finalStateDir);
    } catch (e) {
      process.stderr.write(`rsynchub-agent: ${(e as Error).message}\n`);
      return 1;
    }
    const logFile = path.resolve(a.logFile ?? path.join(finalStateDir, 'agent.log'));
    const fd = fs.openSync(logFile, 'a', 0o600);
    const logStart = fs.fstatSync(fd).size;
    const childArgs = argv.filter((x) => x !== '--daemon' && x !== '-d');
    if (!a.stateDir) childArgs.push('--state-dir', finalStateDir);
    if (!a.logFile) childArgs.push('--log-file', logFile);
    // The child reports over an IPC channel once it watches and pushes (or why it could not start), so a failed start
    // is an error here, with its message, not a "started" followed by silence.
    const child = spawn(process.execPath, [process.argv[1], ...childArgs], { detached: true, stdio: ['ignore', fd, fd, 'ipc'] });
    const outcome = await new Promise<{ ok: boolean; message: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ ok: true, message: `still starting after ${DAEMON_READY_TIMEOUT_MS / 1000}s (large tree?)` }), DAEMON_READY_TIMEOUT_MS);
      child.once('message', (m: { ready?: boolean; error?: string }) => {
        clearTimeout(timer);
        resolve(m.ready ? { ok: true, message: 'ready' } : { ok: false, message: m.error ?? 'failed to start' });
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        let said = '';
        try {
          said = fs.readFileSync(logFile).subarray(logStart).toString().trim().split('\n').slice(-5).join('\n');
        } catch {
          // unreadable log: the code says enough
        }
        resolve({ ok: false, message: `exited with code ${code} while starting${said ? `:\n${said}` : `; see ${logFile}`}` });
      });
    });
    child.removeAllListeners();
    if (child.connected) child.disconnect();
    child.unref();
    if (!outcome.ok) {
      process.stderr.write(`rsynchub-agent: could not start in the background: ${outcome.message}\n`);
      return 1;
    }
    process.stdout.write(`rsynchub-agent started in the background, pid ${child.pid} (${outcome.message}); logs: ${logFile}; state: ${finalStateDir}\n`);
    return 0;
  }

  let write = (l: string) => void process.stdout.write(l + '\n');
  if (a.logFile) {
    const fd = fs.openSync(a.logFile, 'a', 0o600);
    write = (l: string) => void fs.writeSync(fd, l + '\n');
  }
  const log = createLogger(config.logLevel, write);
  for (const w of warnings) log.warn('sersync import', { warning: w });
  const agent = new Agent(config, {
    stateDir: finalStateDir, log, fullSyncAtStart: a.fullSync,
    progressStream: process.stderr.isTTY ? process.stderr : undefined,
  });
  try {
    await agent.start();
  } catch (e) {
    const message = explainStartError((e as Error).message);
    log.error('cannot start', { error: message });
    process.stderr.write(`rsynchub-agent: ${message}\n`);
    tellParent({ error: message });
    await agent.stop().catch(() => undefined);
    return 1;
  }
  log.info('agent started', { pid: process.pid, stateDir: finalStateDir, version: AGENT_VERSION });
  tellParent({ ready: true });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal: sig });
      agent.stop().then(() => resolve(0), (e) => {
        log.error('stop failed', { error: (e as Error).message });
        resolve(1);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => agent.retryNow());
  });
}
