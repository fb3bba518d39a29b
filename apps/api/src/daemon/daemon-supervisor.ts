import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Subject } from 'rxjs';
import type { DaemonState, DaemonStatusDto } from '@rsynchub/contracts';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { daemonPaths, DaemonPaths } from './daemon-paths';
import { processListensOn } from './listening-sockets';
import { probeRsync } from './rsync-version';

const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const BACKOFF_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000];
/** A daemon that stayed up this long is considered healthy again: the next crash starts the backoff anew. */
const STABLE_AFTER_MS = 60_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The address to probe for readiness: a wildcard bind is reachable on loopback. */
function probeHost(address: string): string {
  if (address === '0.0.0.0' || address === '') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Runs the real `rsync --daemon` as a child in its own process group, knows its state, restarts it with backoff
 * when it dies, and takes it (and every per-connection child it forked) down with the server.
 */
@Injectable()
export class DaemonSupervisor implements OnApplicationShutdown {
  protected readonly logger = new Logger(this.constructor.name);
  protected paths: DaemonPaths;
  private child: ChildProcess | null = null;
  private state: DaemonState = 'stopped';
  private wanted = false;
  private startedAt: Date | null = null;
  private restarts = 0;
  private consecutiveFailures = 0;
  private lastExit: DaemonStatusDto['lastExit'] = null;
  private lastError: string | null = null;
  private version: string | null = null;
  private port: number;
  private address: string;
  private restartTimer: NodeJS.Timeout | null = null;
  private stderrTail = '';
  /** Serialises start/stop/restart so two admins clicking at once cannot spawn two daemons. */
  private op: Promise<unknown> = Promise.resolve();
  readonly statusChanges = new Subject<DaemonStatusDto>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.paths = daemonPaths(config.dataDir);
    this.port = config.rsyncPort;
    this.address = config.rsyncAddress;
  }

  status(): DaemonStatusDto {
    return {
      state: this.state,
      pid: this.child?.pid ?? null,
      port: this.port,
      address: this.address,
      version: this.version,
      uptimeSeconds: this.state === 'running' && this.startedAt ? Math.floor((Date.now() - this.startedAt.getTime()) / 1000) : null,
      startedAt: this.state === 'running' && this.startedAt ? this.startedAt.toISOString() : null,
      restarts: this.restarts,
      lastExit: this.lastExit,
      lastError: this.lastError,
      runningAsRoot: process.getuid?.() === 0,
      storageRoots: this.config.storageRoots,
    };
  }

  /** Records a problem found outside the supervisor (e.g. the config could not be written) unless one is shown. */
  noteError(message: string): void {
    if (!this.lastError) this.lastError = message;
    this.statusChanges.next(this.status());
  }

  /** Port and address come from the daemon settings; a change takes effect on the next (re)start. */
  setListen(port: number, address: string): boolean {
    const changed = port !== this.port || address !== this.address;
    this.port = port;
    this.address = address;
    return changed;
  }

  start(): Promise<DaemonStatusDto> {
    return this.serialise(async () => {
      this.wanted = true;
      this.consecutiveFailures = 0;
      if (this.child) return this.status();
      await this.spawnDaemon();
      return this.status();
    });
  }

  stop(): Promise<DaemonStatusDto> {
    return this.serialise(async () => {
      this.wanted = false;
      await this.killDaemon();
      this.setState('stopped');
      return this.status();
    });
  }

  restart(): Promise<DaemonStatusDto> {
    return this.serialise(async () => {
      this.wanted = true;
      this.consecutiveFailures = 0;
      await this.killDaemon();
      await this.spawnDaemon();
      return this.status();
    });
  }

  /** Restarts only when running or wanted (used when a setting that the daemon reads at start changes). */
  async restartIfWanted(): Promise<void> {
    if (this.wanted) await this.restart();
  }

  async onApplicationShutdown(): Promise<void> {
    this.wanted = false;
    await this.killDaemon();
    this.statusChanges.complete();
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.op.then(fn);
    this.op = run.catch(() => undefined);
    return run;
  }

  private setState(state: DaemonState): void {
    this.state = state;
    this.statusChanges.next(this.status());
  }

  /** Runs before every spawn (first start and restarts); a subclass may move the listen socket here. */
  protected async prepareSpawn(): Promise<void> {}

  private async spawnDaemon(): Promise<void> {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    await this.prepareSpawn();
    const probe = await probeRsync(this.config.rsyncBinary);
    this.version = probe.version;
    if (!probe.ok) {
      this.lastError = probe.error;
      this.wanted = false;
      this.logger.error(probe.error);
      this.setState('stopped');
      return;
    }
    if (!fs.existsSync(this.paths.configFile)) {
      this.lastError = `no generated config at ${this.paths.configFile}`;
      this.setState('stopped');
      return;
    }
    this.killStaleDaemon();
    if (await canConnect(probeHost(this.address), this.port)) {
      // Someone else owns the port; spawning would only fail to bind, and probing would be fooled by the other process.
      this.lastError = `port ${this.port} on ${this.address} is already in use by another process`;
      this.logger.error(this.lastError);
      this.setState('crashed');
      this.scheduleRestart();
      return;
    }
    this.setState('starting');
    this.stderrTail = '';
    const args = [
      '--daemon',
      '--no-detach',
      `--config=${this.paths.configFile}`,
      `--port=${this.port}`,
      `--address=${this.address}`,
    ];
    // A minimal environment: the daemon expands %VAR% in its config, so nothing of ours may leak into it.
    const child = spawn(this.config.rsyncBinary, args, {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TZ: 'UTC', LANG: 'C.UTF-8' },
    });
    this.child = child;
    this.startedAt = new Date();
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    child.once('error', (err) => {
      this.lastError = `cannot start rsync: ${err.message}`;
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.child !== child) return; // it exited while starting; onExit recorded why
      // From /proc, not by connecting: a probe connection would be logged by the daemon as a failed session.
      const listening = processListensOn(child.pid ?? -1, this.port) ?? (await canConnect(probeHost(this.address), this.port));
      if (listening) {
        this.lastError = null;
        this.logger.log(`rsync daemon ${this.version} running (pid ${child.pid}) on ${this.address}:${this.port}`);
        this.setState('running');
        return;
      }
      await sleep(50);
    }
    this.lastError = `rsync daemon did not accept connections on ${this.address}:${this.port} within ${READY_TIMEOUT_MS / 1000}s`;
    this.logger.error(this.lastError);
    await this.killDaemon();
    this.setState('crashed');
    this.scheduleRestart();
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    this.lastExit = { code, signal, at: new Date().toISOString() };
    const uptime = this.startedAt ? Date.now() - this.startedAt.getTime() : 0;
    if (!this.wanted) {
      this.setState('stopped');
      return;
    }
    const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
    const detail = (this.stderrTail.trim() || this.logTailOf(child.pid)).split('\n').slice(-3).join(' | ');
    this.lastError = `rsync daemon ${why}${detail ? `: ${detail}` : ''}`;
    this.logger.error(this.lastError);
    if (uptime > STABLE_AFTER_MS) this.consecutiveFailures = 0;
    this.setState('crashed');
    this.scheduleRestart();
  }

  /** The daemon logs to its log file, not stderr: its last words about this pid say why it stopped. */
  private logTailOf(pid: number | undefined): string {
    try {
      const fd = fs.openSync(this.paths.logFile, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const length = Math.min(size, 8192);
        const buf = Buffer.alloc(length);
        fs.readSync(fd, buf, 0, length, size - length);
        const marker = `[${pid}] `;
        return buf
          .toString('utf8')
          .split('\n')
          .filter((l) => l.includes(marker))
          .map((l) => l.slice(l.indexOf(marker) + marker.length))
          .join('\n');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return '';
    }
  }

  private scheduleRestart(): void {
    if (!this.wanted || this.restartTimer) return;
    const delay = BACKOFF_MS[Math.min(this.consecutiveFailures, BACKOFF_MS.length - 1)]!;
    this.consecutiveFailures++;
    this.logger.warn(`restarting the rsync daemon in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.serialise(async () => {
        if (!this.wanted || this.child) return;
        this.restarts++;
        await this.spawnDaemon();
      });
    }, delay);
  }

  private async killDaemon(): Promise<void> {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    const child = this.child;
    if (!child || child.pid === undefined) return;
    this.child = null;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    // The negative pid signals the whole group: the daemon and every per-connection child it forked.
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    signalGroup('SIGKILL'); // connection children that ignored SIGTERM
    this.lastExit = { code: child.exitCode, signal: child.signalCode, at: new Date().toISOString() };
    fs.rmSync(this.paths.pidFile, { force: true });
  }

  /**
   * A server killed with SIGKILL leaves its daemon running and holding the port. If the pid file names a live rsync
   * using our config, it is ours: stop it so the new one can bind.
   */
  private killStaleDaemon(): void {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.paths.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    if (Number.isInteger(pid) && pid > 1) {
      try {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmdline.includes('--daemon') && cmdline.includes(this.paths.configFile)) {
          this.logger.warn(`stopping a daemon left over from a previous run (pid ${pid})`);
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            process.kill(pid, 'SIGKILL');
          }
        }
      } catch {
        /* not running */
      }
    }
    fs.rmSync(this.paths.pidFile, { force: true });
  }
}
