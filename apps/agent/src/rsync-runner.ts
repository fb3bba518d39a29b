/**
 * Builds rsync command lines for pushes (pure) and spawns them (edge). One process per run; the path list goes on stdin
 * (`--files-from=- --from0`), never on the command line, so a burst of 10,000 paths is one process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RemoteConfig } from './config';
import { filesFromBuffer } from './change-set';
import { type RunHandlers, startProcess, startWithNode } from './rsync-launcher';
import { CLIENT_CERT_FIX, type ConnectSettings, parseConnectorLine } from './tls-options';
import { chooseTlsRelay, nativeRunEnv, translateNativeStderr } from './tls-native';
import { connectorLine, openTlsRelay, relayUrl } from './tls-relay';
import type { TakenStandby } from './warm-standby';

export interface RsyncTarget {
  root: string;
  remote: RemoteConfig;
  rsyncParams: string[];
  excludes: string[];
  timeoutSec: number;
  connectTimeoutSec: number;
  /** Kill a run whose I/O has not moved for this long (0 = derived from the timeouts, see stallKillMs). */
  stallKillSec?: number;
}

/** The watchdog deadline of a run: explicit, or rsync's own timeouts plus a margin (they should fire first). */
export function stallKillMs(t: Pick<RsyncTarget, 'timeoutSec' | 'connectTimeoutSec' | 'stallKillSec'>, mode?: RunMode): number {
  if (t.stallKillSec && t.stallKillSec > 0) return t.stallKillSec * 1000;
  // A flat run goes without rsync's --timeout (see buildRsyncArgs): the watchdog is its I/O timeout, with the same limit.
  if (mode === 'flat' && t.timeoutSec > 0) return (t.timeoutSec + t.connectTimeoutSec) * 1000;
  return ((t.timeoutSec > 0 ? t.timeoutSec : 300) + t.connectTimeoutSec + 30) * 1000;
}

/**
 * Whether a run passes rsync's own --timeout. Not for flat runs (the single-edit path): with any I/O timeout the daemon
 * first sends MSG_IO_TIMEOUT, and on a daemon socket without TCP_NODELAY (rsync's default) its next small write then
 * waits for our delayed ACK, 40 ms on Linux, measured: a one-file push 77 ms with --timeout vs 37 ms without. Flat runs
 * are short and never quiet for long (paths listed, no directory scans), so the agent's I/O watchdog (/proc/PID/io, same
 * limit) times them out instead. Recursive and full runs keep --timeout: their scans can be quiet for long, and rsync's
 * keepalives, which need it, keep them alive.
 */
export function passesRsyncTimeout(mode: RunMode): boolean {
  return mode !== 'flat';
}

export type RunMode = 'flat' | 'recursive' | 'full';
/**
 * Below this many bytes in a run of listed paths, compression is turned off for the run (`--no-compress`): a few KiB
 * gain nothing from it on any link, while zstd's per-connection setup cost ~4.5 ms of a 37 ms one-file push (measured
 * on loopback; zlib ~0.6 ms). Larger runs keep the configured compression.
 */
export const SMALL_PUSH_BYTES = 256 * 1024;

/** Whether rsync params turn compression on (`-z` in a short-option group, `--compress`, `--compress-level=N>0`...). */
export function compressionEnabled(params: readonly string[]): boolean {
  let on = false;
  for (const p of params) {
    if (/^-[^-]/.test(p)) {
      if (p.slice(1).includes('z')) on = true;
    } else if (p === '--compress' || p === '--old-compress' || p === '--new-compress') on = true;
    else if (p === '--no-compress' || p === '--no-z') on = false;
    else {
      const level = /^--(?:compress-level|zl)=(\d+)$/.exec(p);
      if (level) on = Number(level[1]) > 0;
    }
  }
  return on;
}


/** rsync daemon URL of a module root, e.g. rsync://user@host:873/module/ */
export function remoteUrl(r: RemoteConfig): string {
  const host = r.host.includes(':') ? `[${r.host}]` : r.host;
  return `rsync://${r.user ? `${r.user}@` : ''}${host}:${r.port}/${r.module}/`;
}

/**
 * Arguments for one run (run with cwd = the watched root; the source is '.').
 * - flat: listed paths only (`--no-r`), missing ones deleted (`--delete-missing-args`, `--force` for non-empty dirs);
 * - recursive: listed new directories with their whole hierarchy, extraneous files inside them deleted (`--delete`);
 * - full: the whole root mirrored (`--delete`), like sersync -r; with `--info=progress2` for a progress bar.
 */
export function buildRsyncArgs(t: RsyncTarget, mode: RunMode, extraExcludes: readonly string[] = []): string[] {
  const args = [...t.rsyncParams];
  // rsync leaves Nagle's algorithm on for daemon connections. Its protocol start is a series of small writes each
  // waiting on the peer, so Nagle holding a write until the delayed ACK (40 ms on Linux) costs ~100 ms per run,
  // measured on loopback: a one-file push takes ~120 ms without this and ~15 ms with it. Bulk data is unaffected
  // (rsync writes large buffers). Params that set --sockopts themselves win.
  // Over TLS rsync talks to the agent's relay on 127.0.0.1 (the same Nagle delay applies there); the relay sets
  // TCP_NODELAY on the real socket and enforces connectTimeoutSec for the TLS connection.
  if (!t.rsyncParams.some((p) => p.startsWith('--sockopts'))) args.push('--sockopts=TCP_NODELAY');
  if (t.timeoutSec > 0 && passesRsyncTimeout(mode)) args.push(`--timeout=${t.timeoutSec}`);
  if (t.connectTimeoutSec > 0) args.push(`--contimeout=${t.connectTimeoutSec}`);
  if (t.remote.passwordFile) args.push(`--password-file=${t.remote.passwordFile}`);
  for (const ex of [...t.excludes, ...extraExcludes]) args.push(`--exclude=${ex}`);
  if (mode === 'full') {
    args.push('-r', '--delete', '--force', '--info=progress2', '--no-inc-recursive', './');
  } else {
    args.push('--files-from=-', '--from0', '--relative', '--delete-missing-args', '--force');
    // The watcher saw these paths change: never let the quick check (same size, same mtime) skip one. Recursive runs
    // cover new or re-created directories, where comparing mtimes to the nanosecond is enough.
    if (mode === 'recursive') args.push('-r', '--delete', '--modify-window=-1');
    else args.push('--no-r', '--ignore-times');
    args.push('.');
  }
  args.push(remoteUrl(t.remote));
  return args;
}

/** A TLS remote's transport: where the relay connects and what it trusts (tls-relay.ts), and the URL it replaces. */
export interface TlsTransport {
  /** rsync's URL of the real server (remoteUrl), replaced in the arguments by the relay's local URL. */
  url: string;
  /** The same URL pointed at the relay's port. */
  localUrl(port: number): string;
  settings: ConnectSettings;
  /** The native connector rsync runs as RSYNC_CONNECT_PROG (tls-native.ts), or null: the in-process node relay. */
  connector: string | null;
}

/** The TLS transport of a remote; undefined for a plaintext one. `connector`: see chooseTlsRelay. */
export function tlsTransport(r: RemoteConfig, connectTimeoutSec: number, connector: string | null = chooseTlsRelay().connector): TlsTransport | undefined {
  if (!r.tls) return undefined;
  const settings: ConnectSettings = { host: r.host, port: r.port, timeoutMs: Math.max(0, connectTimeoutSec) * 1000 };
  if (r.fingerprint) settings.fingerprint = r.fingerprint;
  if (r.caFile) settings.caFile = r.caFile;
  if (r.clientCert && r.clientKey) Object.assign(settings, { clientCert: r.clientCert, clientKey: r.clientKey });
  return { url: remoteUrl(r), localUrl: (port) => relayUrl(r, port), settings, connector };
}

/**
 * rsync's environment for a run through the relay: the agent's own without RSYNC_CONNECT_PROG, RSYNC_SHELL and
 * RSYNC_PROXY, each of which could send rsync somewhere other than the relay (the user's environment must not).
 */
export function tlsRunEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  delete env.RSYNC_CONNECT_PROG;
  delete env.RSYNC_SHELL;
  delete env.RSYNC_PROXY;
  delete env.RSYNCHUB_GATE_FD; // only a warm standby's connector holds for a go (warm-standby.ts)
  return env;
}

/**
 * Runs one rsync process of a TLS remote through a relay opened for it alone (see tls-relay.ts): the remote URL in
 * `args` is swapped for the relay's, `spawn` must call `started(pid)` right after spawning rsync (only that process's
 * connection is relayed), and a TLS failure is added to the result's stderr as the connector line classifyExit knows.
 * Arguments without the remote's URL are refused: rsync would connect to the real host in plaintext.
 */
export async function throughTlsRelay<R extends { stderr: string }>(
  t: TlsTransport, args: readonly string[], refused: (message: string) => R,
  spawnRun: (args: string[], env: NodeJS.ProcessEnv, started: (pid: number | undefined) => void) => Promise<R>,
): Promise<R> {
  if (!args.includes(t.url)) return refused(`internal error: the arguments do not hold ${t.url}; not run (it would go in plaintext)`);
  if (t.connector) {
    // The native connector: rsync runs it instead of opening a socket; its failure line becomes the connector line.
    // rsync talks to it over a loopback TCP socket pair, where --sockopts=TCP_NODELAY matters as on any TCP connection
    // (~60 ms per small push without it); the connector enforces connectTimeoutSec on the real connection.
    const res = await spawnRun([...args], nativeConnectorRunEnv(t.connector, t), () => undefined);
    res.stderr = withClientCertHint(translateNativeStderr(res.stderr, t.settings), t.settings);
    return res;
  }
  let lease;
  try {
    lease = await openTlsRelay(t.settings);
  } catch (e) {
    // No local port (fd exhaustion, no loopback): nothing was sent; an ordinary, retryable connection error.
    return refused(connectorLine({ kind: 'connect', message: `cannot open the local TLS relay (${(e as Error).message})` }));
  }
  let res: R;
  try {
    res = await spawnRun(args.map((a) => (a === t.url ? t.localUrl(lease.port) : a)), tlsRunEnv(), (pid) => lease.expect(pid));
  } finally {
    lease.close();
  }
  const f = lease.failure;
  if (f) res.stderr = `${res.stderr}${res.stderr ? '\n' : ''}${connectorLine(f)}`;
  res.stderr = withClientCertHint(res.stderr, t.settings);
  return res;
}

/** The line added after a TLS run's `@ERROR` when the remote presents no client certificate (see withClientCertHint). */
export const CLIENT_CERT_HINT = `rsynchub-agent: this tls remote presents no client certificate; if the module requires one (tlsClientCert), ${CLIENT_CERT_FIX}`;

/** The same for a remote that presents one: the server may accept the connection and the module refuse that certificate. */
export function presentedCertHint(clientCert: string): string {
  return `rsynchub-agent: this tls remote presents the client certificate ${clientCert}; if the module requires one (tlsClientCert), ` +
    `it may have been refused (revoked, expired, or issued by another server): check it on the console's Encryption page ("Client certificates") and issue a new one if needed`;
}

/**
 * A TLS run refused by the daemon (`@ERROR: access denied`, `Unknown module`): a module that requires a client
 * certificate answers exactly so when the connection has none (or one the server does not accept), so the likely fix
 * is named, as a possibility (the module may as well be missing or deny this host). The hint goes last: classifyExit's
 * message ends with the last lines.
 */
export function withClientCertHint(stderr: string, s: ConnectSettings): string {
  if (parseConnectorLine(stderr) || !/@ERROR: (access denied|Unknown module)/.test(stderr)) return stderr;
  return `${stderr}${stderr.endsWith('\n') || stderr === '' ? '' : '\n'}${s.clientCert ? presentedCertHint(s.clientCert) : CLIENT_CERT_HINT}\n`;
}

export interface RsyncResult {
  code: number | null;
  signal: string | null;
  stderr: string;
  durationMs: number;
  /** Killed by the watchdog: no I/O for RunOptions.stallKillMs. */
  stalled?: boolean;
  /** Everything rsync wrote to stdout, when RunOptions.captureStdout (dry runs). */
  stdout?: string;
}

export interface RunOptions {
  cwd: string;
  /** Paths for --files-from=- (absent for a full sync). */
  paths?: readonly string[];
  rsyncBin?: string;
  /** Called with each progress2 line of a full sync. */
  onProgress?: (p: Progress) => void;
  /**
   * Kill the run once it has done no I/O for this long (a hung connection must not hold the queue forever). Activity is
   * read from /proc/PID/io (rchar + wchar: sockets, pipes and files alike), so a long healthy transfer is never killed;
   * where /proc is missing, output on stdout/stderr counts instead.
   */
  stallKillMs?: number;
  /** Keep stdout in the result (dry-run preflights). */
  captureStdout?: boolean;
  /** rsync's environment; the agent's own when absent. */
  env?: NodeJS.ProcessEnv;
  /** A TLS remote: the run goes through the agent's relay (throughTlsRelay). */
  tls?: TlsTransport;
  /**
   * A warm standby started with exactly these arguments (warm-standby.ts): released instead of starting a process.
   * Never with the node TLS relay (its arguments name a relay port opened per run).
   */
  standby?: TakenStandby;
}

function ioCounter(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const text = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
    const r = /rchar:\s*(\d+)/.exec(text);
    const w = /wchar:\s*(\d+)/.exec(text);
    return r && w ? Number(r[1]) + Number(w[1]) : null;
  } catch {
    return null;
  }
}

/**
 * The rsync executable as an absolute path, looked up in PATH once: spawning the bare name makes every run walk PATH
 * with one failed execve per entry before the right one (9 here, with pyenv and cargo in PATH). Falls back to 'rsync'.
 */
export function resolveRsyncBin(name = 'rsync', searchPath = process.env.PATH ?? ''): string {
  if (name.includes('/')) return name;
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue; // a relative PATH entry would depend on each run's cwd
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return name;
}

let defaultRsyncBin: string | undefined;
/** `resolveRsyncBin()` for this process, computed on first use. */
export function rsyncExecutable(): string {
  defaultRsyncBin ??= resolveRsyncBin();
  return defaultRsyncBin;
}

/**
 * The executable a run starts (what a warm standby must have started too): `rsyncBin`, or the default. The launcher's
 * posix_spawn does not search PATH (node's spawn does): a bare name is looked up in the run's own PATH.
 */
export function runExecutable(rsyncBin: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolveRsyncBin(rsyncBin ?? rsyncExecutable(), env.PATH ?? '');
}

/** The environment of a TLS remote's run through its native connector (what a warm standby must have too). */
export function nativeConnectorRunEnv(connector: string, t: TlsTransport): NodeJS.ProcessEnv {
  return nativeRunEnv(connector, t.settings, tlsRunEnv());
}

/** Counts every rsync process this agent spawned (the 10,000-files test reads it from the state file). */
export const spawnCounter = { count: 0 };

export function runRsync(args: readonly string[], opts: RunOptions): Promise<RsyncResult> {
  if (opts.tls) {
    const t0 = Date.now();
    return throughTlsRelay<RsyncResult>(opts.tls, args, (message) => ({ code: 1, signal: null, stderr: message, durationMs: 0 }),
      (a, env, started) => spawnRsync(a, { ...opts, env }, started)).then((r) => ({ ...r, durationMs: Date.now() - t0 }));
  }
  return spawnRsync(args, opts);
}

function spawnRsync(args: readonly string[], opts: RunOptions, onSpawn?: (pid: number | undefined) => void, way?: 'node'): Promise<RsyncResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    spawnCounter.count++;
    const env = opts.env ?? process.env;
    const exe = runExecutable(opts.rsyncBin, env);
    let stderr = '';
    let stdout = '';
    let outBuf = '';
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    let lastIo = -1;
    let lastActivity = Date.now();
    const req = { exe, args, cwd: opts.cwd, env, stdin: opts.paths ? filesFromBuffer(opts.paths) : null };
    const handlers: RunHandlers = {
      // Called before rsync can connect anywhere (a TLS run's relay accepts only this pid's connection).
      onPid: (pid) => onSpawn?.(pid),
      onStderr: (d) => {
        lastActivity = Date.now();
        if (stderr.length < 64 * 1024) stderr += d.toString();
      },
      onStdout: (d) => {
        lastActivity = Date.now();
        if (opts.captureStdout && stdout.length < 64 * 1024 * 1024) stdout += d.toString();
        if (!opts.onProgress) return;
        outBuf += d.toString();
        // progress2 rewrites one line with \r; take every complete segment.
        const parts = outBuf.split(/[\r\n]/);
        outBuf = parts.pop() ?? '';
        for (const part of parts) {
          const p = parseProgress2(part);
          if (p) opts.onProgress(p);
        }
      },
      onError: (e) => {
        if (timer) clearInterval(timer);
        resolve({ code: null, signal: null, stderr: `cannot run rsync: ${e.message}`, durationMs: Date.now() - started });
      },
      onClose: (code, signal) => {
        if (timer) clearInterval(timer);
        const res: RsyncResult = { code, signal, stderr: stderr.trim(), durationMs: Date.now() - started };
        if (stalled) res.stalled = true;
        if (opts.captureStdout) res.stdout = stdout;
        resolve(res);
      },
      // The launcher died mid-run and its rsync was killed: the same run again, with node's spawn (no change lost).
      onLost: () => {
        if (timer) clearInterval(timer);
        void spawnRsync(args, { ...opts, standby: undefined }, onSpawn, 'node').then((r) => resolve({ ...r, durationMs: Date.now() - started }));
      },
    };
    // A standby (plain, or a TLS remote's native connector: the same arguments and environment) replaces the start.
    const child = opts.standby ? opts.standby.release(req.stdin, handlers)
      : way === 'node' ? startWithNode(req, handlers) : startProcess(req, handlers, onSpawn !== undefined);
    if (opts.stallKillMs && opts.stallKillMs > 0) {
      const limit = opts.stallKillMs;
      timer = setInterval(() => {
        const io = ioCounter(child.pid);
        if (io !== null && io !== lastIo) {
          lastIo = io;
          lastActivity = Date.now();
        }
        if (Date.now() - lastActivity >= limit) {
          stalled = true;
          child.kill('SIGKILL');
          if (timer) clearInterval(timer);
        }
      }, Math.max(50, Math.min(5000, Math.floor(limit / 4))));
    }
  });
}

export interface RsyncOutcome {
  ok: boolean;
  retryable: boolean;
  /** Short class for logs and status: 'ok', 'vanished', 'auth', 'connection', 'timeout', 'partial', ... */
  kind: string;
  message: string;
}

const EXIT_MEANING: Record<number, [string, string, boolean]> = {
  1: ['usage', 'syntax or usage error (check rsyncParams)', false],
  2: ['protocol', 'protocol incompatibility', false],
  3: ['io', 'errors selecting input/output files, dirs', true],
  4: ['unsupported', 'requested action not supported', false],
  5: ['connection', 'error starting client-server protocol', true],
  6: ['io', 'daemon unable to append to log-file', true],
  10: ['connection', 'error in socket I/O', true],
  11: ['io', 'error in file I/O', true],
  12: ['connection', 'error in rsync protocol data stream', true],
  13: ['io', 'errors with program diagnostics', true],
  14: ['io', 'error in IPC code', true],
  20: ['signal', 'received SIGUSR1 or SIGINT', true],
  21: ['io', 'some error returned by waitpid()', true],
  22: ['io', 'error allocating core memory buffers', true],
  23: ['partial', 'partial transfer due to error', true],
  25: ['partial', 'the --max-delete limit stopped deletions', true],
  30: ['timeout', 'timeout in data send/receive', true],
  35: ['timeout', 'timeout waiting for daemon connection', true],
};

/**
 * Classifies an rsync exit. 24 (some files vanished before they could be transferred) is success: a file that vanished
 * was deleted after being listed, and that deletion is its own later event. Non-retryable errors (usage, protocol) are
 * still kept queued by the caller — the journal never drops work — but are retried at the slowest pace.
 */
export function classifyExit(r: Pick<RsyncResult, 'code' | 'signal' | 'stderr' | 'stalled'>): RsyncOutcome {
  if (r.stalled) return { ok: false, retryable: true, kind: 'stalled', message: 'rsync stalled (no I/O within the deadline) and was killed; is the target hung?' };
  if (r.code === 0) return { ok: true, retryable: false, kind: 'ok', message: 'ok' };
  if (r.code === 24) return { ok: true, retryable: false, kind: 'vanished', message: 'some source files vanished (deleted meanwhile)' };
  // The TLS relay said why it gave up (its line is added to rsync's stderr). A certificate that is not the trusted one,
  // or no TLS at that port, needs someone to act: retried at the slowest pace, never in plaintext.
  const tls = parseConnectorLine(r.stderr);
  if (tls) {
    return tls.kind === 'connect'
      ? { ok: false, retryable: true, kind: 'connection', message: `TLS: ${tls.message}` }
      : { ok: false, retryable: false, kind: 'tls', message: `TLS: ${tls.message}` };
  }
  const lastLines = r.stderr.split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
  if (r.code === null) {
    return { ok: false, retryable: true, kind: r.signal ? 'killed' : 'spawn', message: r.signal ? `rsync killed by ${r.signal}` : lastLines };
  }
  let [kind, meaning, retryable] = EXIT_MEANING[r.code] ?? ['error', `exit code ${r.code}`, true];
  if (/auth failed|password file|@ERROR: auth/i.test(r.stderr)) kind = 'auth';
  else if (/Unknown module|@ERROR/i.test(r.stderr)) kind = 'module';
  else if (/Connection refused|No route to host|Name or service not known|failed to connect/i.test(r.stderr)) kind = 'connection';
  if (kind === 'auth' || kind === 'module') retryable = true; // an operator may fix the target; keep trying
  return { ok: false, retryable, kind, message: `rsync exit ${r.code} (${meaning})${lastLines ? `: ${lastLines}` : ''}` };
}

export interface Progress {
  bytes: number;
  percent: number;
  rate: string;
  eta: string;
  /** Files still to check / total, when rsync reports them (to-chk=N/M). */
  toCheck?: number;
  total?: number;
}

/** Parses one `--info=progress2` line: `    1,234,567  45%   10.50MB/s    0:00:01 (xfr#12, to-chk=100/200)` */
export function parseProgress2(line: string): Progress | null {
  const m = /^\s*([\d,.]+)\s+(\d+)%\s+(\S+)\s+(\d+:\d\d:\d\d)(?:\s+\(.*?(?:to-chk|ir-chk)=(\d+)\/(\d+)\))?/.exec(line);
  if (!m) return null;
  const p: Progress = { bytes: Number(m[1].replace(/[,.]/g, '')), percent: Number(m[2]), rate: m[3], eta: m[4] };
  if (m[5] !== undefined) {
    p.toCheck = Number(m[5]);
    p.total = Number(m[6]);
  }
  return p;
}

/** A text progress bar for the initial full sync. */
export function renderProgressBar(p: Progress, width = 30): string {
  const pct = p.total ? Math.max(p.percent, Math.floor(((p.total - (p.toCheck ?? 0)) / p.total) * 100)) : p.percent;
  const filled = Math.round((Math.min(100, pct) / 100) * width);
  const files = p.total !== undefined ? ` ${p.total - (p.toCheck ?? 0)}/${p.total} files` : '';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${p.rate}${files} eta ${p.eta}`;
}
