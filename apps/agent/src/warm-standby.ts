/**
 * A warm standby rsync client per plain target: the process of the NEXT ordinary run (a flat, small push: the shape
 * single edits take), started ahead of the edit with that run's exact arguments, so the ~10 ms rsync spends on exec,
 * dynamic linking and option parsing before it connects is no longer on the edit's critical path.
 *
 * How it is held: rsync runs with RSYNC_CONNECT_PROG = native/rsynchub-gate.c, which rsync starts (in place of its TCP
 * connect) once its start-up is done. The gate waits for a byte on an inherited pipe (fd 3 of the rsync process, passed
 * down to it) and only then connects to the daemon and relays with splice(). So an idle standby holds NO connection:
 * it takes no `max connections` slot, shows in no session list, and no daemon `timeout` runs. rsync reads
 * `--files-from=-` only after its protocol start (checked: the gate runs while rsync's stdin is still empty), so the
 * path list is written to its stdin when the run is due, together with the gate's 'g'.
 *
 * Rules:
 * - a standby is used only when the due run's arguments, rsync, cwd and environment are exactly those it was started
 *   with (and the password file, the working directory and files named in option values are the same, unchanged);
 *   otherwise the run starts as before;
 * - a standby whose key no longer matches what the next ordinary run would use (config, password file, environment)
 *   is discarded: SIGKILL to its process group, before it ever connected, so nothing reaches the daemon;
 * - a standby that died while idle (OOM, killed) is counted, logged and replaced; its run starts as before;
 * - the agent's death closes the gate's pipe: the gate exits without connecting and rsync ends (no stray processes).
 *
 * How it is started: through the agent's rsync launcher (rsync-launcher.ts, native/rsynchub-spawn.c), like ordinary
 * runs: posix_spawn from that small process, so the agent's event loop does not stop for a fork of the whole agent
 * (5-8 ms, measured: right when the next back-to-back edit arrives). The launcher holds the standby's stdin open and the
 * write end of its go pipe (fd 3) until the release ('W'... 'R' frames) or a discard ('D'). When the launcher dies the
 * go pipe closes (only it held the write end): a waiting standby ends without connecting, and is replaced. Node's spawn
 * remains the way when the launcher is not used (RSYNCHUB_AGENT_SPAWN=node, not built, given up after deaths) or when
 * RSYNCHUB_AGENT_STANDBY_SPAWN=node; then the agent holds those pipes itself, and its death closes them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from './log';
import { type RunHandle, type RunHandlers, type StandbyHandle, startStandbyProcess } from './rsync-launcher';

/** What a standby runs: the due run must match all of it. */
export interface StandbySpec {
  exe: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where the gate connects (the remote's host and port) and within how long (connectTimeoutSec; 0 = no limit). */
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** The remote's password file: a different or changed file makes the standby stale. */
  passwordFile?: string;
  /**
   * The environment already names the connect program (a TLS remote's native connector, which holds on
   * RSYNCHUB_GATE_FD itself): only the go fd is added. Otherwise the gate is set as RSYNC_CONNECT_PROG.
   */
  ownConnector?: boolean;
}

/** Counters of one target's standby (status and tests read them). */
export interface StandbyStats {
  /** Standby processes started. */
  started: number;
  /** Runs that went through a standby. */
  used: number;
  /** Standbys killed unused because what they would run changed (or the target paused or stopped). */
  discarded: number;
  /** Standbys found dead before use (killed, OOM). */
  died: number;
  /** When the standby waiting now was started (ISO), or null. */
  readyAt: string | null;
  /** The waiting standby's rsync pid (its process group), or null. */
  pid: number | null;
  /** How the waiting standby was started: 'launcher' (rsync-launcher.ts) or 'node' (child_process.spawn), or null. */
  via: 'launcher' | 'node' | null;
  /** Standbys started through the launcher (the rest: node's spawn). */
  viaLauncher: number;
  /**
   * How long the agent's event loop was held by the last standby start and by the slowest one (ms): the synchronous
   * part of the start call (node's spawn: the fork of the agent; the launcher: encoding and queueing one request).
   */
  lastStartMs: number | null;
  maxStartMs: number | null;
}

/** Where the agent build puts the gate (next to this file in dist/). RSYNCHUB_AGENT_GATE_HELPER overrides it. */
export function gatePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.RSYNCHUB_AGENT_GATE_HELPER || path.join(__dirname, 'rsynchub-gate');
}

/**
 * Whether standbys are used, and why not. Off when the config or --no-warm-standby says so, when
 * RSYNCHUB_AGENT_WARM_STANDBY=0, when the gate is not built, and when the agent's own environment sets
 * RSYNC_CONNECT_PROG, RSYNC_PROXY or RSYNC_SHELL (the user's transport must be kept: the gate would bypass it).
 */
export function chooseWarmStandby(configOn: boolean, env: NodeJS.ProcessEnv = process.env, gate = gatePath(env)): { on: boolean; why: string } {
  if (!configOn) return { on: false, why: 'warmStandby: false (or --no-warm-standby)' };
  const e = env.RSYNCHUB_AGENT_WARM_STANDBY;
  if (e !== undefined && /^(0|false|off|no)$/i.test(e)) return { on: false, why: `RSYNCHUB_AGENT_WARM_STANDBY=${e}` };
  for (const k of ['RSYNC_CONNECT_PROG', 'RSYNC_PROXY', 'RSYNC_SHELL']) {
    if (env[k]) return { on: false, why: `${k} is set in the agent's environment` };
  }
  try {
    fs.accessSync(gate, fs.constants.X_OK);
  } catch {
    return { on: false, why: `the gate helper ${gate} is not built` };
  }
  return { on: true, why: 'each target keeps the next single-edit rsync started, held before it connects' };
}

function passwordFileStamp(file: string | undefined): string {
  return file ? fileStamp(file) : '';
}

/**
 * What rsync read at its start besides its arguments: the working directory it is in (a watched root replaced since, by
 * a new directory of the same name, must not be pushed from the old one) and files named by absolute path in option
 * values (`--exclude-from=/etc/x`, `--filter=merge /etc/y`), read while rsync parses its options.
 */
function startStamps(s: StandbySpec): string[] {
  const out = [dirIdentity(s.cwd)]; // not its mtime: every edit in the root changes that
  for (const a of s.args) {
    const value = a.startsWith('--') && a.includes('=') ? a.slice(a.indexOf('=') + 1) : '';
    const file = value.split(/[\s,]+/).find((w) => w.startsWith('/'));
    if (file) out.push(`${file}=${fileStamp(file)}`);
  }
  return out;
}

function dirIdentity(dir: string): string {
  try {
    const st = fs.statSync(dir);
    return `${st.dev}:${st.ino}`;
  } catch {
    return 'missing';
  }
}

function fileStamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`;
  } catch {
    return 'missing';
  }
}

/** The identity of a spec: two specs with the same key start the same rsync the same way. */
export function standbyKey(s: StandbySpec): string {
  return JSON.stringify([s.exe, s.args, s.cwd, startStamps(s), s.host, s.port, s.connectTimeoutMs, passwordFileStamp(s.passwordFile), s.ownConnector === true,
    Object.entries(s.env).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

/** One waiting (or released) standby process, however it was started. */
interface Waiting {
  key: string;
  spec: StandbySpec;
  startedAt: number;
  via: 'launcher' | 'node';
  /** The process has ended (or was lost with the launcher, or never started). */
  exited: boolean;
  /** Its end was reported (exited and its output ended: node's 'close', the launcher's 'X'). */
  closed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The launcher died while it held this standby (the caller runs it again). */
  lost?: string;
  /** It could not be started. */
  error?: Error;
  /** Dropped (discarded or replaced): its later events are ignored. */
  dropped: boolean;
  /** The run's handlers once released; until then output is kept in `early`. */
  sink: RunHandlers | null;
  /** The run's handlers heard their last event. */
  finished: boolean;
  /** Output before release (an early error message), handed to the run's handlers. */
  early: { stream: 'out' | 'err'; data: Buffer }[];
  proc: StandbyProcess;
}

/** What a way of starting a standby offers. */
interface StandbyProcess {
  readonly pid: number | undefined;
  /** Path list to stdin, stdin closed, go ('g'); false when that cannot happen any more (a lost event follows). */
  release(stdin: Buffer | null): boolean;
  /** Kills its process group before it ever connected (no go). */
  cancel(): void;
  kill(signal: NodeJS.Signals): void;
  /** The signal to its process group (it is the group's leader: a session of its own). */
  killGroup(signal: NodeJS.Signals): void;
  /** Released: it keeps the agent alive like any run. */
  ref(): void;
}

/** A standby handed out for one run: release() starts the run with its path list. */
export interface TakenStandby {
  readonly startedAt: number;
  release(stdin: Buffer | null, h: RunHandlers): RunHandle;
}

export class WarmStandby {
  private waiting: Waiting | null = null;
  private closed = false;
  readonly stats: StandbyStats = { started: 0, used: 0, discarded: 0, died: 0, readyAt: null, pid: null, via: null, viaLauncher: 0, lastStartMs: null, maxStartMs: null };

  /** onChange: the stats changed (the agent writes its state file). */
  constructor(private readonly o: { gate: string; log: Logger; target: string; onChange?: () => void }) {}

  /** Makes sure a standby for `spec` is waiting: a stale one is discarded, a dead one replaced. */
  prepare(spec: StandbySpec): void {
    if (this.closed) return;
    const key = standbyKey(spec);
    const w = this.waiting;
    if (w && !w.exited && w.key === key) return;
    if (w) this.drop(w.exited ? 'died' : 'stale');
    this.start(spec, key);
  }

  /** The standby, when it runs exactly `spec`; it is then the caller's (taken out). Otherwise null (start as before). */
  take(spec: StandbySpec): TakenStandby | null {
    const w = this.waiting;
    if (!w) return null;
    if (w.exited) {
      this.drop('died');
      return null;
    }
    if (w.key !== standbyKey(spec)) return null; // another run shape; the standby stays for the next ordinary one
    this.clearWaiting();
    this.stats.used++;
    this.o.onChange?.();
    return { startedAt: w.startedAt, release: (stdin, h) => this.release(w, stdin, h) };
  }

  /** Kills the waiting standby (target paused or stopped, or turned off). prepare() may start one again unless closed. */
  discard(reason: string, close = false): void {
    if (close) this.closed = true;
    if (this.waiting) {
      this.o.log.debug('warm standby discarded', { target: this.o.target, reason });
      this.drop(this.waiting.exited ? 'died' : 'stale');
    }
  }

  /** The waiting standby's pid (tests). */
  get pid(): number | undefined {
    return this.waiting && !this.waiting.exited ? this.waiting.proc.pid : undefined;
  }

  /** No standby waits any more (taken or dropped): the stats say so. */
  private clearWaiting(): void {
    this.waiting = null;
    this.stats.readyAt = null;
    this.stats.pid = null;
    this.stats.via = null;
  }

  private drop(why: 'died' | 'stale'): void {
    const w = this.waiting;
    if (!w) return;
    this.clearWaiting();
    w.dropped = true;
    if (why === 'died') {
      this.stats.died++;
      this.o.log.warn('warm standby rsync died while waiting; replaced', { target: this.o.target, code: w.code, signal: w.signal, via: w.via, ...(w.lost ? { lost: w.lost } : {}) });
    } else {
      this.stats.discarded++;
    }
    this.o.onChange?.();
    if (!w.closed) w.proc.cancel();
  }

  private start(spec: StandbySpec, key: string): void {
    const env: NodeJS.ProcessEnv = spec.ownConnector ? { ...spec.env, RSYNCHUB_GATE_FD: '3' } : {
      ...spec.env,
      // `exec`: the shell rsync runs it with leaves no process of its own. The path is quoted for that shell (and %
      // doubled: rsync expands %H in it).
      RSYNC_CONNECT_PROG: `exec '${this.o.gate.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`,
      RSYNCHUB_GATE_HOST: spec.host,
      RSYNCHUB_GATE_PORT: String(spec.port),
      RSYNCHUB_GATE_TIMEOUT_MS: String(Math.max(0, Math.round(spec.connectTimeoutMs))),
      RSYNCHUB_GATE_FD: '3',
    };
    const w = { key, spec, startedAt: Date.now(), exited: false, closed: false, code: null, signal: null, dropped: false, sink: null, finished: false, early: [] } as unknown as Waiting;
    const events = this.events(w);
    const t0 = performance.now();
    const viaLauncher = startStandbyProcess({ exe: spec.exe, args: spec.args, cwd: spec.cwd, env, stdin: null }, events);
    let proc: StandbyProcess | null = viaLauncher ? launcherProcess(viaLauncher) : null;
    if (proc) w.via = 'launcher';
    else {
      proc = nodeProcess(spec, env, events);
      w.via = 'node';
    }
    const ms = Math.round((performance.now() - t0) * 1000) / 1000;
    if (!proc) {
      this.o.log.warn('cannot start a warm standby rsync; runs start when due', { target: this.o.target, error: w.error?.message });
      return;
    }
    w.proc = proc;
    this.stats.started++;
    if (w.via === 'launcher') this.stats.viaLauncher++;
    this.stats.lastStartMs = ms;
    this.stats.maxStartMs = Math.max(this.stats.maxStartMs ?? 0, ms);
    this.stats.readyAt = new Date(w.startedAt).toISOString();
    this.stats.pid = proc.pid ?? null;
    this.stats.via = w.via;
    this.waiting = w;
    this.o.log.debug('warm standby started', { target: this.o.target, via: w.via, startMs: ms });
    this.o.onChange?.();
  }

  /** The process's events, whichever way started it: kept until release, then the run's. */
  private events(w: Waiting): RunHandlers & { onExit(code: number | null, signal: NodeJS.Signals | null): void } {
    const finish = (f: (h: RunHandlers) => void) => {
      if (!w.sink || w.finished) return;
      w.finished = true;
      f(w.sink);
    };
    return {
      onPid: (pid) => {
        if (w.sink) w.sink.onPid?.(pid);
        else if (this.waiting === w) {
          this.stats.pid = pid;
          this.o.onChange?.();
        }
      },
      onStdout: (d) => (w.sink ? w.sink.onStdout(d) : w.early.push({ stream: 'out', data: d })),
      onStderr: (d) => (w.sink ? w.sink.onStderr(d) : w.early.push({ stream: 'err', data: d })),
      onError: (e) => {
        w.exited = w.closed = true;
        w.error = e;
        finish((h) => h.onError(e));
        this.diedWaiting(w, false);
      },
      onExit: (code, signal) => {
        w.exited = true;
        w.code = code;
        w.signal = signal;
        this.diedWaiting(w, false);
      },
      onClose: (code, signal) => {
        w.exited = w.closed = true;
        w.code = code;
        w.signal = signal;
        finish((h) => h.onClose(code, signal));
        this.diedWaiting(w, false);
      },
      onLost: (why) => {
        w.exited = w.closed = true;
        w.lost = why;
        finish((h) => (h.onLost ? h.onLost(why) : h.onError(new Error(why))));
        this.diedWaiting(w, true);
      },
    };
  }

  /**
   * Died while waiting (OOM, killed, the launcher gone): replaced now, unless it died young (then rsync itself refuses
   * these arguments, and the next run, started as before, says why; a new standby follows that run). One lost with the
   * launcher is replaced at once (through a new launcher, or node's spawn).
   */
  private diedWaiting(w: Waiting, lost: boolean): void {
    if (w.sink || w.dropped || !w.proc) return;
    const lived = Date.now() - w.startedAt;
    setImmediate(() => {
      if (this.waiting !== w) return;
      this.drop('died');
      if ((lost || lived >= 1000) && !this.closed) this.start(w.spec, w.key);
    });
  }

  private release(w: Waiting, stdin: Buffer | null, h: RunHandlers): RunHandle {
    w.sink = h;
    w.proc.ref();
    if (w.proc.pid) h.onPid?.(w.proc.pid);
    for (const e of w.early) (e.stream === 'out' ? h.onStdout : h.onStderr)(e.data);
    w.early = [];
    if (w.closed) {
      // Ended between take() and now: a failed run, retried as any other (or run again, when lost with the launcher).
      queueMicrotask(() => {
        if (w.finished) return;
        w.finished = true;
        if (w.lost) h.onLost ? h.onLost(w.lost) : h.onError(new Error(w.lost));
        else if (w.error) h.onError(w.error);
        else h.onClose(w.code, w.signal);
      });
    } else {
      // The list first, then the go: rsync reads it only after its protocol start, the gate connects on 'g'.
      w.proc.release(stdin);
    }
    return {
      get pid() {
        return w.proc.pid;
      },
      // The whole group (rsync, its connect fork, the gate): a gate that hangs (stopped) keeps rsync's stderr open, and
      // the run's end waits for that; the stall watchdog's kill must end it too.
      kill: (signal) => (w.closed ? undefined : w.proc.killGroup(signal)),
    };
  }
}

/** A standby the launcher started (it holds the stdin and the go pipe). */
function launcherProcess(hd: StandbyHandle): StandbyProcess {
  return {
    get pid() {
      return hd.pid;
    },
    // false: the launcher is gone; its death reports the standby lost (onLost), and the run runs again.
    release: (stdin) => hd.release(stdin),
    cancel: () => {
      hd.discard(); // 'D': the launcher closes the go pipe and kills the group
      const pid = hd.pid;
      // Also directly, in case the launcher does not answer (stopped): the pid cannot have been reused, the launcher
      // reaps it only after its end was reported to us (and it was not: cancel is for standbys not closed).
      if (pid) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
    kill: (signal) => hd.kill(signal),
    // Until the run's end was reported (the caller checks), the launcher has not reaped the pid: the group is still ours.
    killGroup: (signal) => {
      const pid = hd.pid;
      try {
        if (pid) process.kill(-pid, signal);
        else hd.kill(signal);
      } catch {
        hd.kill(signal);
      }
    },
    ref: () => undefined, // the launcher's socket is referenced while a released run is in flight
  };
}

/** A standby started with node's spawn (the agent holds the stdin and the go pipe), or null when spawn throws. */
function nodeProcess(spec: StandbySpec, env: NodeJS.ProcessEnv, ev: RunHandlers & { onExit(code: number | null, signal: NodeJS.Signals | null): void }): StandbyProcess | null {
  let child: ChildProcess;
  try {
    // detached: a session of its own (no terminal for a "Password:" prompt, as for every run), and a process group
    // the discard can kill whole (rsync, its connect fork, the gate).
    child = spawn(spec.exe, spec.args, { cwd: spec.cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  } catch (e) {
    ev.onError(e as Error);
    return null;
  }
  // An idle standby must not keep the agent's event loop alive.
  const streams = [child.stdin, child.stdout, child.stderr, child.stdio[3]] as (Readable | Writable | null)[];
  child.unref();
  for (const s of streams) (s as unknown as { unref?: () => void } | null)?.unref?.();
  child.stdin!.on('error', () => undefined);
  (child.stdio[3] as Writable).on('error', () => undefined);
  child.stdout!.on('data', (d: Buffer) => ev.onStdout(d));
  child.stderr!.on('data', (d: Buffer) => ev.onStderr(d));
  let failed = false;
  child.on('error', (e) => {
    failed = true;
    ev.onError(e);
  });
  child.on('exit', (code, signal) => ev.onExit(code, signal));
  child.on('close', (code, signal) => {
    if (!failed) ev.onClose(code, signal);
  });
  return {
    get pid() {
      return child.pid;
    },
    release: (stdin) => {
      child.stdin!.end(stdin ?? Buffer.alloc(0));
      (child.stdio[3] as Writable).end(Buffer.from('g'));
      return true;
    },
    cancel: () => {
      killGroup(child);
      child.stdin?.destroy();
      (child.stdio[3] as Writable | null)?.destroy();
    },
    kill: (signal) => {
      try {
        child.kill(signal);
      } catch {
        // gone
      }
    },
    killGroup: (signal) => {
      try {
        if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch {
        // gone
      }
    },
    ref: () => {
      child.ref();
      for (const s of streams) (s as unknown as { ref?: () => void } | null)?.ref?.();
    },
  };
}

function killGroup(child: ChildProcess): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}
