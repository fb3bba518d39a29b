/**
 * The sessions list's time window (`from=`, `to=`) at scale (issue 10). Left to SQLite's planner, `to=` alone walked
 * every newer session in id order and `from=`+`to=` sorted every session of the window: a window of old history cost
 * time in proportion to the whole history. A window holding fewer than PREFIX_FEW sessions is now read by its ids,
 * found in idx_sessions_started. Against the real app and SQLite file: every page (JSON with a cursor, and CSV) must
 * equal a full scan, also when start times are not in id order; and the statements that ran for a narrow window
 * must not scan the sessions table (EXPLAIN QUERY PLAN). A wide window with few sessions newer than it is read in
 * id order: its page must not be sorted out of the time index.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { TransferQuery } from '@rsynchub/contracts';
import { DataSource } from 'typeorm';
import { createApp } from '../create-app';
import { RetentionService } from './retention.service';
import { csvIds, listAll } from './session-pages.testing';
import { PREFIX_FEW, TIME_WALK_MAX, TransfersService } from './transfers.service';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-time-filters-'));
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = 'time-filters-admin-1';
process.env.RSYNCHUB_RETENTION_DAYS = '0';

interface Row {
  id: number;
  module: string;
  user: string;
  status: string;
  startedAt: string;
}

const T0 = Date.UTC(2026, 0, 1);
const minute = (k: number) => new Date(T0 + k * 60_000).toISOString();

/** 24,000 sessions a minute apart in id order, except every 97th, which carries a start time from long before. */
function seed(): Omit<Row, 'id'>[] {
  return Array.from({ length: 24_000 }, (_, i) => ({
    module: `m${i % 7}`,
    user: `u${i % 5}`,
    status: i % 3 === 0 ? 'error' : 'success',
    startedAt: minute(i % 97 === 0 ? Math.floor(i / 10) : i),
  }));
}

const QUERIES: TransferQuery[] = [
  { from: minute(11_000) }, // recent: many
  { to: minute(1_500) }, // old only: fewer than PREFIX_FEW, some of them late ids
  { to: minute(3_000) }, // old only: more than PREFIX_FEW
  { from: minute(500), to: minute(600) }, // narrow window, with late ids (sessions written long after)
  { from: minute(1_000), to: minute(3_500) }, // wide window, many newer sessions: left to the planner
  { from: minute(2_000), to: minute(9_000) }, // wide window, fewer newer sessions than TIME_WALK_MAX: read in id order
  { from: minute(8_000), to: minute(21_000) }, // wide window, few newer sessions: read in id order
  { from: minute(1_000), to: minute(23_990) }, // wide window holding nearly all, late ids before it
  { from: minute(30_000) }, // none
  { from: minute(600), to: minute(601) }, // one minute: an on-time session and late ones
  { from: minute(5_000), to: minute(5_500), module: 'm3' },
  { from: minute(5_000), to: minute(5_500), user: 'u1', status: 'error' },
  { to: minute(1_500), module: 'm1' },
  { from: '2026-01-03T00:00:00+02:00', to: '2026-01-04' }, // other spellings of a time
];

let app: INestApplication;
let all: Row[] = [];

before(async () => {
  app = await createApp({ logger: false });
  await app.init();
  app.get(RetentionService).onApplicationShutdown();
  const db = app.get(DataSource);
  const rows = seed();
  await db.transaction(async (em) => {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await em.query(
        `INSERT INTO transfer_sessions (daemon_pid, module, user, client_ip, client_host, direction, started_at, ended_at, bytes_received,
           bytes_sent, total_size, file_count, dir_count, deleted_count, status, exit_code, error)
         VALUES ${chunk.map(() => `(1, ?, ?, '10.0.0.1', 'h', 'push', ?, NULL, 1, 1, 1, 1, 0, 0, ?, 0, NULL)`).join(',')}`,
        chunk.flatMap((r) => [r.module, r.user, r.startedAt, r.status]),
      );
    }
  });
  all = (await db.query(`SELECT id, module, user, status, started_at AS startedAt FROM transfer_sessions`)) as Row[];
  assert.equal(all.length, rows.length);
});

after(async () => {
  await app?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function oracle(q: TransferQuery): number[] {
  const from = q.from ? new Date(q.from).toISOString() : null;
  const to = q.to ? new Date(q.to).toISOString() : null;
  return all
    .filter((r) => (!from || r.startedAt >= from) && (!to || r.startedAt < to))
    .filter((r) => (!q.module || r.module.toLowerCase().startsWith(q.module.toLowerCase())) && (!q.user || r.user.toLowerCase().startsWith(q.user.toLowerCase())))
    .filter((r) => !q.status || r.status === q.status)
    .map((r) => r.id)
    .sort((a, b) => b - a);
}

test('from= and to= list exactly what a full scan finds, page by page and as CSV, also with start times out of id order', async () => {
  const service = app.get(TransfersService);
  for (const q of QUERIES) {
    const want = oracle(q);
    assert.deepEqual(await listAll(service, q, 97), want, `JSON pages of 97, ${JSON.stringify(q)}`);
    assert.deepEqual(await csvIds(service, q), want, `CSV, ${JSON.stringify(q)}`);
  }
  // the seed covers what it claims
  assert.ok(oracle({ to: minute(1_500) }).length < PREFIX_FEW && oracle({ to: minute(3_000) }).length >= PREFIX_FEW);
  assert.ok(oracle({ from: minute(500), to: minute(600) }).some((id) => id > 1_000), 'a late id inside a narrow window');
  assert.equal(oracle({ from: minute(30_000) }).length, 0);
  const newer = (to: number) => all.filter((r) => r.startedAt >= minute(to)).length;
  assert.ok(newer(3_500) >= TIME_WALK_MAX && newer(9_000) < TIME_WALK_MAX, 'both kinds of wide window are covered');
  await assert.rejects(service.list({ from: 'yesterday' }), /from: must be an ISO 8601 time/);
});

/** The plans (EXPLAIN QUERY PLAN) of the SELECTs on transfer_sessions that one `list(q)` ran. */
async function plansOf(q: TransferQuery): Promise<{ sql: string; plan: string }[]> {
  const service = app.get(TransfersService);
  const db = app.get(DataSource);
  const conn = (db.driver as unknown as { databaseConnection: NodeJS.EventEmitter }).databaseConnection;
  const ran: string[] = [];
  const trace = (sql: string) => ran.push(sql);
  conn.on('trace', trace);
  try {
    await service.list({ ...q, limit: 50 });
    await db.query(`SELECT 'trace-marker'`);
    for (const deadline = Date.now() + 10_000; !ran.some((s) => s.includes('trace-marker')); ) {
      assert.ok(Date.now() < deadline, 'the trace reports arrive');
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    conn.removeListener('trace', trace); // not off(): node-sqlite3 only turns tracing off (a toggle) in its own removeListener
  }
  const statements = ran.filter((s) => /^\s*(SELECT|WITH)\b/i.test(s) && /transfer_sessions/.test(s) && !s.includes('trace-marker'));
  assert.ok(statements.length > 0, `statements seen for ${JSON.stringify(q)}`);
  return Promise.all(
    statements.map(async (sql) => ({ sql, plan: ((await db.query(`EXPLAIN QUERY PLAN ${sql}`)) as { detail: string }[]).map((p) => p.detail).join(' | ') })),
  );
}

test('a narrow from=/to= window is read by its ids (EXPLAIN QUERY PLAN of the statements that ran): no scan of the sessions table', async () => {
  for (const q of [{ to: minute(1_500) }, { from: minute(500), to: minute(600) }, { from: minute(30_000) }, { to: minute(1_500), module: 'm1' }] as TransferQuery[]) {
    for (const { sql, plan } of await plansOf(q)) {
      assert.doesNotMatch(plan, /\bSCAN s\b|\bSCAN transfer_sessions\b/, `${JSON.stringify(q)}: no scan of all sessions:\n${sql}\n${plan}`);
    }
  }
});

test('a wide from=/to= window with few newer sessions is read in id order: the page is not sorted out of the time index', async () => {
  for (const q of [{ from: minute(8_000), to: minute(21_000) }, { from: minute(1_000) }] as TransferQuery[]) {
    const pages = (await plansOf(q)).filter((p) => /ORDER BY/i.test(p.sql));
    assert.equal(pages.length, 1, `one page query for ${JSON.stringify(q)}`);
    assert.doesNotMatch(pages[0]!.plan, /TEMP B-TREE|idx_sessions_started/, `${JSON.stringify(q)}: an id-order walk:\n${pages[0]!.sql}\n${pages[0]!.plan}`);
  }
});
