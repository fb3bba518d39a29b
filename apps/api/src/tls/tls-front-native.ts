import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { HANDSHAKE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS, TlsFront, type TlsFrontOptions } from './tls-front';

/** Where the build puts the native front (apps/api/native/build.mjs): next to the compiled API. */
export const NATIVE_TLS_FRONT = path.join(__dirname, '..', 'rsynchub-tls-front');

/** What both fronts offer the TLS service (tls-front.ts: Node; this file: the native process). */
export interface TlsFrontRunner {
  readonly kind: 'native' | 'node';
  readonly listening: boolean;
  readonly accepted: number;
  readonly handshakeFailures: number;
  readonly active: number;
  readonly daemons: number;
  readonly refusedPerAddress: number;
  readonly lastDaemonError: string | null;
  start(opts: TlsFrontOptions): Promise<void>;
  setCertificate(cert: string, key: string): void;
  stop(): Promise<void>;
}

export interface TlsFrontChoice {
  front: TlsFrontRunner;
  /** Why the Node front runs (null: the native one runs). */
  why: string | null;
}

interface Logger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const probed = new Map<string, string | null>();

/** null when the binary runs, else why not. Probed once per file. */
export function probeNativeFront(file = NATIVE_TLS_FRONT): string | null {
  if (!probed.has(file)) {
    const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    probed.set(
      file,
      r.status === 0 && r.stdout.startsWith('rsynchub-tls-front ')
        ? null
        : (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
          ? `the native TLS front is not built (${file} missing: it needs a C compiler and OpenSSL's headers, Debian gcc and libssl-dev)`
          : `the native TLS front ${file} does not run (${r.error?.message ?? (r.stderr.trim() || `exit ${r.status}`)})`,
    );
  }
  return probed.get(file)!;
}

/** RSYNCHUB_TLS_FRONT: `native` (default) runs the native front when it is built, `node` always the Node front. */
export function chooseTlsFront(wanted: 'native' | 'node', logger: Logger, file = NATIVE_TLS_FRONT): TlsFrontChoice {
  if (wanted === 'node') return { front: new TlsFront(), why: 'RSYNCHUB_TLS_FRONT=node' };
  const why = probeNativeFront(file);
  if (why) return { front: new TlsFront(), why };
  return { front: new NativeTlsFront(file, logger), why: null };
}

/** A front that crashes is restarted after this, doubling up to RESTART_MAX_MS (reset after RESTART_RESET_MS up). */
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 5_000;
const RESTART_RESET_MS = 10_000;
/** A front that does not leave within this after its stdin closed is killed (it gives its connections 5 s itself). */
const STOP_KILL_MS = 10_000;

class FrontStartError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * Supervises `rsynchub-tls-front` (apps/api/native/rsynchub-tls-front.c): the process owns the TLS port, forks one
 * child per connection that does the handshake, starts the inetd-mode daemon on a private loopback pair, writes the
 * PROXY line with the client's real address and relays; no byte of a transfer passes through Node and Node forks
 * nothing per connection. Node keeps the policy: when it runs, on which address and port, with which certificate
 * (sent on its stdin, never written to another file), the limits. The process dies with the server; if it dies on
 * its own it is started again (running connections die with it: they are its children).
 */
export class NativeTlsFront implements TlsFrontRunner {
  readonly kind = 'native' as const;
  private child: ChildProcess | null = null;
  private opts: TlsFrontOptions | null = null;
  private cert: { cert: string; key: string } | null = null;
  private up = false;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelay = RESTART_MIN_MS;
  private startedAt = 0;
  private readonly open = new Set<number>();
  accepted = 0;
  handshakeFailures = 0;
  refusedPerAddress = 0;
  /** Times the front process died on its own and was started again. */
  restarts = 0;
  lastDaemonError: string | null = null;
  /** The last certificate the front refused, or why it could not be (re)started. */
  lastFrontError: string | null = null;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  get listening(): boolean {
    return this.up;
  }

  get active(): number {
    return this.open.size;
  }

  get daemons(): number {
    return this.open.size;
  }

  /** The front's process id (tests: kill it and watch it come back). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(opts: TlsFrontOptions): Promise<void> {
    await this.stop();
    this.stopping = false;
    this.opts = opts;
    this.cert = { cert: opts.cert, key: opts.key };
    this.restartDelay = RESTART_MIN_MS;
    await this.launch();
  }

  setCertificate(cert: string, key: string): void {
    this.cert = { cert, key };
    if (this.child?.stdin?.writable) this.sendCertificate(this.child);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    this.child = null;
    this.up = false;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin?.end(); // the front closes its port, SIGTERMs each connection's group, SIGKILLs after 5 s, exits
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_KILL_MS);
      await exited;
      clearTimeout(timer);
    }
    this.open.clear();
  }

  private sendCertificate(child: ChildProcess): void {
    const pem = Buffer.from(`${this.cert!.cert.trim()}\n${this.cert!.key.trim()}\n`, 'utf8');
    child.stdin!.write(`cert ${pem.length}\n`);
    child.stdin!.write(pem);
  }

  private launch(): Promise<void> {
    const opts = this.opts!;
    const daemon = opts.daemon();
    if (!daemon) return Promise.reject(new FrontStartError('no daemon configuration to serve', 'ENOCONFIG'));
    const args = [
      '--host', opts.host,
      '--port', String(opts.port),
      '--rsync', daemon.rsyncPath,
      '--config', daemon.configFile,
      '--max-connections', String(MAX_CONNECTIONS),
      '--max-per-address', String(MAX_CONNECTIONS_PER_ADDRESS),
      '--handshake-timeout-ms', String(HANDSHAKE_TIMEOUT_MS),
      '--parent-pid', String(process.pid),
      ...(opts.clientCa && daemon.certConfigFile && daemon.allowedFile ? ['--cert-config', daemon.certConfigFile, '--client-allowed', daemon.allowedFile] : []),
    ];
    const child = spawn(this.file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.open.clear();
    child.stdin!.on('error', () => undefined); // a front that died: its exit is handled below
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        const space = line.indexOf(' ');
        const word = space < 0 ? line : line.slice(0, space);
        const rest = space < 0 ? '' : line.slice(space + 1);
        switch (word) {
          case 'listening':
            this.up = true;
            this.startedAt = Date.now();
            this.lastFrontError = null;
            settle();
            break;
          case 'listen-error': {
            const code = rest.split(' ')[0] ?? 'EOTHER';
            settle(new FrontStartError(rest.slice(code.length + 1), code));
            break;
          }
          case 'client-ca-error':
            this.lastFrontError = `the native TLS front refused the client CA (no client certificate passes): ${rest}`;
            this.logger.error(this.lastFrontError);
            break;
          case 'cert-ok':
            if (this.up) this.lastFrontError = null;
            break;
          case 'cert-error':
            this.lastFrontError = `the native TLS front refused the certificate: ${rest}`;
            this.logger.error(this.lastFrontError);
            // At start the front waits for a usable certificate before it opens the port: no use keeping it.
            if (!this.up) child.kill('SIGKILL');
            settle(new FrontStartError(this.lastFrontError, 'ECERT'));
            break;
          case 'open':
            this.accepted++;
            this.open.add(Number(rest));
            this.lastDaemonError = null;
            break;
          case 'closed':
            this.open.delete(Number(rest));
            break;
          case 'handshake-failure':
            this.handshakeFailures++;
            break;
          case 'refused-per-address':
          case 'refused-max':
            this.refusedPerAddress += word === 'refused-per-address' ? 1 : 0;
            break;
          case 'daemon-error':
            this.lastDaemonError = rest;
            break;
          default:
            break;
        }
      });
      child.once('error', (err) => settle(new FrontStartError(`cannot start the native TLS front: ${err.message}`, 'ESPAWN')));
      child.once('exit', (code, signal) => {
        const wasUp = this.up;
        if (this.child === child) {
          this.child = null;
          this.up = false;
          this.open.clear();
        }
        const why = `the native TLS front exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        settle(new FrontStartError(why, 'EEXIT'));
        if (this.stopping || this.child !== null || !wasUp) return;
        // Died on its own (a crash, a kill): its connections died with it; new ones must get in again.
        this.lastFrontError = why;
        this.logger.error(`${why}; starting it again`);
        this.scheduleRestart();
      });
      // The client CA first: the certificate's context is built with it (clients are asked for a certificate).
      if (opts.clientCa) {
        const ca = Buffer.from(`${opts.clientCa.trim()}\n`, 'utf8');
        child.stdin!.write(`client-ca ${ca.length}\n`);
        child.stdin!.write(ca);
      }
      this.sendCertificate(child);
    });
  }

  private scheduleRestart(): void {
    if (this.stopping || this.restartTimer) return;
    if (Date.now() - this.startedAt > RESTART_RESET_MS) this.restartDelay = RESTART_MIN_MS;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(RESTART_MAX_MS, this.restartDelay * 2);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.restarts++;
      this.launch().then(
        () => this.logger.log(`the native TLS front is back on ${this.opts!.host}:${this.opts!.port}`),
        (err: Error) => {
          this.lastFrontError = err.message;
          this.logger.error(`the native TLS front did not come back: ${err.message}`);
          this.scheduleRestart();
        },
      );
    }, delay);
    this.restartTimer.unref();
  }
}
