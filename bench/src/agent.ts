/**
 * Source agent vs lsyncd, side by side in one run, both pushing to modules of one bare `rsync --daemon` on 127.0.0.1:
 * - single-edit latency: a file written and closed on the source -> identical content in the target module (p50/p99);
 * - a burst of 10,000 small files: first write -> the target tree identical, against one plain `rsync -a` of the
 *   same tree as the baseline, with the number of rsync processes each contender spawned.
 * Contenders run one after the other, each with its own source directory and its own module.
 * Env: BENCH_AGENT_EDITS (50), BENCH_AGENT_BURST (10000), BENCH_AGENT_MAIN (path of the agent's dist/main.js).
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, rsync, sleep } from '@rsynchub/testing';
import {
  type BareDaemon, burstDiffs, burstLayout, countBurstFiles, emptyDir, RsyncChildTracker, spawnGroup, startBareDaemon,
  stopGroup, writeBurst,
} from './agent-support';
import { fmt, header, median, percentile } from './stats';

const AGENT_MAIN = process.env.BENCH_AGENT_MAIN ?? path.resolve(__dirname, '../../apps/agent/dist/main.js');
/** lsyncd's default.rsync waits this long (its `delay`) before it pushes anything. */
const LSYNCD_DEFAULT_DELAY_SEC = 15;
/** Files the single edits rotate through: the first ones are creates, the rest overwrite existing files. */
const EDIT_FILES = 5;
/**
 * Two spacings of single edits. @parcel/watcher (the agent's watcher) reports an event at once when the previous one
 * is more than 500 ms old, and otherwise debounces for 50 ms; so isolated edits and edits in quick succession differ.
 */
const EDIT_SERIES = [
  { key: 'isolated', gapMs: 1000, text: 'isolated edits (1 s apart)' },
  { key: 'back-to-back', gapMs: 0, text: 'back-to-back edits (next one as soon as the contender is idle)' },
] as const;

interface Contender {
  label: string;
  src: string;
  target: string;
  tracker: RsyncChildTracker;
  /** No rsync child for this long = idle (longer than the contender's own batching window). */
  quietMs: number;
  /** rsync processes the contender says it spawned (the agent's state.json), when it tells. */
  selfReportedSpawns?: () => number | undefined;
  stop(): Promise<void>;
}

interface LatencyResult {
  samples: number[];
  error?: string;
}

interface BurstResult {
  createdSec: number;
  doneSec?: number;
  spawnsSeen: number;
  spawnsReported?: number;
  error?: string;
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

async function startAgent(work: string, daemon: BareDaemon, module: string): Promise<Contender> {
  const src = path.join(work, 'agent-src');
  const stateDir = path.join(work, 'agent-state');
  const log = path.join(work, 'agent.log');
  fs.mkdirSync(src);
  const config = path.join(work, 'agent.json');
  // Defaults on purpose: batchDelayMs 100, rsyncParams -artuz, no full sync at start.
  fs.writeFileSync(config, JSON.stringify({ name: 'bench', watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: daemon.port, module }] }] }, null, 2));
  const child = spawnGroup(process.execPath, [AGENT_MAIN, 'run', '--config', config, '--state-dir', stateDir, '--log-file', log]);
  const stateFile = path.join(stateDir, 'state.json');
  type State = { rsyncSpawns: number; watches: { watching: boolean }[]; targets: { queueLength: number; inFlight: boolean }[] };
  try {
    await until('agent watching', 20_000, () => readJson<State>(stateFile)?.watches.every((w) => w.watching), child);
  } catch (e) {
    await stopGroup(child);
    throw new Error(`${(e as Error).message}; log: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '(none)'}`);
  }
  const tracker = new RsyncChildTracker(child.pid!).start();
  return {
    label: 'agent',
    src,
    target: daemon.moduleDir(module),
    tracker,
    quietMs: 250,
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
  // default.rsync as shipped (rsync -lts -r --delete, maxProcesses 1); only `delay` is set when asked.
  fs.writeFileSync(config, [
    `settings { nodaemon = true, logfile = ${JSON.stringify(log)} }`,
    'sync {',
    '  default.rsync,',
    `  source = ${JSON.stringify(src)},`,
    `  target = ${JSON.stringify(`rsync://127.0.0.1:${daemon.port}/${module}/`)},`,
    ...(delaySec === undefined ? [] : [`  delay = ${delaySec},`]),
    '}',
    '',
  ].join('\n'));
  const child = spawnGroup('lsyncd', ['-nodaemon', config], { logFile: path.join(work, `${module}.out`) });
  try {
    // lsyncd first mirrors the whole (empty) source, then watches.
    await until('lsyncd startup sync', 20_000, () => fs.existsSync(log) && /Startup of .* finished/.test(fs.readFileSync(log, 'utf8')), child);
  } catch (e) {
    await stopGroup(child);
    const out = path.join(work, `${module}.out`);
    throw new Error(`${(e as Error).message}; output: ${fs.existsSync(out) ? fs.readFileSync(out, 'utf8').slice(-2000) : '(none)'}`);
  }
  const tracker = new RsyncChildTracker(child.pid!).start();
  return {
    label,
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

/** One edit at a time: write + close, then poll the target every 5 ms until its content is identical. */
async function measureLatency(c: Contender, edits: number, gapMs: number): Promise<LatencyResult> {
  const samples: number[] = [];
  let lastWrite = 0;
  try {
    for (let i = 0; i < edits; i++) {
      await c.tracker.waitIdle(c.quietMs, 60_000, `${c.label} before edit ${i}`);
      const wait = lastWrite + gapMs - performance.now();
      if (wait > 0) await sleep(wait);
      const rel = `edit-${i % EDIT_FILES}.txt`;
      const content = Buffer.from(`edit ${i} ${crypto.randomBytes(12).toString('hex')} ${Date.now()}\n`.repeat(1 + (i % 7)));
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
      samples.push(performance.now() - t0);
    }
  } catch (e) {
    return { samples, error: (e as Error).message };
  }
  return { samples };
}

/** Writes the burst, then polls the target (count, a sample's content, then everything) until it is identical. */
async function measureBurst(c: Contender, layout: ReturnType<typeof burstLayout>, timeoutMs: number): Promise<BurstResult> {
  await c.tracker.waitIdle(c.quietMs, 60_000, `${c.label} before the burst`);
  const seenBefore = c.tracker.total;
  const reportedBefore = c.selfReportedSpawns?.();
  const t0 = performance.now();
  writeBurst(c.src, layout);
  const createdSec = (performance.now() - t0) / 1000;
  const res: BurstResult = { createdSec, spawnsSeen: 0 };
  const deadline = t0 + timeoutMs;
  let last = 0;
  for (;;) {
    const tCheck = performance.now();
    last = countBurstFiles(c.target);
    // Files appear under their final name only when complete (rsync renames its temp file), so a full count with a
    // matching sample is the moment of arrival; the full compare confirms it.
    if (last === layout.length && burstDiffs(c.target, layout, 100).length === 0) {
      const diffs = burstDiffs(c.target, layout);
      if (diffs.length === 0) {
        res.doneSec = (tCheck - t0) / 1000;
        break;
      }
    }
    if (performance.now() > deadline) {
      res.error = `not identical after ${fmt(timeoutMs / 1000, 0)} s (${last.toLocaleString('en-US')} of ${layout.length.toLocaleString('en-US')} files)`;
      break;
    }
    await sleep(20);
  }
  try {
    // Long enough for a contender's trailing runs (e.g. lsyncd's second pass for the close events) to show up.
    await c.tracker.waitIdle(Math.max(c.quietMs, 1000), 60_000, `${c.label} after the burst`);
  } catch (e) {
    res.error = (res.error ? res.error + '; ' : '') + (e as Error).message;
  }
  res.spawnsSeen = c.tracker.total - seenBefore;
  if (reportedBefore !== undefined && c.selfReportedSpawns) {
    // state.json is rewritten every 500 ms while busy and once more when the queue drains
    const after = await until('agent state caught up', 5000, () => c.selfReportedSpawns!()).catch(() => undefined);
    if (after !== undefined) res.spawnsReported = after - reportedBefore;
  }
  return res;
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
): Promise<void> {
  header(`source agent vs lsyncd: single-edit latency (${edits} edits) and a burst of ${burstFiles.toLocaleString('en-US')} files`);
  if (!fs.existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} not found: build the agent first (npx tsc -b apps/agent)`);
  const lsyncdVersion = version('lsyncd', ['--version']);
  const haveLsyncd = lsyncdVersion !== 'not installed';
  console.log(`rsync:  ${version('rsync', ['--version'])}; one bare rsync --daemon on 127.0.0.1, anonymous modules, no chroot, transfer logging off`);
  console.log(`agent:  rsynchub-agent ${version(process.execPath, [AGENT_MAIN, '--version'])}, default config: batchDelayMs 100 (window opens at the first event, not extended), rsyncParams -artuz`);
  console.log(haveLsyncd
    ? `lsyncd: ${lsyncdVersion}, default.rsync (rsync -lts -r --delete, maxProcesses 1); run twice: delay = 0 (latency + burst) and its default delay ${LSYNCD_DEFAULT_DELAY_SEC} s (burst only: every edit would wait ${LSYNCD_DEFAULT_DELAY_SEC} s)`
    : 'lsyncd: not installed (apt-get install lsyncd); its columns are skipped');
  console.log(`edits:  write + close of edit-N.txt (${EDIT_FILES} files: ${EDIT_FILES} creates, then overwrites), target polled every 5 ms (read + compare); next edit once the contender has no rsync running`);
  console.log(`burst:  ${burstFiles.toLocaleString('en-US')} files of 100 bytes in ${Math.ceil(burstFiles / 50)} new directories, written by sync calls; timed from the first write until the target is identical (polled every 20 ms)`);
  console.log('rsync processes: direct children named rsync, polled from /proc/PID/task/*/children every 5 ms (a lower bound); the agent also reports its own count (state.json rsyncSpawns)');

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-bench-agent-'));
  const layout = burstLayout(burstFiles);
  const contenders: Contender[] = [];
  let daemon: BareDaemon | undefined;
  const latency = new Map<string, LatencyResult>();
  const burst = new Map<string, BurstResult>();
  const baseline: number[] = [];
  try {
    daemon = await startBareDaemon(path.join(work, 'daemon'), await freePort(), ['baseline', 'agent', 'lsyncd0', 'lsyncddef']);

    // Baseline: one plain rsync -a of the same tree into an empty module, three times (median).
    const baseSrc = path.join(work, 'baseline-src');
    writeBurst(baseSrc, layout);
    execFileSync('sync');
    for (let r = 0; r < 3; r++) {
      emptyDir(daemon.moduleDir('baseline'));
      const t = performance.now();
      const res = await rsync(['-a', `${baseSrc}/`, `rsync://127.0.0.1:${daemon.port}/baseline/`]);
      const sec = (performance.now() - t) / 1000;
      if (res.code !== 0) throw new Error(`baseline rsync -a failed (${res.code}): ${res.stderr}`);
      const diffs = burstDiffs(daemon.moduleDir('baseline'), layout);
      if (diffs.length) throw new Error(`baseline copy differs: ${diffs.slice(0, 5).join(', ')}`);
      baseline.push(sec);
    }
    const base = median(baseline);
    console.log(`\n-- baseline: rsync -a SRC/ rsync://127.0.0.1:PORT/baseline/ into an empty module: median ${fmt(base, 2)} s (runs ${baseline.map((x) => fmt(x, 2)).join(', ')})`);

    const plans: { label: string; start: () => Promise<Contender>; edits: boolean; timeoutMs: number }[] = [
      { label: 'agent', start: () => startAgent(work, daemon!, 'agent'), edits: true, timeoutMs: 120_000 },
    ];
    if (haveLsyncd) {
      plans.push(
        { label: 'lsyncd(delay=0)', start: () => startLsyncd(work, daemon!, 'lsyncd0', 0, 'lsyncd(delay=0)'), edits: true, timeoutMs: 120_000 },
        {
          label: `lsyncd(default delay ${LSYNCD_DEFAULT_DELAY_SEC} s)`,
          start: () => startLsyncd(work, daemon!, 'lsyncddef', undefined, `lsyncd(default delay ${LSYNCD_DEFAULT_DELAY_SEC} s)`),
          edits: false, timeoutMs: 180_000,
        },
      );
    }

    for (const plan of plans) {
      console.log(`\n-- ${plan.label}`);
      let c: Contender;
      try {
        c = await plan.start();
      } catch (e) {
        console.log(`   cannot start: ${(e as Error).message}`);
        burst.set(plan.label, { createdSec: 0, spawnsSeen: 0, error: `cannot start: ${(e as Error).message}` });
        continue;
      }
      contenders.push(c);
      try {
        if (plan.edits) {
          for (const series of EDIT_SERIES) {
            const lat = await measureLatency(c, edits, series.gapMs);
            latency.set(`${c.label}|${series.key}`, lat);
            const s = lat.samples;
            console.log(`   ${series.text}: ${latencyText(lat)}  min ${fmt(Math.min(...s))} mean ${fmt(s.reduce((a, b) => a + b, 0) / (s.length || 1))} max ${fmt(Math.max(...s))} ms (${s.length} edits)`);
          }
        }
        const b = await measureBurst(c, layout, plan.timeoutMs).catch(
          (e: unknown): BurstResult => ({ createdSec: 0, spawnsSeen: 0, error: (e as Error).message }),
        );
        burst.set(c.label, b);
        console.log(`   burst: written in ${fmt(b.createdSec, 2)} s; identical on the target ${b.doneSec === undefined ? '-' : `${fmt(b.doneSec, 2)} s after the first write (${fmt(b.doneSec / base, 2)}x baseline), ${fmt(b.doneSec - b.createdSec, 2)} s after the last`}` +
          `; rsync processes seen ${b.spawnsSeen}${b.spawnsReported === undefined ? '' : `, reported by the agent ${b.spawnsReported}`}${b.error ? `; ${b.error}` : ''}`);
      } finally {
        await c.stop();
        contenders.splice(contenders.indexOf(c), 1);
      }
    }

    header('summary');
    const lat = (label: string, key: string) => `${label} ${latencyText(latency.get(`${label}|${key}`))}`;
    for (const series of EDIT_SERIES) {
      console.log(`single edit latency   ${lat('agent', series.key)}${haveLsyncd ? ` | ${lat('lsyncd(delay=0)', series.key)}` : ''}   [${series.text}]`);
    }
    const b = (label: string, note = '') => {
      const r = burst.get(label);
      if (!r || r.doneSec === undefined) return `${label} ${r?.error ?? 'not run'}`;
      return `${label} ${fmt(r.doneSec, 2)} s (${fmt(r.doneSec / base, 2)}x${note}, ${r.spawnsReported ?? r.spawnsSeen} rsync)`;
    };
    const parts = [`rsync -a baseline ${fmt(base, 2)} s`, b('agent')];
    if (haveLsyncd) parts.push(b(`lsyncd(default delay ${LSYNCD_DEFAULT_DELAY_SEC} s)`), b('lsyncd(delay=0)'));
    console.log(`burst ${burstFiles.toLocaleString('en-US')} files    ${parts.join(' | ')}`);
    const agentLat = latency.get('agent|isolated');
    const agentBurst = burst.get('agent');
    const p50 = agentLat && agentLat.samples.length ? percentile(agentLat.samples, 50) : NaN;
    console.log(`targets: agent single-edit p50 < 300 ms (isolated): ${p50 < 300 && !agentLat?.error ? 'MET' : 'MISSED'} (${fmt(p50)} ms); ` +
      `agent burst <= 1.5x rsync -a: ${agentBurst?.doneSec !== undefined && agentBurst.doneSec <= 1.5 * base ? 'MET' : 'MISSED'} (${agentBurst?.doneSec === undefined ? '-' : fmt(agentBurst.doneSec / base, 2)}x)`);
  } finally {
    for (const c of contenders) await c.stop().catch(() => undefined);
    if (daemon) await daemon.stop().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
}
