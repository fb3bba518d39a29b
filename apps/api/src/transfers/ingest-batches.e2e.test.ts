/**
 * Ingestion parses the next slice of a backlog while the previous one is being written (issue 10, ingestion speed).
 * Whatever the slicing, the stored sessions and file events must be exactly what the pure SessionTracker makes of
 * the whole log in one go. The log is large enough (several read slices) that sessions start in one slice and end
 * in a later one, including one-file sessions, 100-file sessions, interleaved pids and sessions ending in an error.
 * Real app, real SQLite file; the daemon is not started (the log is written by the test).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { emptyEffects, parseLogLine, SessionTracker, splitLogLines } from '@rsynchub/rsync-log';
import { createApp } from '../create-app';
import { TransferLogIngestor } from './transfer-log-ingestor';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-ingest-batches-'));
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = 'ingest-batches-admin-1';
process.env.RSYNCHUB_RETENTION_DAYS = '0';
process.env.RSYNCHUB_RETENTION_MAX_FILE_EVENTS = '0';
process.env.RSYNCHUB_RETENTION_MAX_SESSIONS = '0';
process.env.RSYNCHUB_RETENTION_MAX_REFUSED = '0';
process.env.RSYNCHUB_AUDIT_RETENTION_DAYS = '0';
const LOG = path.join(dataDir, 'rsyncd.log');

let app: INestApplication | null = null;
after(async () => {
  await app?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A daemon log in the format RsyncHub configures, pids far above real ones (dead processes), ~`target` bytes. */
function writeLog(target: number): void {
  const fd = fs.openSync(LOG, 'a');
  let pid = 5_000_000;
  let bytes = 0;
  let chunk = '';
  let round = 0;
  const at = (s: number) => `2026/11/25 10:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  while (bytes < target) {
    round++;
    // Alternately two interleaved 100-file sessions, or five one-file sessions; every 7th session fails.
    const files = round % 2 === 0 ? 100 : 1;
    const pids = Array.from({ length: files === 100 ? 2 : 5 }, () => pid++);
    const t = at(round);
    for (const p of pids) chunk += `${t} [${p}] connect from client${p % 3} (10.1.${p % 200}.${p % 250})\n${t} [${p}] rsync to mod${p % 4}/ from user${p % 5}@client${p % 3} (10.1.${p % 200}.${p % 250})\n`;
    for (let i = 0; i < files; i++) {
      for (const p of pids) {
        chunk += `${t} [${p}] recv|10.1.${p % 200}.${p % 250}|client${p % 3}|mod${p % 4}|user${p % 5}|${1000 + i}|${1100 + i}|>f+++++++++|2026/11/25-09:59:59|d${i % 7}/s-${p}-f-${i}, "odd" name.dat\n`;
      }
    }
    for (const p of pids) {
      if (p % 7 === 0) chunk += `${t} [${p}] rsync error: error in rsync protocol data stream (code 12) at io.c(232) [receiver=3.5.0]\n`;
      else chunk += `${t} [${p}] sent ${p % 1000} bytes  received ${files * 1100 + (p % 97)} bytes  total size ${files * 1000}\n`;
    }
    if (chunk.length > 1 << 20) {
      bytes += fs.writeSync(fd, chunk);
      chunk = '';
    }
  }
  bytes += fs.writeSync(fd, chunk);
  fs.closeSync(fd);
}

test('sessions and file events stored from a backlog of many read slices equal the tracker\'s result for the whole log at once', async () => {
  writeLog(14 << 20); // more than three 4 MiB read slices
  // The oracle: the pure tracker over every line in one batch.
  const tracker = new SessionTracker();
  const fx = emptyEffects();
  let lines = 0;
  for (const l of splitLogLines(fs.readFileSync(LOG))) {
    lines++;
    const e = parseLogLine(l.line);
    if (e) tracker.apply(e, fx, 0);
  }
  assert.ok(fx.inserted.length > 2_000 && fx.files.length > 50_000, 'a big log');
  const key = (s: { daemonPid: number; module: string | null; user: string | null; clientIp: string; clientHost: string; direction: string | null;
    startedAt: string; endedAt: string | null; bytesReceived: number; bytesSent: number; totalSize: number; fileCount: number; dirCount: number;
    deletedCount: number; status: string; exitCode: number | null; error: string | null }) =>
    JSON.stringify([s.daemonPid, s.module, s.user, s.clientIp, s.clientHost, s.direction, s.startedAt, s.endedAt, s.bytesReceived, s.bytesSent,
      s.totalSize, s.fileCount, s.dirCount, s.deletedCount, s.status, s.exitCode, s.error]);
  const expectedSessions = fx.inserted
    .map((s) => key({ ...s, startedAt: s.startedAt.toISOString(), endedAt: s.endedAt ? s.endedAt.toISOString() : null }))
    .sort();
  const expectedFiles = fx.files.map((f) => JSON.stringify([f.session.daemonPid, f.at.toISOString(), f.op, f.path, f.size, f.bytes, f.itemize]));

  app = await createApp({ logger: false });
  const ingestor = app.get(TransferLogIngestor);
  const deadline = Date.now() + 300_000;
  while (ingestor.stats.linesIngested < lines) {
    assert.ok(Date.now() < deadline, `ingested ${ingestor.stats.linesIngested} of ${lines} lines`);
    await ingestor.drain();
  }
  const db = app.get(DataSource);
  const rows = (await db.query(
    `SELECT daemon_pid AS daemonPid, module, user, client_ip AS clientIp, client_host AS clientHost, direction, started_at AS startedAt,
       ended_at AS endedAt, bytes_received AS bytesReceived, bytes_sent AS bytesSent, total_size AS totalSize, file_count AS fileCount,
       dir_count AS dirCount, deleted_count AS deletedCount, status, exit_code AS exitCode, error FROM transfer_sessions`,
  )) as Parameters<typeof key>[0][];
  const stored = rows.map(key).sort();
  assert.equal(stored.length, expectedSessions.length, 'one row per session');
  const diff = stored.findIndex((s, i) => s !== expectedSessions[i]);
  assert.equal(diff, -1, diff >= 0 ? `first difference: stored ${stored[diff]} expected ${expectedSessions[diff]}` : '');
  // File events in log order (ids ascending), each tied to its own session.
  const files = (await db.query(
    `SELECT s.daemon_pid AS pid, f.at, f.op, f.path, f.size, f.bytes, f.itemize FROM file_events f JOIN transfer_sessions s ON s.id = f.session_id ORDER BY f.id`,
  )) as { pid: number; at: string; op: string; path: string; size: number; bytes: number; itemize: string }[];
  assert.equal(files.length, expectedFiles.length, 'one row per file line');
  const fdiff = files.findIndex((f, i) => JSON.stringify([f.pid, f.at, f.op, f.path, f.size, f.bytes, f.itemize]) !== expectedFiles[i]);
  assert.equal(fdiff, -1, fdiff >= 0 ? `first file difference at ${fdiff}: ${JSON.stringify(files[fdiff])} expected ${expectedFiles[fdiff]}` : '');
});
