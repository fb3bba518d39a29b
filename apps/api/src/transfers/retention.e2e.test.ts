/**
 * Retention against the real app and SQLite file: history comes in through the real ingestor (lines appended to
 * the daemon log), and pruning removes exactly what the limits say.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createApp } from '../create-app';
import { RetentionService } from './retention.service';
import { TransferLogIngestor } from './transfer-log-ingestor';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-retention-'));
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = 'retention-admin-1';
process.env.RSYNCHUB_RETENTION_DAYS = '30';
process.env.RSYNCHUB_RETENTION_MAX_FILE_EVENTS = '25';
process.env.RSYNCHUB_RETENTION_MAX_SESSIONS = '0';
process.env.RSYNCHUB_AUDIT_RETENTION_DAYS = '0';

let app: INestApplication;

function session(pid: number, day: string, files: number, close = true): string {
  const at = `${day} 10:00:00`;
  const lines = [`${at} [${pid}] rsync to m/ from alice@h (10.0.0.1)`];
  for (let i = 0; i < files; i++) lines.push(`${at} [${pid}] recv|10.0.0.1|h|m|alice|1|1|>f+++++++++|2020/01/01-00:00:00|p${pid}-f${i}`);
  if (close) lines.push(`${at} [${pid}] sent 1 bytes  received ${files} bytes  total size ${files}`);
  return lines.join('\n') + '\n';
}

before(async () => {
  app = await createApp({ logger: false });
  await app.init();
  app.get(RetentionService).onApplicationShutdown(); // this test prunes by hand: no scheduled run (30 s after start) in between
});

after(async () => {
  await app?.close();
});

test('pruning removes sessions past the age limit and the oldest file events past the row limit, never an active session', async () => {
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  const old = '2020/01/02';
  // pids far above real ones: the sessions left open must look alive to the tracker's vanished check only by time
  fs.appendFileSync(
    path.join(dataDir, 'rsyncd.log'),
    session(5_000_001, old, 10) + session(5_000_002, today, 20) + session(5_000_003, today, 10) + session(process.pid, old, 3, false),
  );
  await app.get(TransferLogIngestor).drain();
  const db = app.get(DataSource);
  const count = async (sql: string) => Number((await db.query(sql))[0].n);
  assert.equal(await count(`SELECT COUNT(*) AS n FROM transfer_sessions`), 4);
  assert.equal(await count(`SELECT COUNT(*) AS n FROM file_events`), 43);
  const auditBefore = await count(`SELECT COUNT(*) AS n FROM audit_log`);

  const removed = await app.get(RetentionService).prune();
  // age: the old finished session and its 10 files go; the old session still active (this test's own pid) stays
  const left = await db.query(`SELECT daemon_pid AS pid, status FROM transfer_sessions ORDER BY id`);
  assert.deepEqual(left.map((r: { pid: number }) => r.pid), [5_000_002, 5_000_003, process.pid]);
  // by age, the 13 file events dated 2020 go (the active session keeps its row, not its old events); of the 30
  // left, the 5 oldest go for the row limit: the newest 25 stay
  assert.equal(await count(`SELECT COUNT(*) AS n FROM file_events`), 25);
  const oldestKept = (await db.query(`SELECT path FROM file_events ORDER BY id LIMIT 1`))[0].path;
  assert.equal(oldestKept, 'p5000002-f5');
  assert.deepEqual(removed, { sessions: 1, files: 13 + 5, audit: 0, refused: 0 });
  assert.equal(await count(`SELECT COUNT(*) AS n FROM audit_log`), auditBefore, 'the audit log is kept without its own retention');
});
