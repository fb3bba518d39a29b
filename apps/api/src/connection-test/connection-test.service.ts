import { spawn } from 'node:child_process';
import { HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { TestConnectionRequest, TestConnectionResult } from '@rsynchub/contracts';
import { ValidationFailed } from '../common/errors';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { OwnProbes } from '../bans/own-probes';
import { DaemonService } from '../daemon/daemon.service';
import { ModulesService } from '../modules/modules.service';
import { RsyncUsersService } from '../rsync-users/rsync-users.service';
import { classifyRsyncFailure } from './classify-rsync-failure';

const RUN_TIMEOUT_MS = 30_000;
/** Tests running at once; more get 429 (each one is an rsync process and a daemon connection). */
export const MAX_CONCURRENT_TESTS = 4;
const MAX_OUTPUT = 64 * 1024;
/** The login name rsync sends when the test has no user (it takes $USER). */
const PROBE_LOGIN_NAME = 'rsynchub-test';

/** Address the server's own client dials: the daemon's bind address, or loopback when it listens on all of them. */
export function daemonDialAddress(bound: string): string {
  if (bound === '' || bound === '0.0.0.0') return '127.0.0.1';
  if (bound === '::') return '::1';
  return bound;
}

/**
 * "Test connection": the server runs the real rsync client against its own daemon (`rsync --list-only` of the
 * module's top level) with the chosen user's stored password, and says what failed. It proves the module, the user's
 * grant and password; it cannot prove the network path from a source host (hosts allow is checked for this server).
 */
@Injectable()
export class ConnectionTestService {
  constructor(
    private readonly modules: ModulesService,
    private readonly users: RsyncUsersService,
    private readonly daemon: DaemonService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ownProbes: OwnProbes,
  ) {}

  private running = 0;

  async test(moduleName: string, req: TestConnectionRequest): Promise<TestConnectionResult> {
    if (this.running >= MAX_CONCURRENT_TESTS) {
      throw new HttpException(`${MAX_CONCURRENT_TESTS} connection tests are already running; try again in a moment`, HttpStatus.TOO_MANY_REQUESTS);
    }
    this.running++;
    try {
      return await this.testNow(moduleName, req);
    } finally {
      this.running--;
    }
  }

  private async testNow(moduleName: string, req: TestConnectionRequest): Promise<TestConnectionResult> {
    const module = await this.modules.get(moduleName); // 404 for an unknown module
    const user = req.user === undefined || req.user === null || req.user === '' ? null : req.user;
    let password = '';
    if (user !== null) {
      const stored = await this.users.passwordOf(user);
      if (stored === null) throw new ValidationFailed([{ field: 'user', message: `no rsync user named "${user}"` }]);
      password = stored;
    }
    const status = this.daemon.status();
    const host = daemonDialAddress(status.address);
    const url = `rsync://${user ? `${user}@` : ''}${host.includes(':') ? `[${host}]` : host}:${status.port}/${module.name}/`;
    const command = `rsync --list-only ${url}`;
    if (status.state !== 'running') {
      return { ok: false, command, problem: 'daemon_not_running', message: `the rsync daemon is ${status.state}; start it on the Daemon page`, exitCode: null, output: '' };
    }
    // Bound to the address it dials, so the daemon logs exactly the address announced to the ban rule.
    const ended = this.ownProbes.expect(host, module.name, user ?? PROBE_LOGIN_NAME);
    let run: Awaited<ReturnType<ConnectionTestService['runRsync']>>;
    try {
      run = await this.runRsync(['--list-only', '--no-motd', '--contimeout=10', '--timeout=20', `--address=${host}`, url], password);
    } finally {
      ended();
    }
    const output = (run.code === 0 ? run.stdout : run.stderr).split('\n').slice(0, 20).join('\n').slice(0, 2000);
    if (run.code === 0) {
      const entries = run.stdout.split('\n').filter((l) => l.trim() !== '').length;
      return { ok: true, command, problem: null, message: `connected as ${user ?? 'anonymous'} and listed ${entries} entr${entries === 1 ? 'y' : 'ies'} at the top of "${module.name}"`, exitCode: 0, output };
    }
    const failure = classifyRsyncFailure(run.code, run.stderr, { user, module: module.name, from: `this server (${host})` });
    return { ok: false, command, problem: failure.problem, message: failure.message, exitCode: run.code, output };
  }

  private runRsync(args: string[], password: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      // The password goes through the environment, never argv (visible in ps) or a file; stdin is closed so rsync
      // can never wait for a typed password.
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', RSYNC_PASSWORD: password, USER: PROBE_LOGIN_NAME, LANG: 'C' };
      const child = spawn(this.config.rsyncBinary, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let stdout = '';
      let stderr = '';
      const take = (buf: string, chunk: Buffer) => (buf.length < MAX_OUTPUT ? buf + chunk.toString('utf8') : buf);
      child.stdout.on('data', (c: Buffer) => (stdout = take(stdout, c)));
      child.stderr.on('data', (c: Buffer) => (stderr = take(stderr, c)));
      const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ code: null, stdout, stderr: `${stderr}${err.message}` });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: signal ? 35 : code, stdout, stderr: signal ? `${stderr}\nrsync timed out` : stderr });
      });
    });
  }
}
