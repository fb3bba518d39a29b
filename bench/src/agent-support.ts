/**
 * Process and tree plumbing for the source-agent benchmark (bench/src/agent.ts): a bare rsync daemon, process groups
 * that are killed even when the benchmark dies, a /proc poller that counts a contender's rsync children, and the
 * deterministic burst tree.
 */
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { rsync, sleep } from '@rsynchub/testing';

/** Every process group we started, so an exit (normal, error or signal) never leaves daemons behind. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pgid of liveGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`\nbench: ${sig}, killing started processes`);
      process.exit(130); // the exit hook above kills the groups
    });
  }
}

/** A child in its own process group (detached), so killing the group also ends the rsync processes it spawned. */
export function spawnGroup(cmd: string, args: string[], opts: SpawnOptions & { logFile?: string } = {}): ChildProcess {
  installExitHook();
  let stdio: SpawnOptions['stdio'] = 'ignore';
  let fd: number | undefined;
  if (opts.logFile) {
    fd = fs.openSync(opts.logFile, 'a');
    stdio = ['ignore', fd, fd];
  }
  const child = spawn(cmd, args, { ...opts, stdio, detached: true });
  if (fd !== undefined) fs.closeSync(fd);
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
  // Listed until stopGroup: after the leader exits, its group may still hold children.
  liveGroups.add(child.pid);
  return child;
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Stops a child: `signal` to the leader (a clean stop for the agent), then SIGKILL to the whole group after the grace
 * period, and SIGKILL to the group anyway so nothing it spawned outlives it.
 */
export async function stopGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  const pid = child.pid!;
  if (child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
    if (!(await exited(child, graceMs))) console.error(`bench: pid ${pid} ignored ${signal} for ${graceMs} ms; killing its group`);
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // group empty
  }
  await exited(child, 5000);
  liveGroups.delete(pid);
}

/** A bare `rsync --daemon --no-detach` on 127.0.0.1 with one writable anonymous module per name. */
export interface BareDaemon {
  port: number;
  pid: number;
  moduleDir(name: string): string;
  stop(): Promise<void>;
}

export async function startBareDaemon(dir: string, port: number, modules: string[]): Promise<BareDaemon> {
  const root = process.getuid?.() === 0;
  const conf = [
    `pid file = ${path.join(dir, 'rsyncd.pid')}`,
    'use chroot = no',
    // As root the daemon would otherwise drop to nobody and fail to write root-owned module dirs.
    ...(root ? ['uid = root', 'gid = root'] : []),
    'munge symlinks = no',
    // transfer logging stays off (the default): the benchmark measures the contenders, not the daemon's log
    `log file = ${path.join(dir, 'rsyncd.log')}`,
  ];
  for (const m of modules) {
    const p = path.join(dir, 'modules', m);
    fs.mkdirSync(p, { recursive: true });
    conf.push(`[${m}]`, `path = ${p}`, 'read only = no');
  }
  const confFile = path.join(dir, 'rsyncd.conf');
  fs.writeFileSync(confFile, conf.join('\n') + '\n', { mode: 0o600 });
  const proc = spawnGroup('rsync', ['--daemon', '--no-detach', '--address=127.0.0.1', `--port=${port}`, `--config=${confFile}`]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`rsync daemon exited with ${proc.exitCode}; see ${dir}/rsyncd.log`);
    if ((await rsync([`rsync://127.0.0.1:${port}/`])).code === 0) break;
    if (Date.now() > deadline) {
      await stopGroup(proc);
      throw new Error(`rsync daemon on 127.0.0.1:${port} not answering after 10 s`);
    }
    await sleep(50);
  }
  return {
    port,
    pid: proc.pid!,
    moduleDir: (name) => path.join(dir, 'modules', name),
    stop: () => stopGroup(proc),
  };
}

/**
 * Polls /proc for the direct children of one process (all its threads: /proc/PID/task/TID/children) that run rsync,
 * and those of its rsync launcher (the agent's rsynchub-spawn).
 * Counts distinct processes (pid + start time, so a reused pid is a new process) and remembers when one was last
 * seen, which tells when the contender is idle. A process shorter than the poll interval can be missed, so the count
 * is a lower bound.
 */
export class RsyncChildTracker {
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  active = 0;
  lastActiveAt = 0;

  constructor(private readonly pid: number, private readonly intervalMs = 5) {}

  start(): this {
    this.poll();
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** rsync processes seen since start. */
  get total(): number {
    return this.seen.size;
  }

  poll(): void {
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${this.pid}/task`);
    } catch {
      this.active = 0;
      return;
    }
    let active = 0;
    // The agent starts rsync through its launcher (rsynchub-spawn): its children count as the agent's.
    const owners = tasks.map((tid) => `/proc/${this.pid}/task/${tid}/children`);
    for (let i = 0; i < owners.length; i++) {
      let children: string;
      try {
        children = fs.readFileSync(owners[i], 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(' ')) {
        if (!c) continue;
        let stat: string;
        try {
          stat = fs.readFileSync(`/proc/${c}/stat`, 'utf8');
        } catch {
          continue;
        }
        // "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'
        const open = stat.indexOf('(');
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(open + 1, close);
        if (comm === 'rsynchub-spawn' && i < tasks.length) owners.push(`/proc/${c}/task/${c}/children`);
        if (comm !== 'rsync') continue;
        const startTime = stat.slice(close + 2).split(' ')[19]; // field 22 of stat, 20th after comm
        this.seen.add(`${c}:${startTime}`);
        active++;
      }
    }
    this.active = active;
    if (active > 0) this.lastActiveAt = performance.now();
  }

  /** Resolves once no rsync child has been seen for quietMs; throws after timeoutMs. */
  async waitIdle(quietMs: number, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      this.poll();
      if (this.active === 0 && performance.now() - this.lastActiveAt >= quietMs) return;
      if (performance.now() > deadline) throw new Error(`${what}: still running rsync after ${timeoutMs} ms`);
      await sleep(Math.min(20, quietMs));
    }
  }
}

/** The burst tree: `burst/dNNN/fNN.txt`, 50 files a directory, about 100 bytes each, same content for every run. */
export function burstLayout(total: number, perDir = 50): { rel: string; dir: string; content: Buffer }[] {
  const out: { rel: string; dir: string; content: Buffer }[] = [];
  for (let i = 0; i < total; i++) {
    const dir = `burst/d${String(Math.floor(i / perDir)).padStart(3, '0')}`;
    const rel = `${dir}/f${String(i % perDir).padStart(2, '0')}.txt`;
    const head = `burst file ${i} ${rel} `;
    out.push({ rel, dir, content: Buffer.from(head.padEnd(99, '.') + '\n') });
  }
  return out;
}

/** Writes the burst as fast as plain sync calls allow (mkdir, then open/write/close per file). */
export function writeBurst(root: string, layout: ReturnType<typeof burstLayout>): void {
  let lastDir = '';
  for (const f of layout) {
    if (f.dir !== lastDir) {
      fs.mkdirSync(path.join(root, f.dir), { recursive: true });
      lastDir = f.dir;
    }
    fs.writeFileSync(path.join(root, f.rel), f.content);
  }
}

/** Regular files under root/burst whose names are final (rsync's in-flight temp files start with a dot). */
export function countBurstFiles(root: string): number {
  let n = 0;
  let dirs: string[];
  try {
    dirs = fs.readdirSync(path.join(root, 'burst'));
  } catch {
    return 0;
  }
  for (const d of dirs) {
    if (d.startsWith('.')) continue;
    try {
      for (const f of fs.readdirSync(path.join(root, 'burst', d))) if (!f.startsWith('.')) n++;
    } catch {
      // a directory still being created
    }
  }
  return n;
}

/** Differences between the expected burst and root/burst: missing, wrong content, extra (empty when identical). */
export function burstDiffs(root: string, layout: ReturnType<typeof burstLayout>, sample?: number): string[] {
  const diffs: string[] = [];
  const pick = sample === undefined ? layout : Array.from({ length: sample }, (_, i) => layout[Math.floor((i * layout.length) / sample)]!);
  for (const f of pick) {
    let got: Buffer;
    try {
      got = fs.readFileSync(path.join(root, f.rel));
    } catch {
      diffs.push(`missing ${f.rel}`);
      continue;
    }
    if (!got.equals(f.content)) diffs.push(`content differs: ${f.rel}`);
  }
  if (sample === undefined) {
    const expected = new Set(layout.map((f) => f.rel));
    const dirs = new Set(layout.map((f) => f.dir));
    for (const d of fs.readdirSync(path.join(root, 'burst'))) {
      if (!dirs.has(`burst/${d}`)) {
        diffs.push(`extra burst/${d}`);
        continue;
      }
      for (const f of fs.readdirSync(path.join(root, 'burst', d))) if (!expected.has(`burst/${d}/${f}`)) diffs.push(`extra burst/${d}/${f}`);
    }
  }
  return diffs;
}

export function emptyDir(dir: string): void {
  for (const e of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

/** Epoch milliseconds with sub-millisecond resolution, comparable between the main thread and workers. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Runs the burst writer in a worker thread; resolves with when the first write started and the last one ended. */
export async function writeBurstInWorker(root: string, total: number): Promise<{ startMs: number; endMs: number }> {
  const worker = new Worker(path.join(__dirname, 'agent-writer.js'), { workerData: { root, total } });
  try {
    const next = () => new Promise<Record<string, number>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await next(); // loaded and layout built: the clock starts with the first write, not with the worker's start
    const done = next();
    worker.postMessage('go');
    const r = await done;
    return { startMs: r.startMs!, endMs: r.endMs! };
  } finally {
    await worker.terminate();
  }
}

/** CPU seconds of a process from /proc/PID/stat: its own, and that of its children it has waited for. */
export function cpuSeconds(pid: number): { self: number; children: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after comm: state(0) ... utime(11) stime(12) cutime(13) cstime(14), in clock ticks (USER_HZ = 100 on Linux)
    const tick = (i: number) => Number(f[i]) / 100;
    return { self: tick(11) + tick(12), children: tick(13) + tick(14) };
  } catch {
    return { self: NaN, children: NaN };
  }
}
