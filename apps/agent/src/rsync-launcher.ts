/**
 * How the agent starts rsync processes: through its native launcher (native/rsynchub-spawn.c, compiled by the agent
 * build into dist/), started once and asked over a socket to posix_spawn each run, or with node's child_process.spawn.
 *
 * Why the launcher: node's spawn forks the whole agent process and blocks the event loop 6-8 ms per run under load,
 * most of what a single edit lost to lsyncd; posix_spawn from the launcher's small process costs well under 1 ms and
 * the agent does not wait for it. Node's spawn stays the fallback: when the launcher is not built (not Linux, no C
 * compiler), when RSYNCHUB_AGENT_SPAWN=node, and for a run in flight when the launcher dies (it is run again).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';

/** What one run needs started. */
export interface LaunchRequest {
  exe: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Bytes for rsync's stdin (a pipe, then closed); null: stdin is /dev/null. */
  stdin: Buffer | null;
}

/** A run's events. onPid comes before any other; for a gated start (TLS) rsync execs only after onPid returned. */
export interface RunHandlers {
  onPid?(pid: number): void;
  onStdout(d: Buffer): void;
  onStderr(d: Buffer): void;
  /** It could not be started; nothing else follows. */
  onError(e: Error): void;
  onClose(code: number | null, signal: NodeJS.Signals | null): void;
  /**
   * The launcher died during the run: its rsync (if any) was killed and is gone; no other event follows. The caller
   * runs it again (with node's spawn: the launcher's state is unknown).
   */
  onLost?(why: string): void;
}

export interface RunHandle {
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
}

/** Where the agent build puts the launcher (next to this file in dist/). RSYNCHUB_AGENT_SPAWN_HELPER overrides it. */
export function launcherPath(): string {
  return process.env.RSYNCHUB_AGENT_SPAWN_HELPER || path.join(__dirname, 'rsynchub-spawn');
}

// ---- protocol (see the comment at the top of rsynchub-spawn.c) ----

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function str(s: string): Buffer[] {
  const b = Buffer.from(s, 'utf8');
  return [u32(b.length), b];
}

/** The environment as node's spawn passes it: KEY=value for every defined value. */
export function envList(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
}

/** Flags of a standby's 'S' (a warm standby, warm-standby.ts): stdin held open until 'R', and a go pipe as fd 3. */
export const STANDBY_FLAGS = 4 | 8;

/**
 * An 'S' frame. flags: 1 = stdin is a pipe fed with req.stdin; 2 = gated (exec after 'G'); standby: 4 | 8 (stdin held
 * open until 'R', go pipe as the child's fd 3).
 */
export function encodeSpawn(id: number, req: LaunchRequest, gated: boolean, standby = false): Buffer {
  const env = envList(req.env);
  const flags = standby ? STANDBY_FLAGS : (req.stdin ? 1 : 0) | (gated ? 2 : 0);
  const parts: Buffer[] = [Buffer.from('S'), u32(id), u32(flags), ...str(req.exe), ...str(req.cwd),
    u32(req.args.length + 1), ...str(req.exe), ...req.args.flatMap(str), u32(env.length), ...env.flatMap(str),
    u32(req.stdin?.length ?? 0), ...(req.stdin ? [req.stdin] : [])];
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
}

export function encodeKill(id: number, signal: number): Buffer {
  return Buffer.concat([u32(9), Buffer.from('K'), u32(id), u32(signal)]);
}

export function encodeGo(id: number): Buffer {
  return Buffer.concat([u32(5), Buffer.from('G'), u32(id)]);
}

/** Bytes of a held stdin go in 'W' frames of at most this many (a path list of any size stays under MAX_REQUEST). */
export const WRITE_CHUNK_BYTES = 1024 * 1024;

/**
 * A standby's release: its path list ('W' frames), then 'R' (stdin closed once written, 'g' on the go pipe), as one
 * buffer, so the agent writes the whole release at once.
 */
export function encodeRelease(id: number, stdin: Buffer | null): Buffer {
  const parts: Buffer[] = [];
  const data = stdin ?? Buffer.alloc(0);
  for (let off = 0; off < data.length; off += WRITE_CHUNK_BYTES) {
    const chunk = data.subarray(off, off + WRITE_CHUNK_BYTES);
    parts.push(u32(5 + chunk.length), Buffer.from('W'), u32(id), chunk);
  }
  parts.push(u32(5), Buffer.from('R'), u32(id));
  return Buffer.concat(parts);
}

/** 'D': a standby is discarded (no 'g'; its go pipe and stdin close; its process group is killed). */
export function encodeDiscard(id: number): Buffer {
  return Buffer.concat([u32(5), Buffer.from('D'), u32(id)]);
}

/** 'A': the run's 'X' or 'F' was read; the launcher may reap its process now (the pid stays taken until then). */
export function encodeAck(id: number): Buffer {
  return Buffer.concat([u32(5), Buffer.from('A'), u32(id)]);
}

/** 'C': start nothing more, exit once the runs in flight have ended and been acknowledged. */
export function encodeClose(): Buffer {
  return Buffer.concat([u32(1), Buffer.from('C')]);
}

/**
 * The largest request the launcher accepts (MAX_REQUEST in rsynchub-spawn.c): a longer frame length is taken for a
 * corrupt stream and ends the launcher instead of making it allocate that much. Larger runs go through node's spawn.
 */
export const MAX_REQUEST_BYTES = 256 * 1024 * 1024;

export interface Reply {
  type: 'P' | 'F' | 'O' | 'E' | 'X';
  id: number;
  /** P: pid; F: errno; X: exit code (-1 when killed by a signal) */
  a?: number;
  /** X: the signal number */
  b?: number;
  /** O / E: the bytes; F: the reason */
  data?: Buffer;
}

/** Splits the launcher's byte stream into replies (a frame may arrive in any number of pieces). */
export class ReplyDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Reply[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Reply[] = [];
    let off = 0;
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUInt32LE(off);
      if (this.buf.length - off - 4 < len) break;
      const f = this.buf.subarray(off + 4, off + 4 + len);
      off += 4 + len;
      const type = String.fromCharCode(f[0]) as Reply['type'];
      const r: Reply = { type, id: f.readUInt32LE(1) };
      if (type === 'P') r.a = f.readUInt32LE(5);
      else if (type === 'X') {
        r.a = f.readInt32LE(5);
        r.b = f.readInt32LE(9);
      } else if (type === 'F') {
        r.a = f.readUInt32LE(5);
        r.data = Buffer.from(f.subarray(9));
      } else r.data = Buffer.from(f.subarray(5));
      out.push(r);
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }
}

function signalName(n: number): NodeJS.Signals | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name as NodeJS.Signals;
  return null;
}

function errnoName(n: number): string {
  for (const [name, num] of Object.entries(osConstants.errno)) if (num === n) return name;
  return `errno ${n}`;
}

/** Whether pid is still a process that is its own session leader (every run's rsync is, see setsid) and not a zombie. */
function runAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp session ...
    return f[0] !== 'Z' && f[0] !== 'X' && Number(f[3]) === pid;
  } catch {
    return false;
  }
}

interface Entry {
  handlers: RunHandlers;
  gated: boolean;
  /** A standby not released yet: it must not keep the agent alive (the socket is referenced for other runs only). */
  held: boolean;
  pid?: number;
  done: boolean;
}

/** A standby started through the launcher (warm-standby.ts): held until release(), or discarded. */
export interface StandbyHandle extends RunHandle {
  /** Writes the path list to its stdin, closes it, and sends the go; false when the launcher is gone (onLost follows). */
  release(stdin: Buffer | null): boolean;
  /** No go: its go pipe and stdin close, its process group is killed. */
  discard(): void;
}

/** One running launcher process and the runs it holds. */
export class Launcher {
  readonly child: ChildProcess;
  private readonly sock: Socket;
  private readonly runs = new Map<number, Entry>();
  private readonly decoder = new ReplyDecoder();
  private nextId = 1;
  /** close() was called: no new runs; the launcher exits once the runs in flight have ended. */
  private closing = false;
  dead = false;
  /** Why it died (for the log). */
  deathReason = '';

  constructor(helper: string, private readonly onDeath: (why: string) => void, private readonly maxRequestBytes = MAX_REQUEST_BYTES) {
    this.child = spawn(helper, [], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
    this.sock = this.child.stdio[3] as Socket;
    this.child.unref();
    this.sock.unref(); // idle, it must not keep the agent alive; referenced while runs are in flight
    this.sock.on('data', (d: Buffer) => {
      for (const r of this.decoder.push(d)) this.dispatch(r);
    });
    this.sock.on('error', (e) => this.die(`control socket: ${e.message}`));
    this.sock.on('close', () => this.die('control socket closed'));
    this.child.on('error', (e) => this.die(e.message));
    this.child.on('exit', (code, signal) => this.die(signal ? `killed by ${signal}` : `exited with ${code}`));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get inFlight(): number {
    return this.runs.size;
  }

  /** Starts a run; null when this launcher cannot take it (closing, or a request over MAX_REQUEST_BYTES). */
  start(req: LaunchRequest, h: RunHandlers, gated: boolean): RunHandle | null {
    return this.begin(req, h, gated, false);
  }

  /**
   * Starts a warm standby: the process runs now with its stdin held open and a go pipe as fd 3 (its connect program
   * waits on it); release() feeds the path list and sends the go. Until then it does not keep the agent alive. null
   * when this launcher cannot take it (closing, dead). req.stdin is ignored (the list comes with release()).
   */
  startStandby(req: LaunchRequest, h: RunHandlers): StandbyHandle | null {
    const base = this.begin({ ...req, stdin: null }, h, false, true);
    if (!base) return null;
    const id = this.nextId - 1;
    const e = this.runs.get(id)!;
    return {
      get pid() {
        return base.pid;
      },
      kill: base.kill,
      release: (stdin) => {
        if (this.dead) return false;
        if (e.done) return true; // ended meanwhile: its 'X' (or 'F') was delivered
        e.held = false;
        this.refresh();
        this.sock.write(encodeRelease(id, stdin));
        return true;
      },
      discard: () => {
        if (e.done || this.dead) return;
        this.sock.write(encodeDiscard(id));
      },
    };
  }

  /** The socket keeps the agent alive while a run (not a held standby) is in flight. */
  private refresh(): void {
    let busy = false;
    for (const e of this.runs.values()) if (!e.held) busy = true;
    if (busy) this.sock.ref();
    else this.sock.unref();
  }

  private begin(req: LaunchRequest, h: RunHandlers, gated: boolean, standby: boolean): RunHandle | null {
    if (this.closing || this.dead) return null;
    const id = this.nextId++;
    const frame = encodeSpawn(id, req, gated, standby);
    if (frame.length - 4 > this.maxRequestBytes) return null;
    const e: Entry = { handlers: h, gated, held: standby, done: false };
    this.runs.set(id, e);
    this.refresh();
    this.sock.write(frame);
    return {
      get pid() {
        return e.pid;
      },
      kill: (signal) => {
        if (e.done || this.dead) return;
        // Directly once the pid is known, so a hung launcher cannot keep a stalled rsync alive; through the launcher
        // before that (it handles requests in order, so after the start). The direct kill cannot reach another
        // process: the launcher reaps a run's process only after our 'A', sent once its 'X' made this run done, so
        // until then the pid is the run's process or its zombie, never a new process's.
        if (e.pid) {
          try {
            process.kill(e.pid, signal);
            return;
          } catch {
            // fall through
          }
        }
        this.sock.write(encodeKill(id, osConstants.signals[signal] ?? osConstants.signals.SIGKILL));
      },
    };
  }

  private finish(id: number): Entry | undefined {
    const e = this.runs.get(id);
    if (!e) return undefined;
    e.done = true;
    this.runs.delete(id);
    this.refresh();
    return e;
  }

  private dispatch(r: Reply): void {
    const e = this.runs.get(r.id);
    if (!e) return;
    switch (r.type) {
      case 'P':
        e.pid = r.a;
        e.handlers.onPid?.(r.a!);
        if (e.gated && !this.dead) this.sock.write(encodeGo(r.id));
        break;
      case 'O':
        e.handlers.onStdout(r.data!);
        break;
      case 'E':
        e.handlers.onStderr(r.data!);
        break;
      case 'F':
        this.finish(r.id);
        this.ack(r.id);
        e.handlers.onError(Object.assign(new Error(`spawn ${errnoName(r.a!)} (${r.data!.toString()})`), { code: errnoName(r.a!) }));
        break;
      case 'X':
        this.finish(r.id);
        this.ack(r.id);
        e.handlers.onClose(r.a! >= 0 ? r.a! : null, r.a! >= 0 ? null : signalName(r.b!));
        break;
    }
  }

  /** The run is done here (done: no direct kill any more): its process may be reaped. */
  private ack(id: number): void {
    if (!this.dead) this.sock.write(encodeAck(id));
  }

  /**
   * Ends the launcher: it starts nothing more, and exits once the runs in flight have ended; they keep going and report
   * as usual (they are not killed, nor run again).
   */
  close(): void {
    if (this.closing || this.dead) return;
    this.closing = true;
    this.sock.write(encodeClose());
  }

  private die(why: string): void {
    if (this.dead) return;
    if (this.closing && this.runs.size === 0) {
      // The exit close() asked for.
      this.dead = true;
      this.sock.destroy();
      return;
    }
    this.dead = true;
    this.deathReason = why;
    this.sock.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    const lost = [...this.runs.values()];
    this.runs.clear();
    this.onDeath(why);
    for (const e of lost) {
      e.done = true;
      // Its rsync is an orphan now, nobody will tell us its exit status: kill it, wait until it is gone, then the caller
      // runs it again. A run whose start had not been reported may still be starting: wait a moment for its pid.
      const pid = e.pid;
      if (pid && runAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      const deadline = Date.now() + 2000;
      const wait = () => {
        if (pid && runAlive(pid) && Date.now() < deadline) setTimeout(wait, 10);
        else e.handlers.onLost ? e.handlers.onLost(`rsync launcher ${why}`) : e.handlers.onError(new Error(`rsync launcher ${why}`));
      };
      wait();
    }
  }
}

// ---- which way this process starts rsync ----

export type SpawnWay = 'launcher' | 'node';

/** Restarts of a dead launcher before the agent stays with node's spawn. */
export const MAX_LAUNCHER_RESTARTS = 3;

interface SpawnState {
  way?: SpawnWay;
  why?: string;
  launcher?: Launcher;
  restarts: number;
  log?: (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void;
}
const state: SpawnState = { restarts: 0 };

/** The way chosen from the environment and the build: RSYNCHUB_AGENT_SPAWN=node forces node's spawn. */
export function chooseSpawnWay(env: NodeJS.ProcessEnv = process.env, helper = launcherPath()): { way: SpawnWay; why: string } {
  if (env.RSYNCHUB_AGENT_SPAWN === 'node') return { way: 'node', why: 'RSYNCHUB_AGENT_SPAWN=node' };
  try {
    fs.accessSync(helper, fs.constants.X_OK);
  } catch {
    return { way: 'node', why: `the rsync launcher ${helper} is not built (not Linux, or no C compiler at build time)` };
  }
  return { way: 'launcher', why: 'posix_spawn from a small helper: the agent\'s event loop does not wait for a fork of itself' };
}

/**
 * Picks the way (once) and starts the launcher now, so the first run does not pay for it; `log` hears the choice once,
 * and later a death of the launcher. Called at agent start; without it the first run decides, silently.
 */
export function prepareRsyncSpawn(log?: SpawnState['log']): { way: SpawnWay; why: string } {
  if (log) state.log = log;
  if (!state.way) {
    const c = chooseSpawnWay();
    state.way = c.way;
    state.why = c.why;
    if (log) log(c.way === 'launcher' ? 'info' : 'warn', 'rsync processes', { spawn: c.way, why: c.why });
  }
  if (state.way === 'launcher') currentLauncher();
  return { way: state.way, why: state.why! };
}

function currentLauncher(): Launcher | undefined {
  if (state.way !== 'launcher') return undefined;
  if (state.launcher && !state.launcher.dead) return state.launcher;
  if (state.launcher) {
    if (state.restarts >= MAX_LAUNCHER_RESTARTS) {
      state.way = 'node';
      state.why = `the rsync launcher died ${state.restarts + 1} times (last: ${state.launcher.deathReason})`;
      state.log?.('warn', 'rsync processes', { spawn: 'node', why: state.why });
      state.launcher = undefined;
      return undefined;
    }
    state.restarts++;
  }
  const l = new Launcher(launcherPath(), (why) => state.log?.('warn', 'rsync launcher died; runs in flight are run again', { why, restartsLeft: MAX_LAUNCHER_RESTARTS - state.restarts }));
  state.launcher = l;
  return l;
}

/** The running launcher's pid (tests kill it), if any. */
export function launcherPid(): number | undefined {
  return state.launcher && !state.launcher.dead ? state.launcher.pid : undefined;
}

/** Stops the launcher (agent shutdown); a later run starts a new one. */
export function closeRsyncSpawn(): void {
  state.launcher?.close();
  state.launcher = undefined;
}

/**
 * Starts a warm standby through the launcher (see Launcher.startStandby), or null when rsync processes are started with
 * node's spawn (RSYNCHUB_AGENT_SPAWN=node, launcher not built, or given up after it died too often), when
 * RSYNCHUB_AGENT_STANDBY_SPAWN=node, or when the launcher cannot take it: the caller then uses node's spawn.
 */
export function startStandbyProcess(req: LaunchRequest, h: RunHandlers): StandbyHandle | null {
  if (process.env.RSYNCHUB_AGENT_STANDBY_SPAWN === 'node') return null;
  if (!state.way) prepareRsyncSpawn();
  const l = currentLauncher();
  if (!l) return null;
  if ([req.exe, req.cwd, ...req.args, ...envList(req.env)].some((s) => s.includes('\0'))) return null; // node's spawn says why
  return l.startStandby({ ...req, cwd: path.resolve(req.cwd) }, h);
}

/** Node's spawn, with the same handlers. */
export function startWithNode(req: LaunchRequest, h: RunHandlers): RunHandle {
  // detached: rsync gets a session of its own, without a controlling terminal, so a daemon asking for a password
  // (no --password-file) cannot open /dev/tty and hang the queue on a "Password:" prompt; stdin is /dev/null when it
  // carries no path list, for the same reason.
  let child: ChildProcess;
  try {
    child = spawn(req.exe, req.args, { cwd: req.cwd, stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true, env: req.env });
  } catch (e) {
    // e.g. a NUL byte in an argument: node refuses before spawning
    queueMicrotask(() => h.onError(e as Error));
    return { pid: undefined, kill: () => undefined };
  }
  if (child.pid) h.onPid?.(child.pid);
  let failed = false;
  child.stdout!.on('data', h.onStdout);
  child.stderr!.on('data', h.onStderr);
  child.on('error', (e) => {
    failed = true;
    h.onError(e);
  });
  child.on('close', (code, signal) => {
    if (!failed) h.onClose(code, signal);
  });
  if (child.stdin) {
    child.stdin.on('error', () => {
      // rsync may exit (auth failure) before reading its list; the exit code tells the story.
    });
    child.stdin.end(req.stdin);
  }
  return {
    get pid() {
      return child.pid;
    },
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

/**
 * Starts one rsync run the chosen way. gated: onPid must have returned before rsync may connect anywhere (the TLS
 * relay accepts only that pid's connection); node's spawn gives the pid synchronously, the launcher holds the exec.
 */
export function startProcess(req: LaunchRequest, h: RunHandlers, gated = false): RunHandle {
  if (!state.way) prepareRsyncSpawn();
  const l = currentLauncher();
  if (!l) return startWithNode(req, h);
  const bad = [req.exe, req.cwd, ...req.args, ...envList(req.env)].find((s) => s.includes('\0'));
  if (bad !== undefined) {
    queueMicrotask(() => h.onError(new Error(`an argument or environment variable holds a NUL byte: ${JSON.stringify(bad)}`)));
    return { pid: undefined, kill: () => undefined };
  }
  // A request the launcher would refuse as too large (a huge path list) goes through node's spawn.
  return l.start({ ...req, cwd: path.resolve(req.cwd) }, h, gated) ?? startWithNode(req, h);
}
