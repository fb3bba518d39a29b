import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseLogLine, splitLogLines } from '@rsynchub/rsync-log';
import { sleep, startServer } from '@rsynchub/testing';
import { fmt, header } from './stats';
import { writeSyntheticLog } from './synthetic-log';

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Ingestion rate: a 1M-line daemon log into SQLite by the real server, next to the bare parse rate of the same bytes. */
export async function benchIngestion(lines = 1_000_000): Promise<void> {
  header(`ingestion of a synthetic daemon log (${fmt(lines, 0)} lines)`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-bench-ingest-'));
  const logFile = path.join(dataDir, 'rsyncd.log');
  const written = writeSyntheticLog(logFile, lines);
  const bytes = fs.statSync(logFile).size;
  console.log(`log: ${fmt(written.lines, 0)} lines, ${fmt(written.files, 0)} file lines, ${fmt(written.sessions, 0)} sessions, ${fmt(bytes / 1e6)} MB`);

  // Baseline: split + parse only, in this process.
  const t0 = process.hrtime.bigint();
  let parsed = 0;
  for (const l of splitLogLines(fs.readFileSync(logFile))) if (parseLogLine(l.line)) parsed++;
  const parseSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const started = Date.now();
  const server = await startServer({ dataDir });
  try {
    let text = '';
    const samples: { t: number; n: number }[] = [];
    for (;;) {
      text = (await server.admin.get('/metrics')).text;
      const n = metric(text, 'rsynchub_ingested_lines_total');
      samples.push({ t: Date.now(), n });
      if (n >= written.lines) break;
      if (Date.now() - started > 600_000) throw new Error(`ingestion stalled at ${n} lines`);
      await sleep(100);
    }
    const end = samples[samples.length - 1]!;
    // The server ingests from its module init; the first sample comes after HTTP is up, so time from spawn.
    const seconds = (end.t - started) / 1000;
    const rss = fs.readFileSync(`/proc/${server.process.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)?.[1];
    const stored = await server.admin.get('/api/v1/stats');
    console.log(`parse only (split + parseLogLine, in-process): ${fmt(parsed / parseSeconds, 0)} lines/s (${fmt(parseSeconds, 2)} s)`);
    console.log(`ingest into SQLite (real server, from spawn, incl. start-up): ${fmt(end.n / seconds, 0)} lines/s (${fmt(seconds, 2)} s)`);
    console.log(`ratio ingest/parse: ${fmt(parseSeconds / seconds, 3)}   server peak RSS: ${rss ? fmt(Number(rss) / 1024, 0) : '?'} MB   today.files: ${stored.body.today.files}`);
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
