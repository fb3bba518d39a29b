/**
 * Ingestion under kill -9 (issue 10: batched, pipelined ingestion). The real server is killed with SIGKILL again
 * and again while it works through a large backlog of the daemon log, and restarted on the same data dir each time.
 * Each batch commits its rows together with the log offset it reached, so after the last restart the database must
 * hold every session and file event of the log exactly once, in log order: exactly what the pure SessionTracker
 * makes of the whole log in one go. Real server processes, real SQLite file; the daemon is not started (the test
 * writes the log).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sqlite3 from 'sqlite3';
import { emptyEffects, parseLogLine, SessionTracker, splitLogLines } from '@rsynchub/rsync-log';
import { sleep, startServer, waitFor } from '@rsynchub/testing';

const ENV = {
  RSYNCHUB_START_DAEMON: 'false',
  RSYNCHUB_RETENTION_DAYS: '0',
  RSYNCHUB_RETENTION_MAX_FILE_EVENTS: '0',
  RSYNCHUB_RETENTION_MAX_SESSIONS: '0',
  RSYNCHUB_RETENTION_MAX_REFUSED: '0',
};

/** ~`target` bytes of daemon log: interleaved one-file and 100-file sessions, some ending in an error, odd names. */
function writeLog(file: string, target: number, firstPid: number): void {
  const fd = fs.openSync(file, 'a');
  let pid = firstPid; // far above real pids: every process is "gone"
  let bytes = 0;
  let chunk = '';
  let round = 0;
  while (bytes < target) {
    round++;
    const files = round % 3 === 0 ? 100 : 1;
    const pids = Array.from({ length: files === 100 ? 2 : 4 }, () => pid++);
    const t = `2026/11/25 1${Math.floor(round / 3600) % 10}:${String(Math.floor(round / 60) % 60).padStart(2, '0')}:${String(round % 60).padStart(2, '0')}`;
    for (const p of pids) chunk += `${t} [${p}] connect from h${p % 3} (10.2.${p % 200}.${p % 250})\n${t} [${p}] rsync to m${p % 4}/ from u${p % 5}@h${p % 3} (10.2.${p % 200}.${p % 250})\n`;
    for (let i = 0; i < files; i++) {
      for (const p of pids) chunk += `${t} [${p}] recv|10.2.${p % 200}.${p % 250}|h${p % 3}|m${p % 4}|u${p % 5}|${i}|${i + 40}|>f+++++++++|2026/11/25-09:59:59|d${i % 5}/${p}-${i} 'q' \\#012|x.dat\n`;
    }
    for (const p of pids) {
      if (p % 11 === 0) chunk += `${t} [${p}] rsync error: error in rsync protocol data stream (code 12) at io.c(232) [receiver=3.5.0]\n`;
      else chunk += `${t} [${p}] sent ${p % 1000} bytes  received ${files * 40 + (p % 97)} bytes  total size ${files * 50}\n`;
    }
    if (chunk.length > 1 << 20) {
      bytes += fs.writeSync(fd, chunk);
      chunk = '';
    }
  }
  fs.writeSync(fd, chunk);
  fs.closeSync(fd);
}

function all<T>(file: string, sql: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      db.all(sql, (e: Error | null, rows: T[]) => db.close(() => (e ? reject(e) : resolve(rows))));
    });
  });
}

test('kill -9 again and again mid-backlog: after the restarts every session and file event is stored once, in log order', { timeout: 600_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-ingest-crash-'));
  const log = path.join(dataDir, 'rsyncd.log');
  const db = path.join(dataDir, 'rsynchub.sqlite');
  try {
    const offset = async () => {
      const rows = await all<{ files_json: string }>(db, 'SELECT files_json FROM ingest_state WHERE id = 1').catch(() => []);
      return rows.length ? ((JSON.parse(rows[0]!.files_json) as { offset: number }[])[0]?.offset ?? 0) : 0;
    };
    let kills = 0;
    for (let round = 0; round < 4; round++) {
      const server = await startServer({ dataDir, env: ENV, waitForDaemon: false });
      // Up and caught up; now a new backlog (two and a half 4 MiB read slices), killed once its first batch committed,
      // a little later each round (the kill lands at a different point of the parse/write pipeline).
      const before = await offset();
      writeLog(log, 10 << 20, 6_000_000 + round * 100_000);
      const size = fs.statSync(log).size;
      await waitFor('a batch of the new backlog committed', async () => (await offset()) > before, 120_000);
      await sleep(round * 40);
      await server.kill();
      if ((await offset()) < size) kills++;
    }
    assert.ok(kills >= 3, `the server was killed mid-backlog ${kills} times of 4`);
    const size = fs.statSync(log).size;
    const final = await startServer({ dataDir, env: ENV, waitForDaemon: false });
    try {
      await waitFor('the whole log ingested', async () => (await offset()) === size, 300_000);
    } finally {
      await final.stop();
    }

    // The oracle: the pure tracker over every line in one batch.
    const tracker = new SessionTracker();
    const fx = emptyEffects();
    for (const l of splitLogLines(fs.readFileSync(log))) {
      const e = parseLogLine(l.line);
      if (e) tracker.apply(e, fx, 0);
    }
    const sessionKey = (s: { daemonPid: number; status: string; fileCount: number; bytesReceived: number; error: string | null; endedAt: string | null }) =>
      JSON.stringify([s.daemonPid, s.status, s.fileCount, s.bytesReceived, s.error, s.endedAt]);
    const expectedSessions = fx.inserted.map((s) => sessionKey({ ...s, endedAt: s.endedAt ? s.endedAt.toISOString() : null })).sort();
    const storedSessions = (
      await all<{ daemonPid: number; status: string; fileCount: number; bytesReceived: number; error: string | null; endedAt: string | null }>(
        db,
        'SELECT daemon_pid AS daemonPid, status, file_count AS fileCount, bytes_received AS bytesReceived, error, ended_at AS endedAt FROM transfer_sessions',
      )
    )
      .map(sessionKey)
      .sort();
    assert.ok(expectedSessions.length > 5_000, 'a big log');
    assert.equal(storedSessions.length, expectedSessions.length, 'one row per session: none lost, none doubled');
    const sdiff = storedSessions.findIndex((s, i) => s !== expectedSessions[i]);
    assert.equal(sdiff, -1, sdiff >= 0 ? `stored ${storedSessions[sdiff]} expected ${expectedSessions[sdiff]}` : '');

    const expectedFiles = fx.files.map((f) => `${f.session.daemonPid}|${f.path}|${f.size}`);
    const storedFiles = (
      await all<{ pid: number; path: string; size: number }>(
        db,
        'SELECT s.daemon_pid AS pid, f.path, f.size FROM file_events f JOIN transfer_sessions s ON s.id = f.session_id ORDER BY f.id',
      )
    ).map((f) => `${f.pid}|${f.path}|${f.size}`);
    assert.equal(storedFiles.length, expectedFiles.length, 'one row per file line: none lost, none doubled');
    const fdiff = storedFiles.findIndex((f, i) => f !== expectedFiles[i]);
    assert.equal(fdiff, -1, fdiff >= 0 ? `file ${fdiff}: stored ${storedFiles[fdiff]} expected ${expectedFiles[fdiff]}` : '');
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
