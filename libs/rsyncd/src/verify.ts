/**
 * Proves a rendered config with the real daemon before it is swapped in (verifyConfigWithDaemon: rsync loads the
 * config and lists its modules over a pipe), plus the process helpers the daemon tests use.
 *
 * The proof's rsync gets its own log file (`--log-file`, which overrides every log file in the config) inside a
 * fresh temp dir, so it never touches the live daemon's files. A module listing does not open the secrets file or
 * lock files. As root, a module with `use chroot` unset would chroot/switch to nobody on a transfer — irrelevant
 * here, since only the listing is requested.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
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

/** Where proofs make their temp dirs: `<tmp>/rsynchub-verify-XXXXXX`. */
export const PROOF_DIR_PREFIX = 'rsynchub-verify-';

/** True when the config's global part (before the first section) turns the PROXY protocol on. */
function globalProxyProtocol(configText: string): boolean {
  for (const line of configText.split('\n')) {
    const t = line.trim();
    if (t.startsWith('[')) return false;
    if (/^proxy\s*protocol\s*=\s*(yes|true|1)$/i.test(t)) return true;
  }
  return false;
}

/**
 * Proves a config with the real daemon, without a listening socket: rsync's "daemon over a remote shell" mode
 * (`rsync --server --daemon`, what `rsync -e ssh host::` runs on the far side) loads the config exactly as a
 * daemon does for each connection, then serves ONE connection on its stdin/stdout; we speak the daemon protocol
 * over that pipe (greeting, `#list`) and read the module listing. Compared with a throwaway daemon on a loopback
 * port (the earlier proof) this needs one process instead of two, no port and no readiness polling, and it cannot
 * outlive the server: if the server dies (even kill -9) its end of the pipe closes, rsync reads EOF and exits, and
 * it never listened anywhere, so it never served the proof config's modules to anyone.
 * The process runs in its own process group and is SIGKILLed with it when the deadline passes.
 * SSH_CONNECTION names 127.0.0.1 as the client, as the loopback connection did, so host rules apply the same way.
 */
export async function verifyConfigWithDaemon(
  configText: string,
  secretsText: string,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const rsync = opts.rsyncPath ?? 'rsync';
  const dir = await mkdtemp(join(tmpdir(), PROOF_DIR_PREFIX));
  const configFile = join(dir, 'rsyncd.conf');
  const secretsFile = join(dir, 'rsyncd.secrets');
  const logFile = join(dir, 'rsyncd.log');
  const motdFile = join(dir, 'motd');
  try {
    await writeFile(configFile, configText, { mode: 0o600, flag: 'wx' });
    await writeFile(secretsFile, secretsText, { mode: 0o600, flag: 'wx' });
    await writeFile(motdFile, '', { mode: 0o600, flag: 'wx' });
    const talk = await listOverPipe(
      rsync,
      [
        '--server',
        '--daemon',
        `--config=${configFile}`,
        `--log-file=${logFile}`,
        // No MOTD: its text would come before the module listing.
        `--dparam=motdfile=${motdFile}`,
        '.',
      ],
      globalProxyProtocol(configText),
      timeoutMs,
    );
    const log = await readFile(logFile, 'utf8').catch(() => '');
    if (talk.spawnError) return { ok: false, error: `cannot start ${rsync}: ${talk.spawnError}` };
    if (talk.timedOut) return { ok: false, error: 'listing the modules timed out' };
    if (talk.error !== null || !talk.exited) {
      const detail = (talk.error ?? '') + ' ' + (talk.stderr + log).trim();
      return { ok: false, error: `listing the modules failed: ${detail.trim() || 'no answer from rsync'}` };
    }
    const complaints = configComplaints(log);
    if (complaints.length > 0) {
      return { ok: false, error: `the daemon complained about the config: ${complaints.join(' | ')}` };
    }
    return { ok: true, modules: parseModuleListing(talk.listing.join('\n')) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface PipeTalk {
  listing: string[];
  /** The daemon sent `@RSYNCD: EXIT` after its listing. */
  exited: boolean;
  /** `@ERROR` text, or how the talk broke off. */
  error: string | null;
  stderr: string;
  timedOut: boolean;
  spawnError: string | null;
}

/**
 * Runs `rsync --server --daemon ...` and asks it for its module list over stdin/stdout: the daemon greets with
 * `@RSYNCD: <version> [digests]` (after reading a PROXY v1 header we send first when the config expects one), we
 * answer with the same line (same version, same digest list), then send `#list`. The daemon answers with the MOTD (empty here),
 * one line per listable module and `@RSYNCD: EXIT`, or `@ERROR: ...`.
 */
function listOverPipe(rsync: string, args: string[], proxyHeader: boolean, timeoutMs: number): Promise<PipeTalk> {
  return new Promise((resolve) => {
    const result: PipeTalk = { listing: [], exited: false, error: null, stderr: '', timedOut: false, spawnError: null };
    const child = spawn(rsync, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, SSH_CONNECTION: '127.0.0.1 0 127.0.0.1 0' },
    });
    let buffered = '';
    let greeted = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (child.exitCode !== null || child.signalCode !== null) return resolve(result);
      child.once('close', () => resolve(result));
      // Once the listing is read nothing of the process is needed; the group takes any child it forked with it.
      killGroup(child, 'SIGKILL');
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      finish();
    }, timeoutMs);
    child.on('error', (err) => {
      result.spawnError = String(err);
      finished = true;
      clearTimeout(timer);
      resolve(result);
    });
    child.stdin!.on('error', () => undefined); // EPIPE when rsync exits first: its exit tells the story
    // With the PROXY protocol on, the daemon reads the header before it greets (as the TLS listener sends it).
    if (proxyHeader) child.stdin!.write('PROXY TCP4 127.0.0.1 127.0.0.1 1 873\r\n');
    child.stderr!.on('data', (d: Buffer) => (result.stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while (!finished && (nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        if (!greeted) {
          if (!line.startsWith('@RSYNCD: ')) {
            result.error = `unexpected greeting ${JSON.stringify(line.slice(0, 200))}`;
            finish();
            return;
          }
          greeted = true;
          child.stdin!.write(`${line}\n#list\n`);
        } else if (line.startsWith('@ERROR')) {
          result.error = line;
          finish();
        } else if (line === '@RSYNCD: EXIT') {
          result.exited = true;
          finish();
        } else {
          result.listing.push(line);
        }
      }
    });
    child.on('close', () => {
      if (!result.exited && result.error === null) result.error = 'rsync ended before its listing';
      finish();
    });
  });
}

/** A proof takes at most its deadline (20 s in the API); a proof dir older than this belongs to nobody. */
const STALE_PROOF_AGE_MS = 60_000;

/**
 * Clears what earlier proofs left in `tmp` (default the OS temp dir): before proofs ran over a pipe, a server killed
 * with kill -9 mid-proof left its throwaway `rsync --daemon` running as an orphan, still serving the proof config's
 * modules on loopback. For each `rsynchub-verify-*` dir this finds the processes running with a path inside it (by
 * their command line, plus the pid in its `rsyncd.pid`) and, when the dir is stale (older than a proof's deadline,
 * or every such process is orphaned, i.e. its parent is PID 1), kills them with SIGKILL and removes the dir. A dir
 * of a proof still in flight in another server on this machine is left alone, and so is a dir of another account;
 * a pid file only counts when that process's command line names the dir. Linux only (reads /proc); elsewhere
 * it only removes stale dirs. Returns the pids it killed.
 */
export async function sweepStaleProofs(tmp = tmpdir(), now = Date.now()): Promise<number[]> {
  const names = (await readdir(tmp).catch(() => [] as string[])).filter((n) => n.startsWith(PROOF_DIR_PREFIX));
  if (names.length === 0) return [];
  const procs = await processesMentioning(join(tmp, PROOF_DIR_PREFIX));
  const killed: number[] = [];
  for (const name of names) {
    const dir = join(tmp, name);
    const info = await stat(dir).catch(() => null);
    // Only dirs this account made (a proof's mkdtemp): someone else's dir in a shared /tmp is not ours to clear,
    // nor are processes that merely name it.
    if (!info?.isDirectory() || (process.getuid && info.uid !== process.getuid())) continue;
    const mine = procs.filter((p) => p.cmdline.includes(`${dir}/`));
    const pidFromFile = Number((await readFile(join(dir, 'rsyncd.pid'), 'utf8').catch(() => '')).trim());
    if (pidFromFile > 0 && !mine.some((p) => p.pid === pidFromFile)) {
      const p = await processInfo(pidFromFile);
      if (p && p.cmdline.includes(`${dir}/`)) mine.push(p);
    }
    const old = now - info.mtimeMs > STALE_PROOF_AGE_MS;
    const orphaned = mine.length > 0 && mine.every((p) => p.ppid === 1);
    if (!old && !orphaned) continue;
    for (const p of mine) {
      for (const target of [-p.pid, p.pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* not a group leader, or already gone */
        }
      }
      killed.push(p.pid);
    }
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
  return killed;
}

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

async function processInfo(pid: number): Promise<ProcInfo | null> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { pid, ppid, cmdline };
  } catch {
    return null;
  }
}

/** Processes whose command line contains `text` (from /proc; none where there is no /proc). */
async function processesMentioning(text: string): Promise<ProcInfo[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
  const out: ProcInfo[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmd.includes(text)) continue;
    const p = await processInfo(pid);
    if (p) out.push(p);
  }
  return out;
}
