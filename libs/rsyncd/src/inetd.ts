/**
 * `rsync --daemon` in inetd mode: no listening socket, one process per connection, its stdin/stdout the connection.
 * Used behind the TLS listener (one daemon per TLS connection, reading the PROXY line the listener writes) and to
 * prove the TLS config before it is written.
 *
 * Why a loopback TCP pair and not a Unix socketpair: the daemon takes the peer address of its stdin (getpeername)
 * for `proxy protocol hosts`; it must be 127.0.0.1. The pair is private: a one-shot listener on 127.0.0.1:0 accepts
 * only the socket whose remote port is our own connecting socket's local port (no other socket on the machine can
 * have that 4-tuple), and is closed at once, so nothing else can ever reach the daemon's end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configComplaints } from './verify';

/** A connected pair of loopback TCP sockets nobody else can reach: `ours` stays in Node, `theirs` goes to a child. */
export interface LoopbackPair {
  ours: net.Socket;
  theirs: net.Socket;
}

/** The environment of a spawned daemon: the daemon expands %VAR% in its config, so nothing of ours may leak into it. */
export const DAEMON_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TZ: 'UTC', LANG: 'C.UTF-8' };

export function connectedLoopbackPair(timeoutMs = 5_000): Promise<LoopbackPair> {
  return new Promise((resolve, reject) => {
    // pauseOnConnect: Node must never read from `theirs`; its bytes are the child's.
    const listener = net.createServer({ pauseOnConnect: true });
    let ours: net.Socket | null = null;
    let theirs: net.Socket | null = null;
    let connected = false;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      listener.close();
      ours?.destroy();
      theirs?.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error('the loopback pair did not connect in time')), timeoutMs);
    listener.on('error', fail);
    // Both ends ready: our connect completed and the listener accepted it (in either order).
    const settle = () => {
      if (settled || !connected || !theirs || !ours) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ours, theirs });
    };
    listener.on('connection', (socket) => {
      // Anyone else who raced to the port in the meantime gets nothing.
      if (settled || theirs || !ours || socket.remoteAddress !== '127.0.0.1' || socket.remotePort !== ours.localPort) {
        socket.destroy();
        return;
      }
      theirs = socket;
      listener.close();
      settle();
    });
    listener.listen({ host: '127.0.0.1', port: 0, backlog: 8 }, () => {
      const { port } = listener.address() as net.AddressInfo;
      ours = net.connect({ host: '127.0.0.1', port, noDelay: true });
      ours.on('error', fail);
      ours.once('connect', () => {
        connected = true;
        settle();
      });
    });
  });
}

export interface InetdSpawnOptions {
  rsyncPath: string;
  configFile: string;
  /** Extra daemon options (e.g. --log-file, --dparam) before the config. */
  extraArgs?: string[];
  /** stderr: rsync reports a config it cannot even open there (everything else goes to its log file). */
  stderr?: 'pipe' | 'ignore';
}

/**
 * Starts one inetd-mode daemon on `pair.theirs` and closes Node's copy of that socket, so the child holds the only
 * one: when the child exits the connection closes, and when Node dies `ours` closes and the child reads EOF.
 * Its own process group, so a stop takes down the transfer processes it forks too.
 */
export function spawnInetdDaemon(pair: LoopbackPair, opts: InetdSpawnOptions): ChildProcess {
  try {
    return spawn(opts.rsyncPath, ['--daemon', ...(opts.extraArgs ?? []), `--config=${opts.configFile}`], {
      stdio: [pair.theirs, pair.theirs, opts.stderr ?? 'ignore'],
      detached: true,
      env: DAEMON_ENV,
    });
  } finally {
    pair.theirs.destroy();
  }
}

export type InetdProofResult = { ok: true; modules: string[] } | { ok: false; error: string };

/**
 * Proves a config meant for the proxy-protocol daemon with the real rsync, in inetd mode: a throwaway daemon on a
 * private pair reads the config, gets a PROXY line and a module-list request, and must answer with the list and no
 * complaint in its log. Its log and MOTD are redirected to a temp dir; the list never opens the secrets file.
 */
export async function verifyInetdConfig(configText: string, opts: { rsyncPath?: string; timeoutMs?: number } = {}): Promise<InetdProofResult> {
  const dir = await mkdtemp(join(tmpdir(), 'rsynchub-verify-tls-'));
  const configFile = join(dir, 'rsyncd.conf');
  const logFile = join(dir, 'rsyncd.log');
  const motdFile = join(dir, 'motd');
  let child: ChildProcess | null = null;
  let pair: LoopbackPair | null = null;
  try {
    await writeFile(configFile, configText, { mode: 0o600, flag: 'wx' });
    await writeFile(motdFile, '', { mode: 0o600, flag: 'wx' });
    pair = await connectedLoopbackPair();
    const ours = pair.ours;
    child = spawnInetdDaemon(pair, {
      rsyncPath: opts.rsyncPath ?? 'rsync',
      configFile,
      extraArgs: [`--log-file=${logFile}`, `--dparam=motdfile=${motdFile}`],
      stderr: 'pipe',
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const spawnError = new Promise<string>((resolve) => child!.once('error', (e) => resolve(`cannot start rsync: ${e.message}`)));
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const timer = setTimeout(() => finish(), opts.timeoutMs ?? 5_000);
      const finish = () => {
        clearTimeout(timer);
        resolve(text);
      };
      ours.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        if (/@RSYNCD: EXIT|@ERROR/.test(text)) finish();
      });
      ours.on('close', finish);
      ours.on('error', finish);
      void spawnError.then((e) => {
        text += e;
        finish();
      });
      ours.write('PROXY TCP4 127.0.0.1 127.0.0.1 40000 874\r\n@RSYNCD: 32.0 md5\n#list\n');
    });
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const complaints = configComplaints(log);
    if (complaints.length > 0) return { ok: false, error: `the daemon complained about the config: ${complaints.join(' | ')}` };
    if (!/@RSYNCD: EXIT/.test(answer)) {
      const why = [stderr, ...answer.split('\n').filter((l) => l.startsWith('@ERROR') || l.startsWith('cannot start')), log].join('\n').trim();
      return { ok: false, error: `the daemon did not list its modules: ${why || 'no answer'}` };
    }
    const modules = answer
      .split('\n')
      .filter((l) => !l.startsWith('@RSYNCD'))
      .map((l) => l.split('\t')[0]!.trim())
      .filter((n) => n !== '');
    return { ok: true, modules };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    pair?.ours.destroy();
    if (child?.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}
