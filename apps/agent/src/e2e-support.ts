/**
 * Test helpers (not shipped behaviour): real rsync daemons on 127.0.0.1, tree comparison, polling with a deadline.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import { decodePath, encodePath } from './path-bytes';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rsynchub-agent-${prefix}-`));
}

export interface DaemonOptions {
  /** With auth: `auth users` + a 0600 secrets file; the client password file is written too. */
  auth?: { user: string; password: string };
  port?: number;
  dir?: string;
}

/** A real `rsync --daemon --no-detach` serving one module "m". */
export class RsyncDaemon {
  proc: ChildProcess | null = null;
  readonly dir: string;
  readonly moduleDir: string;
  port = 0;
  passwordFile?: string;
  readonly module = 'm';

  constructor(private readonly opts: DaemonOptions = {}) {
    this.dir = opts.dir ?? tmpDir('daemon');
    this.moduleDir = path.join(this.dir, 'module');
    fs.mkdirSync(this.moduleDir, { recursive: true });
  }

  async start(): Promise<this> {
    if (!this.port) this.port = this.opts.port ?? (await freePort());
    const conf = [
      `pid file = ${path.join(this.dir, 'rsyncd.pid')}`,
      'use chroot = no',
      'uid = root',
      'gid = root',
      `log file = ${path.join(this.dir, 'rsyncd.log')}`,
      `[${this.module}]`,
      `path = ${this.moduleDir}`,
      'read only = no',
      // Without chroot the daemon munges symlinks by default; RsyncHub modules store them verbatim.
      'munge symlinks = no',
    ];
    if (this.opts.auth) {
      const secrets = path.join(this.dir, 'rsyncd.secrets');
      fs.writeFileSync(secrets, `${this.opts.auth.user}:${this.opts.auth.password}\n`, { mode: 0o600 });
      this.passwordFile = path.join(this.dir, 'client.pass');
      fs.writeFileSync(this.passwordFile, `${this.opts.auth.password}\n`, { mode: 0o600 });
      conf.push(`auth users = ${this.opts.auth.user}`, `secrets file = ${secrets}`);
    }
    const confFile = path.join(this.dir, 'rsyncd.conf');
    fs.writeFileSync(confFile, conf.join('\n') + '\n', { mode: 0o600 });
    try {
      fs.unlinkSync(path.join(this.dir, 'rsyncd.pid'));
    } catch {
      // first start
    }
    this.proc = spawn('rsync', ['--daemon', '--no-detach', '--address=127.0.0.1', `--port=${this.port}`, `--config=${confFile}`], {
      stdio: 'ignore',
    });
    const exited = new Promise<never>((_, reject) => this.proc!.once('exit', (c) => reject(new Error(`rsync daemon exited (${c})`))));
    await Promise.race([waitForPort(this.port, 5000), exited]);
    return this;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
    // The daemon's forked per-connection children may linger briefly; the port is free once the listener is gone.
  }

  /** Stops the daemon and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not listening after ${timeoutMs}ms`);
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface TreeEntry {
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  mtimeSec: number;
  content?: string;
}

/** Snapshot of a tree: relative path -> type, mode, mtime (seconds: rsync's default precision here), content hash. */
export function snapshotTree(root: string, opts: { includeRootMtime?: boolean } = {}): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  // Names are bytes (not all are UTF-8): walk with Buffer paths, key entries by their lossless decoding.
  const walk = (rel: string) => {
    const abs = encodePath(path.join(root, rel));
    const st = fs.lstatSync(abs);
    const e: TreeEntry = {
      type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file',
      mode: st.mode & 0o7777,
      mtimeSec: Math.floor(st.mtimeMs / 1000),
    };
    if (e.type === 'file') e.content = fs.readFileSync(abs).toString('base64');
    if (e.type === 'symlink') e.content = fs.readlinkSync(abs, { encoding: 'buffer' }).toString('base64');
    if (rel !== '' || opts.includeRootMtime) out.set(rel || '.', e);
    if (e.type === 'dir') {
      for (const name of fs.readdirSync(abs, { encoding: 'buffer' }).map(decodePath).sort()) walk(rel ? `${rel}/${name}` : name);
    }
  };
  walk('');
  return out;
}

/** Differences between two trees, as readable lines (empty when equal). */
export function diffTrees(a: string, b: string, opts: { includeRootMtime?: boolean } = {}): string[] {
  const sa = snapshotTree(a, opts);
  const sb = snapshotTree(b, opts);
  const diffs: string[] = [];
  for (const [p, ea] of sa) {
    const eb = sb.get(p);
    if (!eb) diffs.push(`missing on target: ${p}`);
    else {
      if (ea.type !== eb.type) diffs.push(`${p}: type ${ea.type} != ${eb.type}`);
      if (ea.mode !== eb.mode) diffs.push(`${p}: mode ${ea.mode.toString(8)} != ${eb.mode.toString(8)}`);
      if (ea.type !== 'symlink' && ea.mtimeSec !== eb.mtimeSec) diffs.push(`${p}: mtime ${ea.mtimeSec} != ${eb.mtimeSec}`);
      if (ea.content !== eb.content) diffs.push(`${p}: content differs`);
    }
  }
  for (const p of sb.keys()) if (!sa.has(p)) diffs.push(`extra on target: ${p}`);
  return diffs;
}

/** Polls until fn returns true or the deadline passes; then throws with the last detail. */
export async function waitUntil(fn: () => boolean | string[] | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    let r: boolean | string[];
    try {
      r = await fn();
    } catch (e) {
      // e.g. an rsync temp file vanished while the tree was walked: not converged yet
      r = [`error: ${(e as Error).message}`];
    }
    if (r === true || (Array.isArray(r) && r.length === 0)) return;
    last = r;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${Array.isArray(last) ? `:\n  ${last.slice(0, 20).join('\n  ')}` : ''}`);
    }
    await sleep(100);
  }
}

/** Waits until every target tree equals the source (the root's own mtime included). */
export async function waitConverged(src: string, targets: string[], what: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(
    () => targets.flatMap((t) => diffTrees(src, t, { includeRootMtime: true }).map((d) => `${path.basename(path.dirname(t))}: ${d}`)),
    what,
    timeoutMs,
  );
}

/** A process's /proc/PID/stat fields after the command name (state ppid pgrp session ...), or null when gone. */
export function procStat(pid: number): string[] | null {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The process state letter of pid ('R', 'S', 'T', 'Z', ...), or null when there is no such process. */
export function procState(pid: number): string | null {
  return procStat(pid)?.[0] ?? null;
}

/** The process exists and has not ended (a zombie or a dead task is not alive). */
export function alive(pid: number): boolean {
  const state = procState(pid);
  return state !== null && state !== 'Z' && state !== 'X';
}

export function parentOf(pid: number): number | null {
  const f = procStat(pid);
  return f ? Number(f[1]) : null;
}

/** Live processes in process group `pgid` (a standby's rsync, its connect fork and the gate share it). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = procStat(Number(d));
    if (f && f[0] !== 'Z' && f[0] !== 'X' && Number(f[2]) === pgid) out.push(Number(d));
  }
  return out;
}
