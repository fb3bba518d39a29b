/**
 * Source agent vs lsyncd, side by side in one run, both pushing to modules of one bare `rsync --daemon` on 127.0.0.1:
 * - single-edit latency: a file written and closed on the source -> identical content in the target module (p50/p99);
 * - a burst of 10,000 small files: first write -> the target tree identical, against one plain `rsync -a` of the
 *   same tree as the baseline, with the number of rsync processes each contender spawned.
 * Each contender has its own source directory and its own module. For the single edits all latency contenders run side by
 * side (idle but for the one being edited) and take turns in blocks of 10 edits, so load changes on a shared machine fall
 * on all of them alike; for the burst they run one after the other.
 * Env: BENCH_AGENT_EDITS (50; 0 skips the edits), BENCH_AGENT_BURST (10000), BENCH_AGENT_ROUNDS (3 burst rounds),
 * BENCH_AGENT_ONLY (comma-separated contender labels, e.g. `agent`; default all), BENCH_AGENT_DIR (where sources and
 * modules live; default the OS temp dir), BENCH_AGENT_MAIN (path of the agent's dist/main.js), BENCH_AGENT_KEEP=1 (keep
 * that directory, with each contender's log), BENCH_AGENT_CHAINED=1 (a third edit series: each edit as soon as the
 * last is on the target, not waiting for the contender to be idle), BENCH_AGENT_EXTRA / BENCH_AGENT_WATCH_EXTRA (JSON merged into the agent's
 * config / its watch, e.g. '{"timeoutSec":0}' to see what one setting costs), BENCH_AGENT_VARIANT_ENV (JSON: adds the
 * contender `agent(variant)`, the agent with these environment variables, e.g. '{"RSYNCHUB_AGENT_SPAWN":"node"}',
 * '{"RSYNCHUB_AGENT_STANDBY_SPAWN":"node"}' (standbys with node's spawn, runs through the launcher: the A/B of how the
 * standby is started; each agent contender also prints how long its standby starts held its event loop) or
 * '{"RSYNCHUB_AGENT_WARM_STANDBY":"0"}'), BENCH_AGENT_LARGE_MB (256; 0 skips it) / BENCH_AGENT_LARGE_ROUNDS (3): one
 * large file pushed by a single run, `agent` and `agent(variant)` alternating.
 * Contenders: `agent` (rsync started by its native launcher), `agent(node spawn)` (RSYNCHUB_AGENT_SPAWN=node: node's
 * child_process.spawn, as before the launcher), `agent(rsyncParams -a)` (burst only), lsyncd twice.
 * On a busy machine, run it as `chrt -f 50 node bench/dist/index.js agent` (root): the bench, the daemon and every
 * contender then preempt other work, and the numbers come out within ~20 % of a quiet machine's.
 *
 * The burst is compared with one plain `rsync -a` of the finished tree three ways, per round (then medians):
 * - from the last write: the baseline can only start once the tree exists; this is the replication cost of the burst;
 * - from the first write, against writing the tree and then running rsync -a by hand (written time + baseline);
 * - from the first write against rsync -a alone, shown for reference: it charges the contender for the writer's time,
 *   which no watcher can finish before, and which the baseline does not pay.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, rsync, sleep } from '@rsynchub/testing';
import {
  type BareDaemon, burstDiffs, burstLayout, countBurstFiles, cpuSeconds, nowMs, RsyncChildTracker, spawnGroup,
  startBareDaemon, stopGroup, writeBurstInWorker,
} from './agent-support';
import { fmt, header, median, percentile } from './stats';

/**
 * The agent's rsync children, without its warm standby while that waits (see apps/agent/src/warm-standby.ts): a
 * standby is an rsync started ahead of the next edit and held before it connects, so it is not a run. It is told apart
 * by RSYNCHUB_GATE_FD in its environment, and it is a run once its gate (a grandchild) has renamed itself
 * "rsynchub-relay" on release. Standbys never released are not counted as processes spawned either. A standby is a
 * child of the agent's rsync launcher (or of the agent, with node's spawn).
 */
class AgentRsyncTracker extends RsyncChildTracker {
  private readonly standbys = new Set<string>();
  private readonly released = new Set<string>();

  constructor(private readonly agentPid: number) {
    super(agentPid);
  }

  override get total(): number {
    return super.total - [...this.standbys].filter((k) => !this.released.has(k)).length;
  }

  override poll(): void {
    const before = this.lastActiveAt;
    super.poll();
    if (this.active === 0) return;
    let waiting = 0;
    // Standbys are started by the agent's rsync launcher (rsynchub-spawn), or by the agent itself with node's spawn.
    const direct = childPids(this.agentPid);
    for (const pid of [...direct, ...direct.filter((c) => comm(c) === 'rsynchub-spawn').flatMap(childPids)]) {
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'rsync') continue;
        if (!`\0${fs.readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes('\0RSYNCHUB_GATE_FD=')) continue;
      } catch {
        continue;
      }
      const key = `${pid}:${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
      this.standbys.add(key);
      const relaying = childPids(pid).some((f) => childPids(f).some((g) => comm(g) === 'rsynchub-relay'));
      if (relaying) this.released.add(key);
      else if (!this.released.has(key)) waiting++;
    }
    if (waiting === 0) return;
    this.active = Math.max(0, this.active - waiting);
    if (this.active === 0) this.lastActiveAt = before;
  }
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c) out.push(Number(c));
    } catch {
      // gone
    }
  }
  return out;
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

const AGENT_MAIN = process.env.BENCH_AGENT_MAIN ?? path.resolve(__dirname, '../../apps/agent/dist/main.js');
/** lsyncd's default.rsync waits this long (its `delay`) before it pushes anything. */
const LSYNCD_DEFAULT_DELAY_SEC = 15;
/** The agent with the baseline's rsync options, for the burst. */
const AGENT_PLAIN = 'agent(rsyncParams -a)';
/** The agent with RSYNCHUB_AGENT_SPAWN=node: rsync started by node's child_process.spawn instead of the launcher. */
const AGENT_NODE = 'agent(node spawn)';
/** The agent with BENCH_AGENT_VARIANT_ENV added to its environment (an A/B of a setting, side by side with `agent`). */
const AGENT_VARIANT = 'agent(variant)';
/** Files the single edits rotate through: the first ones are creates, the rest overwrite existing files. */
const EDIT_FILES = 5;
/**
 * Two spacings of single edits. @parcel/watcher (the agent's watcher) reports an event at once when the previous one
 * is more than 500 ms old, and otherwise debounces for 50 ms; so isolated edits and edits in quick succession differ.
 */
const EDIT_SERIES: readonly { key: string; gapMs: number; text: string }[] = [
  { key: 'isolated', gapMs: 1000, text: 'isolated edits (1 s apart)' },
  { key: 'back-to-back', gapMs: 0, text: 'back-to-back edits (next one as soon as the contender is idle)' },
  // BENCH_AGENT_CHAINED=1: the next edit as soon as the previous one is on the target, without waiting for the contender
  // to be idle (250 ms without rsync): it then lands while the agent ends that run and starts its next warm standby,
  // where a start that holds the event loop shows.
  ...(process.env.BENCH_AGENT_CHAINED === '1' ? [{ key: 'chained', gapMs: -1, text: 'chained edits (next one as soon as the last is on the target)' }] : []),
];

interface Contender {
  label: string;
  pid: number;
  src: string;
  target: string;
  tracker: RsyncChildTracker;
  /** No rsync child for this long = idle (longer than the contender's own batching window). */
  quietMs: number;
  /** After a burst, idle for this long = done, follow-up work included (the agent verifies a large burst 1 s after it). */
  settleMs?: number;
  /** The contender's own account of its rsync runs since a time (the agent's debug log), when it keeps one. */
  describeRuns?: (sinceMs: number) => string;
  /** rsync processes the contender says it spawned (the agent's state.json), when it tells. */
  selfReportedSpawns?: () => number | undefined;
  /** The agent's rsync launcher: it reaps the rsync clients, so their CPU time is its children's. */
  launcherPid?: () => number | undefined;
  /**
   * The agent's warm standby starts so far (its debug log): how each was started and how long the start call held the
   * agent's event loop (ms).
   */
  standbyStarts?: () => { via: string; startMs: number }[];
  stop(): Promise<void>;
}

interface LatencyResult {
  samples: number[];
  error?: string;
}

/** CPU seconds spent during the burst (until the contender was idle again). */
interface BurstCpu {
  contender: number;
  rsyncClients: number;
  daemon: number;
}

interface BurstResult {
  createdSec: number;
  /** The plain rsync -a of the same round. */
  baselineSec?: number;
  cpu?: BurstCpu;
  doneSec?: number;
  spawnsSeen: number;
  spawnsReported?: number;
  /** The contender's own list of runs (mode, paths, start-end relative to the first write). */
  runs?: string;
  error?: string;
}

/** Medians over the rounds that finished; ratios are taken per round, against that round's baseline. */
interface BurstRatios {
  doneSec: number;
  tailSec: number;
  /** (done - written) / baseline */
  tail: number;
  /** done / (written + baseline) */
  manual: number;
  /** done / baseline */
  first: number;
}

function burstRatios(rs: readonly BurstResult[]): BurstRatios | undefined {
  const ok = rs.filter((r) => r.doneSec !== undefined && r.baselineSec);
  if (ok.length === 0) return undefined;
  return {
    doneSec: median(ok.map((r) => r.doneSec!)),
    tailSec: median(ok.map((r) => r.doneSec! - r.createdSec)),
    tail: median(ok.map((r) => (r.doneSec! - r.createdSec) / r.baselineSec!)),
    manual: median(ok.map((r) => r.doneSec! / (r.createdSec + r.baselineSec!))),
    first: median(ok.map((r) => r.doneSec! / r.baselineSec!)),
  };
}

function fsType(dir: string): string {
  try {
    const line = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).trim().split('\n')[1] ?? '';
    const [dev, type] = line.split(/\s+/);
    return `${type} (${dev})`;
  } catch {
    return 'an unknown file system';
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, timeoutMs: number, check: () => T | undefined | false, child?: ChildProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what}: process exited (${child.exitCode ?? child.signalCode})`);
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Waits up to 20 s for a started contender to be ready; otherwise stops it and fails with the tail of its log. */
async function awaitReady(child: ChildProcess, what: string, ready: () => unknown, logName: string, logFile: string): Promise<void> {
  try {
    await until(what, 20_000, ready, child);
  } catch (e) {
    await stopGroup(child);
    throw new Error(`${(e as Error).message}; ${logName}: ${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '(none)'}`);
  }
}

async function startAgent(work: string, daemon: BareDaemon, module: string, label = 'agent', rsyncParams?: string, env?: NodeJS.ProcessEnv): Promise<Contender> {
  const src = path.join(work, `${module}-src`);
  const stateDir = path.join(work, `${module}-state`);
  const log = path.join(work, `${module}.log`);
  fs.mkdirSync(src);
  const config = path.join(work, `${module}.json`);
  // Defaults on purpose (batchDelayMs 0, rsyncParams -artz, no full sync at start) unless rsyncParams is given. Debug
  // logging adds one line per batch and per rsync run, which tells where a burst's time goes.
  const watch = { path: src, remotes: [{ host: '127.0.0.1', port: daemon.port, module }], ...(rsyncParams ? { rsyncParams } : {}), ...JSON.parse(process.env.BENCH_AGENT_WATCH_EXTRA ?? '{}') };
  fs.writeFileSync(config, JSON.stringify({ name: 'bench', logLevel: 'debug', watches: [watch], ...JSON.parse(process.env.BENCH_AGENT_EXTRA ?? '{}') }, null, 2));
  const child = spawnGroup(process.execPath, [AGENT_MAIN, 'run', '--config', config, '--state-dir', stateDir, '--log-file', log], env ? { env: { ...process.env, ...env } } : {});
  const stateFile = path.join(stateDir, 'state.json');
  type State = { rsyncSpawns: number; rsyncLauncherPid?: number; watches: { watching: boolean }[]; targets: { queueLength: number; inFlight: boolean }[] };
  await awaitReady(child, 'agent watching', () => readJson<State>(stateFile)?.watches.every((w) => w.watching), 'log', log);
  const tracker = new AgentRsyncTracker(child.pid!).start();
  return {
    label,
    pid: child.pid!,
    src,
    target: daemon.moduleDir(module),
    tracker,
    quietMs: 250,
    settleMs: 2000,
    describeRuns: (sinceMs) => {
      const runs: string[] = [];
      for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
        // Incremental runs, and full syncs (e.g. the one verifying a large burst, after it)
        if (!line.includes('"rsync run"') && !line.includes('"full sync done"')) continue;
        const e = JSON.parse(line) as { ts: string; mode?: string; paths?: number; code?: number; durationMs: number };
        const end = Date.parse(e.ts);
        if (end < sinceMs) continue;
        const what = e.mode ? `${e.mode} ${e.paths} paths` : 'full sync';
        runs.push(`${what} ${fmt((end - e.durationMs - sinceMs) / 1000, 2)}-${fmt((end - sinceMs) / 1000, 2)} s${e.code ? ` exit ${e.code}` : ''}`);
      }
      return runs.join('; ');
    },
    launcherPid: () => readJson<State>(stateFile)?.rsyncLauncherPid,
    standbyStarts: () => fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"warm standby started"'))
      .map((l) => JSON.parse(l) as { via: string; startMs: number }),
    selfReportedSpawns: () => {
      const s = readJson<State>(stateFile);
      return s && s.targets.every((t) => t.queueLength === 0 && !t.inFlight) ? s.rsyncSpawns : undefined;
    },
    stop: async () => {
      tracker.stop();
      await stopGroup(child, 'SIGTERM', 15_000);
    },
  };
}

async function startLsyncd(work: string, daemon: BareDaemon, module: string, delaySec: number | undefined, label: string): Promise<Contender> {
  const src = path.join(work, `${module}-src`);
  fs.mkdirSync(src);
  const log = path.join(work, `${module}.log`);
  const config = path.join(work, `${module}.lua`);
  // default.rsync as shipped (rsync -lts -r --delete, maxProcesses 1) plus TCP_NODELAY; only `delay` is set when asked.
  fs.writeFileSync(config, [
    `settings { nodaemon = true, logfile = ${JSON.stringify(log)} }`,
    'sync {',
    '  default.rsync,',
    `  source = ${JSON.stringify(src)},`,
    `  target = ${JSON.stringify(`rsync://127.0.0.1:${daemon.port}/${module}/`)},`,
    ...(delaySec === undefined ? [] : [`  delay = ${delaySec},`]),
    // Equal socket options: the agent adds --sockopts=TCP_NODELAY to every run, so lsyncd's rsync gets it too.
    '  rsync = { _extra = { "--sockopts=TCP_NODELAY" } },',
    '}',
    '',
  ].join('\n'));
  const child = spawnGroup('lsyncd', ['-nodaemon', config], { logFile: path.join(work, `${module}.out`) });
  // lsyncd first mirrors the whole (empty) source, then watches.
  await awaitReady(child, 'lsyncd startup sync', () => fs.existsSync(log) && /Startup of .* finished/.test(fs.readFileSync(log, 'utf8')),
    'output', path.join(work, `${module}.out`));
  const tracker = new RsyncChildTracker(child.pid!).start();
  return {
    label,
    pid: child.pid!,
    src,
    target: daemon.moduleDir(module),
    tracker,
    quietMs: Math.max(250, (delaySec ?? LSYNCD_DEFAULT_DELAY_SEC) * 1000 + 250),
    stop: async () => {
      tracker.stop();
      await stopGroup(child, 'SIGTERM', 5000);
    },
  };
}

/** A contender's edit sequence across blocks: the next edit's number, the last write, each file's last size. */
interface EditCursor {
  next: number;
  lastWrite: number;
  lastSize: Map<string, number>;
}

/**
 * Single edits run in blocks of this many, the contenders taking turns block by block (all of them started once, side
 * by side): a change of machine load during the series then falls on every contender alike, not on whichever ran at
 * that moment. The first edit of a block follows a pause (the other contenders' blocks): it is made but not counted.
 */
const EDIT_BLOCK = 10;

/** One edit at a time: write + close, then poll the target every 5 ms until its content is identical. */
async function measureLatency(c: Contender, edits: number, gapMs: number, cursor: EditCursor = { next: 0, lastWrite: 0, lastSize: new Map() }, uncounted = 0): Promise<LatencyResult> {
  const samples: number[] = [];
  let lastWrite = cursor.lastWrite;
  const lastSize = cursor.lastSize;
  try {
    for (let n = 0; n < edits + uncounted; n++) {
      const i = cursor.next++;
      if (gapMs >= 0) await c.tracker.waitIdle(c.quietMs, 60_000, `${c.label} before edit ${i}`);
      const wait = lastWrite + gapMs - performance.now();
      if (wait > 0) await sleep(wait);
      const rel = `edit-${i % EDIT_FILES}.txt`;
      let text = `edit ${i} ${crypto.randomBytes(12).toString('hex')} ${Date.now()}\n`.repeat(1 + (i % 7));
      // rsync's quick check (size + mtime in whole seconds, --modify-window 0) skips a same-size rewrite within the
      // same second, for every contender alike; each edit changes the size so a skip cannot stall the measurement.
      if (text.length === lastSize.get(rel)) text += '+';
      lastSize.set(rel, text.length);
      const content = Buffer.from(text);
      const target = path.join(c.target, rel);
      const fd = fs.openSync(path.join(c.src, rel), 'w');
      fs.writeSync(fd, content);
      fs.closeSync(fd);
      const t0 = performance.now();
      lastWrite = t0;
      const deadline = t0 + 30_000;
      for (;;) {
        let got: Buffer | undefined;
        try {
          got = fs.readFileSync(target);
        } catch {
          // not there yet
        }
        if (got?.equals(content)) break;
        if (performance.now() > deadline) throw new Error(`edit ${i} (${rel}) not on the target after 30 s`);
        await sleep(5);
      }
      if (n >= uncounted) samples.push(performance.now() - t0);
    }
  } catch (e) {
    return { samples, error: (e as Error).message };
  } finally {
    cursor.lastWrite = lastWrite;
  }
  return { samples };
}

/** A file of `mb` MiB of pseudo-random bytes (incompressible, like most large files worth pushing). */
function writeLargeFile(file: string, mb: number): void {
  const chunk = Buffer.alloc(1 << 20);
  let x = 0x9e3779b9;
  const fd = fs.openSync(file, 'w');
  try {
    for (let i = 0; i < mb; i++) {
      for (let j = 0; j < chunk.length; j += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        chunk.writeUInt32LE(x >>> 0, j);
      }
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Copies the large file next to the contender's tree, renames it in (one event), and times its arrival. */
async function measureLargePush(c: Contender, blob: string, name: string): Promise<number> {
  await c.tracker.waitIdle(c.quietMs, 60_000, `${c.label} before the large file`);
  const size = fs.statSync(blob).size;
  const staged = path.join(path.dirname(c.src), `.${path.basename(c.src)}-${name}`);
  fs.copyFileSync(blob, staged);
  execFileSync('sync');
  const target = path.join(c.target, name);
  const t0 = performance.now();
  fs.renameSync(staged, path.join(c.src, name));
  for (;;) {
    try {
      if (fs.statSync(target).size === size) break;
    } catch {
      // not there yet
    }
    if (performance.now() - t0 > 300_000) throw new Error(`${c.label}: the large file is not on the target after 300 s`);
    await sleep(5);
  }
  const sec = (performance.now() - t0) / 1000;
  if (!fs.readFileSync(target).equals(fs.readFileSync(blob))) throw new Error(`${c.label}: the large file on the target differs`);
  return sec;
}

/** The edit series for all latency contenders at once, in blocks taking turns (see EDIT_BLOCK). */
async function measureLatencyInterleaved(cs: readonly Contender[], edits: number, gapMs: number): Promise<Map<string, LatencyResult>> {
  const out = new Map<string, LatencyResult>(cs.map((c) => [c.label, { samples: [] }]));
  const cursors = new Map<string, EditCursor>(cs.map((c) => [c.label, { next: 0, lastWrite: 0, lastSize: new Map() }]));
  for (let b = 0; b * EDIT_BLOCK < edits; b++) {
    const n = Math.min(EDIT_BLOCK, edits - b * EDIT_BLOCK);
    for (let k = 0; k < cs.length; k++) {
      const c = cs[(b + k) % cs.length]!; // each block starts with another contender
      const acc = out.get(c.label)!;
      if (acc.error) continue;
      // Only the contender being edited has its rsync children polled (the polling costs CPU the others would share).
      c.tracker.start();
      try {
        const r = await measureLatency(c, n, gapMs, cursors.get(c.label)!, 1);
        acc.samples.push(...r.samples);
        if (r.error) acc.error = r.error;
      } finally {
        c.tracker.stop();
      }
    }
  }
  return out;
}

/**
 * Writes the burst (in a worker, so /proc keeps being polled meanwhile), then polls the target (count, a sample's
 * content, then everything) until it is identical.
 */
async function measureBurst(c: Contender, daemonPid: number, layout: ReturnType<typeof burstLayout>, timeoutMs: number): Promise<BurstResult> {
  // Just started: only its startup work (lsyncd's initial mirror of the empty source) can still be running.
  await c.tracker.waitIdle(250, 60_000, `${c.label} before the burst`);
  // Every burst starts with nothing dirty: writeback of an earlier tree slows file creation here several-fold.
  execFileSync('sync');
  const seenBefore = c.tracker.total;
  const reportedBefore = c.selfReportedSpawns?.();
  const cpuBefore = cpuSeconds(c.pid);
  const launcher = c.launcherPid?.();
  const launcherBefore = launcher ? cpuSeconds(launcher) : undefined;
  const daemonBefore = cpuSeconds(daemonPid);
  const { startMs, endMs } = await writeBurstInWorker(c.src, layout.length);
  const res: BurstResult = { createdSec: (endMs - startMs) / 1000, spawnsSeen: 0 };
  const deadline = startMs + timeoutMs;
  let last = 0;
  for (;;) {
    const tCheck = nowMs();
    last = countBurstFiles(c.target);
    // Files appear under their final name only when complete (rsync renames its temp file), so a full count with a
    // matching sample is the moment of arrival; the full compare confirms it.
    if (last === layout.length && burstDiffs(c.target, layout, 100).length === 0) {
      const diffs = burstDiffs(c.target, layout);
      if (diffs.length === 0) {
        res.doneSec = (tCheck - startMs) / 1000;
        break;
      }
    }
    if (nowMs() > deadline) {
      res.error = `not identical after ${fmt(timeoutMs / 1000, 0)} s (${last.toLocaleString('en-US')} of ${layout.length.toLocaleString('en-US')} files)`;
      break;
    }
    await sleep(20);
  }
  try {
    // Long enough for a contender's trailing runs (e.g. lsyncd's second pass for the close events) to show up.
    await c.tracker.waitIdle(Math.max(c.settleMs ?? c.quietMs, 1000), 60_000, `${c.label} after the burst`);
  } catch (e) {
    res.error = (res.error ? res.error + '; ' : '') + (e as Error).message;
  }
  res.spawnsSeen = c.tracker.total - seenBefore;
  if (c.describeRuns) res.runs = c.describeRuns(startMs);
  const cpuAfter = cpuSeconds(c.pid);
  const launcherAfter = launcher ? cpuSeconds(launcher) : undefined;
  const daemonAfter = cpuSeconds(daemonPid);
  // The launcher's own time is the agent's; the rsync clients it reaped are its children.
  const viaLauncher = launcherBefore && launcherAfter ? { self: launcherAfter.self - launcherBefore.self, children: launcherAfter.children - launcherBefore.children } : { self: 0, children: 0 };
  res.cpu = {
    contender: cpuAfter.self - cpuBefore.self + viaLauncher.self,
    rsyncClients: cpuAfter.children - cpuBefore.children + viaLauncher.children,
    daemon: daemonAfter.self + daemonAfter.children - daemonBefore.self - daemonBefore.children,
  };
  if (reportedBefore !== undefined && c.selfReportedSpawns) {
    // state.json is rewritten every 500 ms while busy and once more when the queue drains
    const after = await until('agent state caught up', 5000, () => c.selfReportedSpawns!()).catch(() => undefined);
    if (after !== undefined) res.spawnsReported = after - reportedBefore;
  }
  return res;
}

function loadText(): string {
  return `load average ${os.loadavg().map((l) => fmt(l, 2)).join(' / ')} (1 / 5 / 15 min)`;
}

function cpuText(c: BurstCpu | undefined): string {
  return c ? `CPU: contender ${fmt(c.contender, 2)} s, its rsync clients ${fmt(c.rsyncClients, 2)} s, daemon side ${fmt(c.daemon, 2)} s` : '';
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch {
    return 'not installed';
  }
}

function latencyText(r: LatencyResult | undefined): string {
  if (!r) return 'not run';
  if (r.samples.length === 0) return `failed: ${r.error}`;
  const s = `p50 ${fmt(percentile(r.samples, 50))} ms p99 ${fmt(percentile(r.samples, 99))} ms`;
  return r.error ? `${s} (${r.samples.length} edits, then failed: ${r.error})` : s;
}

export async function benchAgent(
  edits = Number(process.env.BENCH_AGENT_EDITS ?? 50),
  burstFiles = Number(process.env.BENCH_AGENT_BURST ?? 10_000),
  rounds = Number(process.env.BENCH_AGENT_ROUNDS ?? 3),
): Promise<void> {
  header(`source agent vs lsyncd: single-edit latency (${edits} edits) and a burst of ${burstFiles.toLocaleString('en-US')} files (${rounds} rounds)`);
  if (!fs.existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} not found: build the agent first (npx tsc -b apps/agent)`);
  const lsyncdVersion = version('lsyncd', ['--version']);
  const haveLsyncd = lsyncdVersion !== 'not installed';
  console.log(`rsync:  ${version('rsync', ['--version'])}; one bare rsync --daemon on 127.0.0.1, anonymous modules, no chroot, transfer logging off`);
  console.log(`agent:  rsynchub-agent ${version(process.execPath, [AGENT_MAIN, '--version'])}, default config: batchDelayMs 0 (pushed as soon as the watcher delivers; at most 1 s after the first event of a batch), rsyncParams -artz; ` +
    `for the burst also "${AGENT_PLAIN}": the same options as the baseline (rsyncParams -a), so its ratio is the agent's own overhead; both add --sockopts=TCP_NODELAY`);
  console.log(haveLsyncd
    ? `lsyncd: ${lsyncdVersion}, default.rsync (rsync -lts -r --delete, maxProcesses 1) with --sockopts=TCP_NODELAY like the agent; run twice: delay = 0 (latency + burst) and its default delay ${LSYNCD_DEFAULT_DELAY_SEC} s (burst only: every edit would wait ${LSYNCD_DEFAULT_DELAY_SEC} s; note its default maxDelays = 1000 starts rsync early once that many changes are queued)`
    : 'lsyncd: not installed (apt-get install lsyncd); its columns are skipped');
  console.log(`edits:  write + close of edit-N.txt (${EDIT_FILES} files: ${EDIT_FILES} creates, then overwrites), target polled every 5 ms (read + compare); next edit once the contender has no rsync running`);
  console.log(`burst:  ${burstFiles.toLocaleString('en-US')} files of 100 bytes in ${Math.ceil(burstFiles / 50)} new directories, written by sync calls in a worker thread; timed from the first write until the target is identical (polled every 20 ms); each round: baseline, then every contender freshly started on a new source dir and an empty module, \`sync\` before each; medians over the rounds`);
  console.log(`machine: ${os.cpus().length} cores, ${loadText()} at start (other work on the machine skews these numbers)`);
  console.log('rsync processes: direct children named rsync, polled from /proc/PID/task/*/children every 5 ms (a lower bound); the agent also reports its own count (state.json rsyncSpawns)');

  const work = fs.mkdtempSync(path.join(process.env.BENCH_AGENT_DIR ?? os.tmpdir(), 'rh-bench-agent-'));
  console.log(`files:  ${work} on ${fsType(work)}`);
  const layout = burstLayout(burstFiles);
  const contenders: Contender[] = [];
  let daemon: BareDaemon | undefined;
  const latency = new Map<string, LatencyResult>();
  const burst = new Map<string, BurstResult[]>();
  const baseline: number[] = [];
  const baselineNoDelay: number[] = [];
  const burstPlans: { label: string; module: string; start: (d: BareDaemon, module: string) => Promise<Contender>; timeoutMs: number }[] = [
    { label: 'agent', module: 'agent', start: (d, m) => startAgent(work, d, m), timeoutMs: 120_000 },
    { label: AGENT_NODE, module: 'agentnode', start: (d, m) => startAgent(work, d, m, AGENT_NODE, undefined, { RSYNCHUB_AGENT_SPAWN: 'node' }), timeoutMs: 120_000 },
    { label: AGENT_PLAIN, module: 'agentplain', start: (d, m) => startAgent(work, d, m, AGENT_PLAIN, '-a'), timeoutMs: 120_000 },
  ];
  const lsyncdDefault = `lsyncd(default delay ${LSYNCD_DEFAULT_DELAY_SEC} s)`;
  if (haveLsyncd) {
    burstPlans.push(
      { label: 'lsyncd(delay=0)', module: 'lsyncd0', start: (d, m) => startLsyncd(work, d, m, 0, 'lsyncd(delay=0)'), timeoutMs: 120_000 },
      { label: lsyncdDefault, module: 'lsyncddef', start: (d, m) => startLsyncd(work, d, m, undefined, lsyncdDefault), timeoutMs: 180_000 },
    );
  }
  const variantEnv = process.env.BENCH_AGENT_VARIANT_ENV ? JSON.parse(process.env.BENCH_AGENT_VARIANT_ENV) as NodeJS.ProcessEnv : undefined;
  if (variantEnv) burstPlans.splice(1, 0, { label: AGENT_VARIANT, module: 'agentvariant', start: (d, m) => startAgent(work, d, m, AGENT_VARIANT, undefined, variantEnv), timeoutMs: 120_000 });
  const only = (process.env.BENCH_AGENT_ONLY ?? '').split(',').map((l) => l.trim()).filter(Boolean);
  if (only.length) burstPlans.splice(0, burstPlans.length, ...burstPlans.filter((p) => only.includes(p.label)));
  const largeMb = Number(process.env.BENCH_AGENT_LARGE_MB ?? 256);
  const largeRounds = Number(process.env.BENCH_AGENT_LARGE_ROUNDS ?? 3);
  let largeSummary = '';
  const latencyPlans = edits > 0 ? burstPlans.filter((p) => p.label !== lsyncdDefault && p.label !== AGENT_PLAIN) : [];

  const runContender = async (start: () => Promise<Contender>, label: string, body: (c: Contender) => Promise<void>) => {
    let c: Contender;
    try {
      c = await start();
    } catch (e) {
      console.log(`   ${label}: cannot start: ${(e as Error).message}`);
      return false;
    }
    contenders.push(c);
    try {
      await body(c);
    } finally {
      await c.stop();
      contenders.splice(contenders.indexOf(c), 1);
    }
    return true;
  };

  try {
    const modules = latencyPlans.map((p) => `${p.module}-edits`);
    for (let r = 1; r <= largeRounds; r++) modules.push(`large-${r}`, `largev-${r}`);
    for (let r = 1; r <= rounds; r++) modules.push(`baseline-${r}`, `baselinend-${r}`, ...burstPlans.map((p) => `${p.module}-${r}`));
    daemon = await startBareDaemon(path.join(work, 'daemon'), await freePort(), modules);
    const d = daemon;

    header('single edits');
    if (latencyPlans.length > 0) {
      // All latency contenders run side by side, idle but for the one being edited; edits go in blocks, taking turns.
      const started: Contender[] = [];
      try {
        for (const plan of latencyPlans) {
          try {
            const c = await plan.start(d, `${plan.module}-edits`);
            c.tracker.stop();
            contenders.push(c);
            started.push(c);
          } catch (e) {
            console.log(`   ${plan.label}: cannot start: ${(e as Error).message}`);
          }
        }
        console.log(`(${started.map((c) => c.label).join(', ')} started side by side; blocks of ${EDIT_BLOCK} edits, taking turns, the first edit of each block not counted)`);
        for (const series of EDIT_SERIES) {
          const results = await measureLatencyInterleaved(started, edits, series.gapMs);
          for (const c of started) {
            const lat = results.get(c.label)!;
            latency.set(`${c.label}|${series.key}`, lat);
            const s = lat.samples;
            console.log(`${c.label.padEnd(16)} ${series.text}: ${latencyText(lat)}  min ${fmt(Math.min(...s))} mean ${fmt(s.reduce((a, b) => a + b, 0) / (s.length || 1))} max ${fmt(Math.max(...s))} ms (${s.length} edits)`);
          }
        }
        // What starting the next standby after each run cost the agent's event loop (the synchronous start call).
        for (const c of started) {
          const starts = c.standbyStarts?.();
          if (!starts?.length) continue;
          const ms = starts.map((x) => x.startMs);
          const via = [...new Set(starts.map((x) => x.via))].join('+');
          console.log(`${c.label.padEnd(16)} warm standby starts: ${starts.length} via ${via}; event loop held per start p50 ${fmt(percentile(ms, 50), 3)} p99 ${fmt(percentile(ms, 99), 3)} max ${fmt(Math.max(...ms), 3)} ms`);
        }
      } finally {
        for (const c of started) {
          await c.stop().catch(() => undefined);
          contenders.splice(contenders.indexOf(c), 1);
        }
      }
    }

    if (largeMb > 0) {
      header(`one large file (${largeMb} MiB) pushed by a single run`);
      console.log('rsyncParams -a; a push this large starts when due (the warm standby carries small pushes only: its relay is one' +
        ' more hop per byte), so both should match;' +
        ' the file is written outside the watched tree, then renamed into it; timed from the rename until the target holds it (size polled every 5 ms, content compared after)');
      const blob = path.join(work, 'large.bin');
      writeLargeFile(blob, largeMb);
      const plans = [{ label: 'agent', env: undefined as NodeJS.ProcessEnv | undefined }, ...(variantEnv ? [{ label: AGENT_VARIANT, env: variantEnv }] : [])]
        .filter((p) => !only.length || only.includes(p.label));
      const times = new Map<string, number[]>();
      for (let r = 1; r <= largeRounds; r++) {
        for (const p of r % 2 ? plans : [...plans].reverse()) {
          await runContender(() => startAgent(work, d, `large${p.label === 'agent' ? '' : 'v'}-${r}`, p.label, '-a', p.env), p.label, async (c) => {
            const sec = await measureLargePush(c, blob, `${r}-${p.label === 'agent' ? 'a' : 'v'}.bin`);
            times.set(p.label, [...(times.get(p.label) ?? []), sec]);
            console.log(`   round ${r} ${p.label.padEnd(16)} ${fmt(sec, 2)} s (${fmt(largeMb / sec, 0)} MiB/s)${c.describeRuns ? `; runs: ${c.describeRuns(Date.now() - sec * 1000 - 50)}` : ''}`);
          });
        }
      }
      largeSummary = plans.map((p) => `${p.label} ${fmt(median(times.get(p.label) ?? [NaN]), 2)} s (${fmt(largeMb / median(times.get(p.label) ?? [NaN]), 0)} MiB/s)`).join(' | ');
      console.log(`large file, median of ${largeRounds}: ${largeSummary}`);
      fs.rmSync(blob, { force: true });
    }

    header(`burst of ${burstFiles.toLocaleString('en-US')} files`);
    for (let r = 1; r <= rounds; r++) {
      console.log(`round ${r}:`);
      // Baseline: the same tree, freshly written like the contenders', then one plain rsync -a into an empty module;
      // then the same with TCP_NODELAY, which the agent sets (shown so the agent's gain from it is visible).
      const baseSrc = path.join(work, `baseline-${r}-src`);
      execFileSync('sync'); // as before each contender's burst
      const written = await writeBurstInWorker(baseSrc, burstFiles);
      const writtenSec = (written.endMs - written.startMs) / 1000;
      for (const [label, module, extra, into] of [
        ['rsync -a', `baseline-${r}`, [], baseline],
        ['rsync -a, TCP_NODELAY', `baselinend-${r}`, ['--sockopts=TCP_NODELAY'], baselineNoDelay],
      ] as const) {
        execFileSync('sync');
        const cpuBefore = cpuSeconds(process.pid);
        const daemonBefore = cpuSeconds(d.pid);
        const t = performance.now();
        const res = await rsync(['-a', ...extra, `${baseSrc}/`, `rsync://127.0.0.1:${d.port}/${module}/`]);
        const sec = (performance.now() - t) / 1000;
        if (res.code !== 0) throw new Error(`baseline ${label} failed (${res.code}): ${res.stderr}`);
        const diffs = burstDiffs(d.moduleDir(module), layout);
        if (diffs.length) throw new Error(`baseline copy differs: ${diffs.slice(0, 5).join(', ')}`);
        await sleep(300); // the daemon reaps its per-connection child, whose CPU then shows in its cutime
        const cpuAfter = cpuSeconds(process.pid);
        const daemonAfter = cpuSeconds(d.pid);
        into.push(sec);
        console.log(`   ${label.padEnd(27)} ${fmt(sec, 2)} s (tree written in ${fmt(writtenSec, 2)} s beforehand, not counted); 1 rsync; ` +
          cpuText({ contender: 0, rsyncClients: cpuAfter.children - cpuBefore.children, daemon: daemonAfter.self + daemonAfter.children - daemonBefore.self - daemonBefore.children }).replace('contender 0.00 s, its rsync clients', 'rsync client'));
      }
      const sec = baseline[baseline.length - 1]!;

      for (const plan of burstPlans) {
        const ok = await runContender(() => plan.start(d, `${plan.module}-${r}`), plan.label, async (c) => {
          const b = await measureBurst(c, d.pid, layout, plan.timeoutMs).catch(
            (e: unknown): BurstResult => ({ createdSec: 0, spawnsSeen: 0, error: (e as Error).message }),
          );
          b.baselineSec = sec;
          burst.set(plan.label, [...(burst.get(plan.label) ?? []), b]);
          console.log(`   ${plan.label.padEnd(27)} ${b.doneSec === undefined ? '-' : `${fmt(b.doneSec, 2)} s (${fmt(b.doneSec / sec, 2)}x)`} after the first write` +
            ` (written in ${fmt(b.createdSec, 2)} s, identical ${b.doneSec === undefined ? '-' : fmt(b.doneSec - b.createdSec, 2)} s after the last write); ` +
            `${b.spawnsSeen} rsync${b.spawnsReported === undefined ? '' : ` (agent's own count ${b.spawnsReported})`}; ${cpuText(b.cpu)}${b.error ? `; ${b.error}` : ''}`);
          if (b.runs) console.log(`      runs (from the agent's log, times from the first write): ${b.runs}`);
        });
        if (!ok) burst.set(plan.label, [...(burst.get(plan.label) ?? []), { createdSec: 0, spawnsSeen: 0, error: 'cannot start' }]);
      }
    }

    header('summary');
    console.log(`(${loadText()} at the end)`);
    if (largeSummary) console.log(`one large file (${largeMb} MiB, rsyncParams -a), medians: ${largeSummary}`);
    const lat = (label: string, key: string) => `${label} ${latencyText(latency.get(`${label}|${key}`))}`;
    for (const series of latencyPlans.length ? EDIT_SERIES : []) {
      console.log(`single edit latency   ${latencyPlans.map((p) => lat(p.label, series.key)).join(' | ')}   [${series.text}]`);
    }
    const base = median(baseline);
    console.log(`burst of ${burstFiles.toLocaleString('en-US')} files, medians of ${rounds} rounds; ratios are per round, against that round's plain rsync -a:`);
    console.log(`   baseline: rsync -a ${fmt(base, 2)} s | rsync -a with TCP_NODELAY ${fmt(median(baselineNoDelay), 2)} s`);
    console.log(`   ${'contender'.padEnd(27)} ${'from the last write'.padEnd(22)} ${'from the first write'.padEnd(22)} ${'vs writing + rsync -a'.padEnd(22)} ${'vs rsync -a alone'.padEnd(18)} rsync processes`);
    const ratios = new Map<string, BurstRatios | undefined>();
    for (const p of burstPlans) {
      const rs = burst.get(p.label) ?? [];
      const r = burstRatios(rs);
      ratios.set(p.label, r);
      const failed = rs.filter((x) => x.doneSec === undefined).length;
      if (!r) {
        console.log(`   ${p.label.padEnd(27)} ${rs.map((x) => x.error).join('; ') || 'not run'}`);
        continue;
      }
      console.log(`   ${p.label.padEnd(27)} ${`${fmt(r.tailSec, 2)} s (${fmt(r.tail, 2)}x)`.padEnd(22)} ${`${fmt(r.doneSec, 2)} s`.padEnd(22)} ` +
        `${`${fmt(r.manual, 2)}x`.padEnd(22)} ${`${fmt(r.first, 2)}x`.padEnd(18)} ${median(rs.map((x) => x.spawnsReported ?? x.spawnsSeen))}` +
        `${failed ? `   [${failed} of ${rs.length} rounds failed]` : ''}`);
    }
    const agentLat = latency.get('agent|isolated');
    const p50 = agentLat && agentLat.samples.length ? percentile(agentLat.samples, 50) : NaN;
    const verdict = (label: string, key: keyof BurstRatios) => {
      const r = ratios.get(label);
      return r ? `${label} ${r[key] <= 1.5 ? 'MET' : 'MISSED'} (${fmt(r[key], 2)}x)` : `${label} not run`;
    };
    for (const series of latencyPlans.length ? EDIT_SERIES : []) {
      const a = latency.get(`agent|${series.key}`);
      const l = latency.get(`lsyncd(delay=0)|${series.key}`);
      if (!a?.samples.length || !l?.samples.length) continue;
      const cmp = (q: number) => `p${q} ${fmt(percentile(a.samples, q))} vs ${fmt(percentile(l.samples, q))} ms ${percentile(a.samples, q) < percentile(l.samples, q) ? 'MET' : 'MISSED'}`;
      console.log(`target: agent single edit below lsyncd(delay=0) [${series.text}]: ${cmp(50)}, ${cmp(99)}`);
    }
    const agents = ['agent', AGENT_NODE, AGENT_PLAIN].filter((l) => burstPlans.some((p) => p.label === l));
    console.log(`targets: agent single-edit p50 < 300 ms (isolated edits): ${agentLat ? `${p50 < 300 && !agentLat.error ? 'MET' : 'MISSED'} (${fmt(p50)} ms)` : 'not measured'}`);
    console.log(`         burst <= 1.5x one plain rsync -a, from the last write (once the tree exists, like the baseline): ${agents.map((l) => verdict(l, 'tail')).join(', ')}`);
    console.log(`         burst <= 1.5x writing the tree + one plain rsync -a, from the first write: ${agents.map((l) => verdict(l, 'manual')).join(', ')}`);
    console.log(`         (for reference, from the first write against rsync -a alone: ${agents.map((l) => `${l} ${fmt(ratios.get(l)?.first ?? NaN, 2)}x`).join(', ')})`);
  } finally {
    for (const c of [...contenders]) await c.stop().catch(() => undefined);
    if (daemon) await daemon.stop().catch(() => undefined);
    if (!process.env.BENCH_AGENT_KEEP) fs.rmSync(work, { recursive: true, force: true });
  }
}
