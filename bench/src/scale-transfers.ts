import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunningServer, sleep, startServer } from '@rsynchub/testing';
import { type ScaleRow } from './scale-row';
import { fmt, percentile } from './stats';
import { writeSyntheticLog } from './synthetic-log';

/**
 * Scale rows for the transfers area (issue 10): ingestion rates, streamed CSV exports (time, server RSS growth,
 * `/health` latency meanwhile, several at once), running counters, indexed/bounded filters, idle CPU, and retention
 * giving space back. One real server is filled through its real ingestor (a synthetic daemon log, appended while it
 * runs). Default sizes finish in a few minutes; `full` uses the issue's sizes (1M-file session, 10M file events).
 */
export async function scaleTransfers(full: boolean): Promise<ScaleRow[]> {
  const size = full
    ? { oneFileSessions: 200_000, eventLines: 10_000_000, bigSession: 1_000_000 }
    : { oneFileSessions: 110_000, eventLines: 1_000_000, bigSession: 200_000 };
  const rows: ScaleRow[] = [];
  const load = () => `load ${os.loadavg()[0]!.toFixed(1)}`;
  const server = await startWithRetries({
    env: { RSYNCHUB_RETENTION_DAYS: '0', RSYNCHUB_RETENTION_MAX_FILE_EVENTS: '0', RSYNCHUB_RETENTION_MAX_SESSIONS: '0', RSYNCHUB_RETENTION_MAX_REFUSED: '0' },
  });
  try {
    // ---- idle CPU: nothing to ingest, nobody connected
    await sleep(3000);
    const cpu0 = cpuSeconds(server);
    const idleSeconds = 10;
    await sleep(idleSeconds * 1000);
    const idle = ((cpuSeconds(server) - cpu0) / idleSeconds) * 100;
    rows.push({ what: 'idle CPU (no traffic)', measured: `${fmt(idle, 2)} % of a core over ${idleSeconds} s (${load()})`, target: '< 1 %', met: idle < 1 });

    // ---- ingestion: one-file sessions, then 100-file sessions
    const oneFile = await ingest(server, (file) => writeSyntheticLog(file, size.oneFileSessions * 2.5, 1));
    const sRate = oneFile.written.sessions / oneFile.seconds;
    rows.push({
      what: `ingestion, one-file sessions (${fmt(oneFile.written.sessions, 0)})`,
      measured: `${fmt(sRate, 0)} sessions/s, ${fmt(oneFile.written.lines / oneFile.seconds, 0)} lines/s (${load()})`,
      target: '>= 10,000 sessions/s',
      met: sRate >= 10_000,
    });
    const large = await ingest(server, (file) => writeSyntheticLog(file, size.eventLines, 100));
    const lRate = large.written.lines / large.seconds;
    rows.push({
      what: `ingestion, 100-file sessions (${fmt(large.written.lines, 0)} lines)`,
      measured: `${fmt(lRate, 0)} lines/s (${load()})`,
      target: '>= 100,000 lines/s',
      met: lRate >= 100_000,
    });
    const big = await ingest(server, (file) => writeBigSession(file, size.bigSession));
    const sessions = totalSessions(await metricsText(server));
    const bigId = (await server.admin.get('/api/v1/transfers?limit=1&module=big')).body.items[0].id as number;

    // ---- streamed CSV of the big session: time, RSS growth, /health meanwhile; then four at once
    for (const concurrent of [1, 4]) {
      const r = await whileSampling(server, () => Promise.all(Array.from({ length: concurrent }, () => download(server, `/api/v1/transfers/${bigId}/files?format=csv`))));
      const lines = r.result.map((x) => x.lines - 1);
      const allRows = lines.every((n) => n === size.bigSession);
      rows.push({
        what: `CSV of a ${fmt(size.bigSession, 0)}-file session${concurrent > 1 ? ` x${concurrent} at once` : ''}`,
        measured: `${fmt(r.seconds, 1)} s, RSS +${fmt(r.rssGrowthMb, 0)} MB, /health p99 ${fmt(r.healthP99, 0)} ms${allRows ? '' : ` ROWS ${lines.join('/')}`} (${load()})`,
        target: 'RSS growth < 50 MB, /health p99 < 100 ms',
        met: allRows && r.rssGrowthMb < 50 && r.healthP99 < 100,
      });
    }
    // ---- CSV of all transfers: every row
    const all = await whileSampling(server, () => download(server, '/api/v1/transfers?format=csv'));
    rows.push({
      what: `CSV of all transfers (${fmt(sessions, 0)} sessions)`,
      measured: `${fmt(all.result.lines - 1, 0)} rows in ${fmt(all.seconds, 1)} s, RSS +${fmt(all.rssGrowthMb, 0)} MB (${load()})`,
      target: 'every row, streamed',
      met: all.result.lines - 1 === sessions && all.rssGrowthMb < 50,
    });

    // ---- running counters and filters at this history's size
    const events = oneFile.written.files + large.written.files + big.written.files;
    const timed = async (what: string, url: string, targetMs: number) => {
      const ms: number[] = [];
      for (let i = 0; i < 40; i++) {
        const t = performance.now();
        const res = await server.admin.get(url);
        if (res.status !== 200) throw new Error(`${url}: ${res.status} ${res.text.slice(0, 200)}`);
        ms.push(performance.now() - t);
      }
      const p50 = percentile(ms, 50);
      const p99 = percentile(ms, 99);
      rows.push({ what, measured: `p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms (${load()})`, target: `p99 < ${targetMs} ms`, met: p99 < targetMs });
    };
    await timed(`/metrics at ${fmt(sessions, 0)} sessions`, '/metrics', 50);
    await timed(`/transfers/by-module at ${fmt(sessions, 0)} sessions`, '/api/v1/transfers/by-module', 50);
    await timed(`filter user= (no match) at ${fmt(events, 0)} events`, '/api/v1/transfers?user=nobody', 50);
    await timed(`filter user= (all match) at ${fmt(events, 0)} events`, '/api/v1/transfers?user=alice', 50);
    await timed(`filter ip= at ${fmt(events, 0)} events`, '/api/v1/transfers?ip=10.0.0.7', 50);
    await timed(`filter path= (substring, newest 100k events) at ${fmt(events, 0)} events`, '/api/v1/transfers?path=file-42.dat', 50);
    // The synthetic log's sessions all start at 2026-11-25T10:00:00Z: a window before it holds none, one from it all.
    await timed(`filter to= (before all history: no match) at ${fmt(sessions, 0)} sessions`, '/api/v1/transfers?to=2026-11-25T09:00:00Z', 50);
    await timed(`filter from=&to= (a window holding every session) at ${fmt(sessions, 0)} sessions`, '/api/v1/transfers?from=2026-11-25T09:00:00Z&to=2026-11-25T11:00:00Z', 50);
    await timed(`filter from= (all match) at ${fmt(sessions, 0)} sessions`, '/api/v1/transfers?from=2026-11-25T09:00:00Z', 50);
  } finally {
    await server.stop();
  }

  // ---- retention gives the space back, and runs soon after start (interval 5 s: first run after 5 s)
  rows.push(await retentionReuse(server.dataDir));
  fs.rmSync(server.dataDir, { recursive: true, force: true });
  return rows;
}

/** startServer gives up after 30 s; on a machine shared by many jobs the start (argon2, migrations) can take longer. */
async function startWithRetries(opts: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServer(opts);
    } catch (err) {
      if (attempt >= 3) throw err;
      console.log(`server start timed out (${os.loadavg()[0]!.toFixed(1)} load), retrying`);
    }
  }
}

function cpuSeconds(server: RunningServer): number {
  const f = fs.readFileSync(`/proc/${server.process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
}

function rssMb(server: RunningServer): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${server.process.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

function ingestedLines(text: string): number {
  return Number(/^rsynchub_ingested_lines_total (\d+)$/m.exec(text)?.[1] ?? 0);
}

function totalSessions(text: string): number {
  let n = 0;
  for (const m of text.matchAll(/^rsynchub_sessions_total\{[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

/** GET /metrics, retried: under heavy load a keep-alive socket the server just closed can reset one request. */
async function metricsText(server: RunningServer): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await server.admin.get('/metrics')).text;
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(200);
    }
  }
}

/**
 * Has `write` put its lines in a side file first (untimed), then appends that file to the server's log and times the
 * server until it has ingested every line. Generating lines here costs CPU on the machine the server runs on (about
 * 3 s per million lines, the same order as the ingestion itself): timed, it was counted as the server's. The ingest
 * bench (`ingest.ts`) does the same.
 */
async function ingest<T extends { lines: number }>(server: RunningServer, write: (file: string) => T): Promise<{ written: T; seconds: number }> {
  const sideDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-bench-scale-log-'));
  try {
    const side = path.join(sideDir, 'log');
    const written = write(side);
    const before = ingestedLines(await metricsText(server));
    const t0 = performance.now();
    appendFileTo(side, path.join(server.dataDir, 'rsyncd.log'));
    for (;;) {
      const n = ingestedLines(await metricsText(server));
      if (n >= before + written.lines) break;
      if (performance.now() - t0 > 1_800_000) throw new Error(`ingestion stalled at ${n - before} of ${written.lines} lines`);
      await sleep(50);
    }
    return { written, seconds: (performance.now() - t0) / 1000 };
  } finally {
    fs.rmSync(sideDir, { recursive: true, force: true });
  }
}

/** Appends `from` to `to` in 8 MiB writes (the full sizes' logs are gigabytes: never in memory at once). */
function appendFileTo(from: string, to: string): void {
  const src = fs.openSync(from, 'r');
  const dst = fs.openSync(to, 'a');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (let n; (n = fs.readSync(src, buf, 0, buf.length, null)) > 0; ) fs.writeSync(dst, buf, 0, n);
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

/** One push of `files` files (module `big`), as the daemon logs it. */
function writeBigSession(file: string, files: number): { lines: number; files: number } {
  const at = '2026/11/25 11:00:00';
  const pid = 3_900_000;
  const fd = fs.openSync(file, 'a');
  let chunk = `${at} [${pid}] connect from client (10.0.9.9)\n${at} [${pid}] rsync to big/ from carol@client (10.0.9.9)\n`;
  for (let i = 0; i < files; i++) {
    chunk += `${at} [${pid}] recv|10.0.9.9|client|big|carol|${1000 + i}|${1100 + i}|>f+++++++++|2026/11/25-10:59:59|deep/dir${i % 100}/big-file-${i}.bin\n`;
    if (chunk.length > 1 << 20) {
      fs.writeSync(fd, chunk);
      chunk = '';
    }
  }
  fs.writeSync(fd, `${chunk}${at} [${pid}] sent 1 bytes  received ${files} bytes  total size ${files}\n`);
  fs.closeSync(fd);
  return { lines: files + 3, files };
}

/** Reads a response to its end without keeping it, counting lines. */
async function download(server: RunningServer, url: string): Promise<{ bytes: number; lines: number }> {
  const res = await fetch(server.baseUrl + url, { headers: { authorization: `Bearer ${server.admin.token}` } });
  if (res.status !== 200 || !res.body) throw new Error(`${url}: ${res.status}`);
  let bytes = 0;
  let lines = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return { bytes, lines };
}

/** Runs `work` while sampling the server's RSS and timing `/health` every 20 ms. */
async function whileSampling<T>(server: RunningServer, work: () => Promise<T>): Promise<{ result: T; seconds: number; rssGrowthMb: number; healthP99: number }> {
  const rss0 = rssMb(server);
  let rssMax = rss0;
  const health: number[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const t = performance.now();
      await fetch(`${server.baseUrl}/api/v1/health`).then((r) => r.arrayBuffer());
      health.push(performance.now() - t);
      rssMax = Math.max(rssMax, rssMb(server));
      await sleep(20);
    }
  })();
  const t0 = performance.now();
  const result = await work();
  const seconds = (performance.now() - t0) / 1000;
  done = true;
  await sampler;
  rssMax = Math.max(rssMax, rssMb(server));
  return { result, seconds, rssGrowthMb: rssMax - rss0, healthP99: percentile(health, 99) };
}

async function retentionReuse(dataDir: string): Promise<ScaleRow> {
  const db = path.join(dataDir, 'rsynchub.sqlite');
  const sizeMb = () => ['', '-wal'].reduce((n, s) => n + (fs.existsSync(db + s) ? fs.statSync(db + s).size : 0), 0) / 1e6;
  const before = sizeMb();
  const server = await startWithRetries({ dataDir, env: { RSYNCHUB_RETENTION_MAX_FILE_EVENTS: '10000', RSYNCHUB_RETENTION_INTERVAL_SECONDS: '5' } });
  const t0 = performance.now();
  try {
    let after = before;
    while (performance.now() - t0 < 600_000) {
      await sleep(1000);
      after = fs.statSync(db).size / 1e6;
      if (after < before / 2) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      what: 'retention gives space back, soon after start',
      measured: `DB ${fmt(before, 0)} MB -> ${fmt(after, 0)} MB, ${fmt(seconds, 0)} s after start (keep 10k events)`,
      target: 'file shrinks; first run soon after start',
      met: after < before / 2 && seconds < 120,
    };
  } finally {
    await server.stop();
  }
}
