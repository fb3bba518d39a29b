/**
 * Proves a rendered config with the real daemon before it is swapped in: a throwaway `rsync --daemon` on a free
 * 127.0.0.1 port loads the config, lists its modules, and is killed (with its whole process group).
 *
 * The throwaway daemon gets its own pid file (`--dparam=pidfile`) and log file (`--log-file`, which overrides every
 * log file in the config) inside a fresh temp dir, so it never touches the live daemon's files. That is also why it
 * is stopped with SIGKILL: nothing of it needs a clean shutdown, and rsync's own SIGTERM handling pauses ~400 ms
 * before it exits (most of a config change's time before). A module listing
 * does not open the secrets file or lock files. As root, a module with `use chroot` unset would chroot/switch to
 * nobody on a transfer — irrelevant here, since only the listing is requested.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface VerifyOptions {
  /** Overall deadline in milliseconds; default 5000. */
  timeoutMs?: number;
  /** rsync binary; default `rsync` from PATH. */
  rsyncPath?: string;
}

export type VerifyResult = { ok: true; modules: string[] } | { ok: false; error: string };

/** Lines the daemon logs when it ignores or rejects part of a config: a config we render must produce none. */
const CONFIG_COMPLAINTS = [
  /Unknown Parameter encountered/i,
  /IGNORING unknown parameter/i,
  /Badly formed/i,
  /Global parameter .* found in module section/i,
  /Invalid parameter name/i,
  /Unexpected (EOF|end-of-file)/i,
  /Empty section name/i,
  /Failed\.\s+Error returned from params/i,
  /failed to parse config/i,
];

/** The lines of a daemon log that say it ignored or rejected part of its config. */
export function configComplaints(log: string): string[] {
  return log
    .split('\n')
    .filter((l) => CONFIG_COMPLAINTS.some((re) => re.test(l)))
    .map((l) => l.trim());
}

/** Asks the OS for a free TCP port on 127.0.0.1 (listen on 0, read the port, close). */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a short command with a hard timeout (kills its process group when it expires). */
export function runWithTimeout(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err), timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Stops a daemon started with `detached: true`: SIGTERM to its process group, SIGKILL if it lingers. */
export async function stopDaemon(child: ChildProcess, graceMs = 1000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child, 'SIGKILL'); // the leader is gone; make sure no forked connection handler survives
    return;
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child, 'SIGTERM');
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
    killGroup(child, 'SIGKILL');
    await Promise.race([exited, sleep(graceMs)]);
  }
  killGroup(child, 'SIGKILL');
}

/** How often the proof checks whether its throwaway daemon listens yet. */
const READY_POLL_MS = 3;

/**
 * Stops a throwaway daemon at once: SIGKILL to its whole process group (the daemon and any connection child it
 * forked), then waits for the exit so its temp dir can be removed. Only for daemons whose files live in their own
 * temp dir: nothing is left half-written that anyone else reads.
 */
export async function killDaemonNow(child: ChildProcess): Promise<void> {
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child, 'SIGKILL');
  await Promise.race([exited, sleep(2000)]);
}

/**
 * Parses `rsync --list-only rsync://host/` output ("name<TAB>comment" lines, names padded with spaces). The daemon's
 * MOTD, if any, precedes the list: only call this for a daemon without a MOTD (verifyConfigWithDaemon disables it).
 */
export function parseModuleListing(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.split('\t')[0].trim())
    .filter((n) => n !== '');
}

export async function verifyConfigWithDaemon(
  configText: string,
  secretsText: string,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const rsync = opts.rsyncPath ?? 'rsync';
  const deadline = Date.now() + timeoutMs;
  const dir = await mkdtemp(join(tmpdir(), 'rsynchub-verify-'));
  const configFile = join(dir, 'rsyncd.conf');
  const secretsFile = join(dir, 'rsyncd.secrets');
  const logFile = join(dir, 'rsyncd.log');
  const motdFile = join(dir, 'motd');
  let daemon: ChildProcess | null = null;
  try {
    await writeFile(configFile, configText, { mode: 0o600, flag: 'wx' });
    await writeFile(secretsFile, secretsText, { mode: 0o600, flag: 'wx' });
    await writeFile(motdFile, '', { mode: 0o600, flag: 'wx' });

    // A port can be taken between asking and binding; try a few.
    let port = 0;
    let daemonErr = '';
    for (let attempt = 0; attempt < 3 && Date.now() < deadline; attempt++) {
      port = await getFreePort();
      daemonErr = '';
      const child = spawn(
        rsync,
        [
          '--daemon',
          '--no-detach',
          `--config=${configFile}`,
          `--port=${port}`,
          '--address=127.0.0.1',
          `--log-file=${logFile}`,
          `--dparam=pidfile=${join(dir, 'rsyncd.pid')}`,
          // No MOTD: its text would be mixed into the module listing (and --no-motd would hide the listing too).
          `--dparam=motdfile=${motdFile}`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
      );
      daemon = child;
      child.stderr!.on('data', (d: Buffer) => (daemonErr += d.toString()));
      let spawnError: Error | null = null;
      child.once('error', (e) => (spawnError = e));
      let ready = false;
      while (Date.now() < deadline) {
        if (spawnError) return { ok: false, error: `cannot start ${rsync}: ${String(spawnError)}` };
        if (child.exitCode !== null || child.signalCode !== null) break;
        if (await canConnect(port)) {
          ready = true;
          break;
        }
        // rsync binds within a few milliseconds of starting: poll often, the wait is the proof's main cost.
        await sleep(READY_POLL_MS);
      }
      if (ready) break;
      await killDaemonNow(child);
      const log = await readFile(logFile, 'utf8').catch(() => '');
      if (!/Address already in use/i.test(daemonErr + log)) {
        return { ok: false, error: `rsync daemon did not start: ${(daemonErr + log).trim() || 'timed out'}` };
      }
    }
    if (!daemon || daemon.exitCode !== null) {
      return { ok: false, error: `rsync daemon did not start: ${daemonErr.trim() || 'no free port'}` };
    }

    const remaining = Math.max(500, deadline - Date.now());
    const list = await runWithTimeout(
      rsync,
      // Not --no-motd: rsync then suppresses the module list as well (a protocol limitation, see rsync(1)).
      ['--list-only', `--contimeout=${Math.ceil(remaining / 1000)}`, `rsync://127.0.0.1:${port}/`],
      remaining,
    );
    const log = await readFile(logFile, 'utf8').catch(() => '');
    if (list.timedOut) return { ok: false, error: 'listing the modules timed out' };
    if (list.code !== 0) {
      return { ok: false, error: `listing the modules failed (exit ${list.code}): ${(list.stderr + list.stdout).trim()}` };
    }
    const complaints = configComplaints(log);
    if (complaints.length > 0) {
      return { ok: false, error: `the daemon complained about the config: ${complaints.join(' | ')}` };
    }
    return { ok: true, modules: parseModuleListing(list.stdout) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    if (daemon) await killDaemonNow(daemon);
    await rm(dir, { recursive: true, force: true });
  }
}
