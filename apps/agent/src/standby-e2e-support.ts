/**
 * Shared set-up of the warm-standby e2e tests (warm-standby.e2e, warm-standby-launcher.e2e): one real rsync daemon
 * with auth, one agent process per test started on a fresh module directory, and readers of what the agent reports
 * (state.json, its "rsync run" log lines) and of the processes a standby leaves in /proc.
 */
import { after, afterEach, before } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import type { AgentState } from './agent';
import type { TargetStats } from './target-queue';
import { RsyncDaemon, tmpDir, waitUntil } from './e2e-support';

/** The agent's CLI entry point (dist/main.js). */
export const AGENT_MAIN = path.join(__dirname, 'main.js');

export interface StandbyRun {
  src: string;
  stateDir: string;
  configFile: string;
}

export interface RunLine {
  warm: boolean;
  standbyStartedAt?: string;
  code: number | null;
  paths?: number;
}

export class StandbyHarness {
  work = '';
  daemon!: RsyncDaemon;
  /** Everything the current agent wrote to stdout and stderr. */
  output = '';
  private proc: ChildProcess | null = null;
  private n = 0;

  /** Registers the file's before/afterEach/after hooks: a daemon for the file, every agent killed after its test. */
  constructor(name: string, password: string, private readonly baseEnv: NodeJS.ProcessEnv = {}) {
    before(async () => {
      this.work = tmpDir(name);
      this.daemon = await new RsyncDaemon({ auth: { user: 'syncer', password } }).start();
    });
    afterEach(async () => {
      if (process.env.AGENT_TEST_LOG) fs.appendFileSync(process.env.AGENT_TEST_LOG, this.output);
      await this.stopAgent('SIGKILL');
    });
    after(async () => {
      await this.daemon?.destroy();
      fs.rmSync(this.work, { recursive: true, force: true });
    });
  }

  setup(extra: string[] = []): StandbyRun {
    const dir = path.join(this.work, `run${++this.n}`);
    const src = path.join(dir, 'src');
    fs.mkdirSync(src, { recursive: true });
    const configFile = path.join(dir, 'agent.yaml');
    fs.writeFileSync(configFile, [
      'watches:',
      `  - path: ${src}`,
      '    remotes:',
      `      - { host: 127.0.0.1, port: ${this.daemon.port}, module: m, user: syncer, passwordFile: ${this.daemon.passwordFile} }`,
      'batchDelayMs: 0',
      'logLevel: debug',
      'verify: { intervalSec: 0 }',
      'retry: { initialDelayMs: 200, maxDelayMs: 1000 }',
      ...extra,
      '',
    ].join('\n'));
    // A fresh module directory per run: every test compares its own source with it.
    fs.rmSync(this.daemon.moduleDir, { recursive: true, force: true });
    fs.mkdirSync(this.daemon.moduleDir, { recursive: true });
    return { src, stateDir: path.join(dir, 'state'), configFile };
  }

  startAgent(r: StandbyRun, opts: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    this.output = '';
    const child = spawn(process.execPath, [AGENT_MAIN, 'run', '--config', r.configFile, '--state-dir', r.stateDir, ...(opts.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.baseEnv, ...opts.env },
    });
    child.stdout!.on('data', (d) => (this.output += d));
    child.stderr!.on('data', (d) => (this.output += d));
    this.proc = child;
    return child;
  }

  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }

  state(r: StandbyRun): AgentState | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(r.stateDir, 'state.json'), 'utf8')) as AgentState;
    } catch {
      return null;
    }
  }

  target(r: StandbyRun): TargetStats | undefined {
    return this.state(r)?.targets[0];
  }

  /** A waiting standby (other than `not`): its pid, start time and how it was started. */
  async readyStandby(r: StandbyRun, not?: number): Promise<{ pid: number; readyAt: number; via: string | null }> {
    let got: { pid: number; readyAt: number; via: string | null } | undefined;
    await waitUntil(() => {
      const w = this.target(r)?.warmStandby;
      if (!w?.pid || !w.readyAt || w.pid === not) return false;
      got = { pid: w.pid, readyAt: Date.parse(w.readyAt), via: w.via };
      return true;
    }, 'a warm standby waiting', 20_000);
    return got!;
  }

  /** The agent's rsync launcher, once its state names it. */
  async launcherPid(r: StandbyRun): Promise<number> {
    await waitUntil(() => this.state(r)?.rsyncLauncherPid !== undefined, 'the launcher\'s pid in the state');
    return this.state(r)!.rsyncLauncherPid!;
  }

  runLines(): RunLine[] {
    return this.output.split('\n').filter((l) => l.includes('"msg":"rsync run"')).map((l) => JSON.parse(l) as RunLine);
  }

  daemonConnects(): number {
    try {
      return fs.readFileSync(path.join(this.daemon.dir, 'rsyncd.log'), 'utf8').split('\n').filter((l) => / connect from /.test(l)).length;
    } catch {
      return 0;
    }
  }
}
