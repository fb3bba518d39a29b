import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseLogLine, splitLogLines } from '@rsynchub/rsync-log';
import { type RunningServer, sleep, startServer } from '@rsynchub/testing';
import { fmt, header } from './stats';
import { writeSyntheticLog } from './synthetic-log';

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** GET /metrics, retried: a keep-alive socket the server just closed can reset one request. */
async function ingestedLines(server: RunningServer): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return metric((await server.admin.get('/metrics')).text, 'rsynchub_ingested_lines_total');
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(100);
    }
  }
}

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in USER_HZ ticks
}

/** CPU seconds of each thread of `pid`, summed by thread name (main thread: the process name; libuv-worker: SQLite). */
function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      /* the thread ended */
    }
  }
  return out;
}

/**
 * Ingestion rates of the real server (issue 10 targets: >= 10k one-file sessions/s, >= 100k lines/s for large
 * sessions), next to the bare parse rate of the same bytes. The server is started on an empty log first, then a
 * synthetic daemon log is appended and timed until `/metrics` counts every line: start-up is not in the numbers.
 * RSYNCHUB_SQLITE_VERBOSE is passed on to the server (1: sqlite3's verbose mode, for comparison).
 * BENCH_LINES sets the size of each run (default 1M lines for 100-file sessions, a quarter of that for one-file
 * sessions); BENCH_INGEST_CPU_PROF=<dir> writes a CPU profile of the server there (cpu-profile-preload.ts).
 */
export async function benchIngestion(lines = 1_000_000): Promise<void> {
  const profileDir = process.env.BENCH_INGEST_CPU_PROF;
  const server = await startServer({
    env: {
      RSYNCHUB_RETENTION_DAYS: '0',
      RSYNCHUB_RETENTION_MAX_FILE_EVENTS: '0',
      RSYNCHUB_RETENTION_MAX_SESSIONS: '0',
      RSYNCHUB_RETENTION_MAX_REFUSED: '0',
      // Set to 1 to compare with sqlite3's verbose mode (what TypeORM turned on before).
      ...(process.env.RSYNCHUB_SQLITE_VERBOSE ? { RSYNCHUB_SQLITE_VERBOSE: process.env.RSYNCHUB_SQLITE_VERBOSE } : {}),
      ...(profileDir ? { NODE_OPTIONS: `--require ${path.join(__dirname, 'cpu-profile-preload.js')}`, BENCH_CPU_PROF_DIR: path.resolve(profileDir), BENCH_CPU_PROF_SECONDS: process.env.BENCH_CPU_PROF_SECONDS ?? "30" } : {}),
    },
  });
  const logFile = path.join(server.dataDir, 'rsyncd.log');
  try {
    for (const filesPerSession of [1, 100]) {
      const n = filesPerSession === 1 ? Math.round(lines / 4) : lines;
      header(`ingestion of a synthetic daemon log: ${fmt(n, 0)} lines of ${filesPerSession}-file sessions`);
      await run(server, logFile, n, filesPerSession);
    }
  } finally {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}

async function run(server: RunningServer, logFile: string, lines: number, filesPerSession: number): Promise<void> {
  // The same lines written to a side file first, for the in-process parse baseline.
  const sideDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-bench-ingest-'));
  const side = path.join(sideDir, 'log');
  const written = writeSyntheticLog(side, lines, filesPerSession);
  const data = fs.readFileSync(side);
  fs.rmSync(sideDir, { recursive: true, force: true });
  const t0 = process.hrtime.bigint();
  let parsed = 0;
  for (const l of splitLogLines(data)) if (parseLogLine(l.line)) parsed++;
  const parseSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const before = await ingestedLines(server);
  const cpu0 = cpuSeconds(server.process.pid!);
  const threads0 = threadCpuSeconds(server.process.pid!);
  const started = performance.now();
  // The whole log in one append: generating it line by line here took longer than the server needs to ingest it,
  // so the rate measured was the generator's.
  fs.appendFileSync(logFile, data);
  for (;;) {
    const n = await ingestedLines(server);
    if (n >= before + written.lines) break;
    if (performance.now() - started > 600_000) throw new Error(`ingestion stalled at ${n - before} of ${written.lines} lines`);
    await sleep(Number(process.env.BENCH_POLL_MS ?? 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(server.process.pid!) - cpu0;
  const threads = [...threadCpuSeconds(server.process.pid!)]
    .map(([name, seconds]) => [name, seconds - (threads0.get(name) ?? 0)] as const)
    .filter(([, seconds]) => seconds >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  const rss = fs.readFileSync(`/proc/${server.process.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)?.[1];
  console.log(`log: ${fmt(written.lines, 0)} lines, ${fmt(written.files, 0)} file lines, ${fmt(written.sessions, 0)} sessions`);
  console.log(`parse only (split + parseLogLine, in-process): ${fmt(parsed / parseSeconds, 0)} lines/s (${fmt(parseSeconds, 2)} s)`);
  console.log(
    `ingest into SQLite (real server): ${fmt(written.lines / seconds, 0)} lines/s, ${fmt(written.sessions / seconds, 0)} sessions/s ` +
      `(${fmt(seconds, 2)} s wall, ${fmt(cpu, 2)} s server CPU, load ${os.loadavg()[0]!.toFixed(1)})`,
  );
  console.log(`server CPU by thread: ${threads.map(([name, seconds]) => `${name} ${fmt(seconds, 2)} s`).join(', ')}`);
  console.log(`ratio ingest/parse: ${fmt(parseSeconds / seconds, 3)}   server peak RSS: ${rss ? fmt(Number(rss) / 1024, 0) : '?'} MB`);
}
