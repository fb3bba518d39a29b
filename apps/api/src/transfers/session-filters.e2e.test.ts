/**
 * The sessions list's filters at scale (issue 10): `user=` and `module=` are prefix filters (`LIKE 'x%'`, ASCII case
 * ignored, wildcards in the input taken literally). They are read through NOCASE indexes, chosen per query by
 * bounded index look-ups (few matches: through the index; many matches of few values: value by value in id order,
 * merged; many values: in id order). Against the real app and SQLite file, seeded so every one of those ways is
 * taken: every page (JSON with a cursor, and CSV) must equal a full scan of the table, and the statements that
 * actually ran must be served by the indexes (EXPLAIN QUERY PLAN), not by a scan of all sessions.
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
import { PREFIX_FEW, TransfersService } from './transfers.service';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-filters-'));
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = 'filters-admin-1';
process.env.RSYNCHUB_RETENTION_DAYS = '0';

interface Row {
  module: string | null;
  user: string | null;
  ip: string;
  status: string;
}

/** Seeded, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

/**
 * Oldest first: 3,000 sessions of `bob` in `archive` (a value whose rows are all old), then 9,000 mixed: `alice` in
 * six spellings (many rows, few values), `u00`..`u49` (many rows, many values), `carol` (few rows), NULLs, and values
 * holding `%`, `_` and `\`, over modules of the same shapes.
 */
function seedRows(): Row[] {
  const rand = rng(20261201);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const alices = ['alice', 'Alice', 'ALICE2', 'alice_x', 'alice%y', 'alice\\z'];
  const modules = ['web', 'WEB', 'webshop', 'web_1', 'web%2', 'Web\\3', null, ...Array.from({ length: 40 }, (_, i) => `m${String(i).padStart(2, '0')}`)];
  const rows: Row[] = [];
  for (let i = 0; i < 3000; i++) rows.push({ module: 'archive', user: 'bob', ip: '10.0.0.1', status: 'success' });
  for (let i = 0; i < 9000; i++) {
    const r = rand();
    const user = r < 0.001 ? 'carol' : r < 0.4 ? pick(alices) : r < 0.9 ? `u${String(Math.floor(rand() * 50)).padStart(2, '0')}` : r < 0.95 ? null : 'axb';
    rows.push({ module: pick(modules), user, ip: `10.0.0.${Math.floor(rand() * 6)}`, status: pick(['success', 'success', 'error', 'auth_failed']) });
  }
  return rows;
}

/** SQLite's LIKE 'x%' as the API documents it: ASCII case ignored, the text literal. */
const fold = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
function oracle(all: (Row & { id: number })[], q: TransferQuery): number[] {
  return all
    .filter(
      (r) =>
        (!q.module || (r.module !== null && fold(r.module).startsWith(fold(q.module)))) &&
        (!q.user || (r.user !== null && fold(r.user).startsWith(fold(q.user)))) &&
        (!q.ip || r.ip === q.ip) &&
        (!q.status || r.status === q.status),
    )
    .map((r) => r.id)
    .sort((a, b) => b - a);
}

const QUERIES: TransferQuery[] = [
  {},
  { user: 'nobody' },
  { user: 'bob' },
  { user: 'BOB' },
  { user: 'alice' },
  { user: 'ALI' },
  { user: 'alice_' },
  { user: 'alice%' },
  { user: 'alice\\' },
  { user: 'a' },
  { user: 'carol' },
  { user: 'u' },
  { user: 'u1' },
  { user: 'u07' },
  { module: 'web' },
  { module: 'WEB_' },
  { module: 'web%' },
  { module: 'web\\' },
  { module: 'm' },
  { module: 'archive', user: 'alice' },
  { module: 'web', user: 'alice' },
  { module: 'web', user: 'carol' },
  { module: 'm1', user: 'u2' },
  { module: 'archive', user: 'b' },
  { user: 'alice', ip: '10.0.0.3' },
  { user: 'alice', status: 'error' },
  { user: 'u', status: 'auth_failed' },
  { module: 'web', ip: '10.0.0.5', status: 'success' },
  // hostile: wildcards, the escape character, a quote, non-ASCII, a NUL, the longest allowed value
  { user: '%' },
  { user: '_' },
  { module: '\\' },
  { user: "'" },
  { user: 'é' },
  { module: 'w\u0000' },
  { user: 'a'.repeat(128) },
];

let app: INestApplication;
let all: (Row & { id: number })[] = [];

before(async () => {
  app = await createApp({ logger: false });
  await app.init();
  app.get(RetentionService).onApplicationShutdown();
  const db = app.get(DataSource);
  const rows = seedRows();
  await db.transaction(async (em) => {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await em.query(
        `INSERT INTO transfer_sessions (daemon_pid, module, user, client_ip, client_host, direction, started_at, ended_at, bytes_received,
           bytes_sent, total_size, file_count, dir_count, deleted_count, status, exit_code, error)
         VALUES ${chunk.map(() => `(1, ?, ?, ?, 'h', 'push', '2026-11-30T10:00:00.000Z', '2026-11-30T10:00:01.000Z', 1, 1, 1, 1, 0, 0, ?, 0, NULL)`).join(',')}`,
        chunk.flatMap((r) => [r.module, r.user, r.ip, r.status]),
      );
    }
  });
  all = (await db.query(`SELECT id, module, user, client_ip AS ip, status FROM transfer_sessions`)) as (Row & { id: number })[];
  assert.equal(all.length, rows.length);
});

after(async () => {
  await app?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('prefix filters (user=, module=) and their combinations list exactly what a full scan finds, page by page and as CSV', async () => {
  const service = app.get(TransfersService);
  for (const q of QUERIES) {
    const want = oracle(all, q);
    assert.deepEqual(await listAll(service, q, 97), want, `JSON pages of 97, ${JSON.stringify(q)}`);
    assert.deepEqual((await service.list({ ...q, limit: 500 })).items.map((s) => s.id), want.slice(0, 500), `first page of 500, ${JSON.stringify(q)}`);
    assert.deepEqual(await csvIds(service, q), want, `CSV, ${JSON.stringify(q)}`);
  }
  // the seed covers what it claims: no match, few matches, many of few values, many values
  assert.equal(oracle(all, { user: 'nobody' }).length, 0);
  assert.ok(oracle(all, { user: 'carol' }).length < 100);
  assert.ok(oracle(all, { user: 'alice' }).length > 2000 && oracle(all, { user: 'bob' }).length > 2000);
  assert.ok(new Set(all.filter((r) => r.user?.startsWith('u')).map((r) => r.user)).size > 32 && oracle(all, { user: 'u' }).length > 2000);
});

test('prefix filters are served by NOCASE indexes (EXPLAIN QUERY PLAN of the statements that ran): no scan of all sessions, no sort of all matches', async () => {
  const service = app.get(TransfersService);
  const db = app.get(DataSource);
  // node-sqlite3 reports every statement as it starts, its parameters filled in
  const conn = (db.driver as unknown as { databaseConnection: NodeJS.EventEmitter }).databaseConnection;
  const ran: string[] = [];
  const trace = (sql: string) => ran.push(sql);
  conn.on('trace', trace);
  const plansOf = async (q: TransferQuery) => {
    ran.length = 0;
    await service.list({ ...q, limit: 50 });
    // trace reports arrive asynchronously, in order: once a later marker statement is reported, all of these are
    await db.query(`SELECT 'trace-marker'`);
    for (const deadline = Date.now() + 10_000; !ran.some((s) => s.includes('trace-marker')); ) {
      assert.ok(Date.now() < deadline, 'the trace reports arrive');
      await new Promise((r) => setTimeout(r, 5));
    }
    const statements = ran.filter((s) => /^\s*(SELECT|WITH)\b/i.test(s) && /transfer_sessions/.test(s) && !s.includes('trace-marker'));
    assert.ok(statements.length > 0, `statements seen for ${JSON.stringify(q)}`);
    const plans: string[] = [];
    for (const sql of statements) plans.push(((await db.query(`EXPLAIN QUERY PLAN ${sql}`)) as { detail: string }[]).map((p) => p.detail).join(' | '));
    return plans;
  };
  try {
    assert.ok(oracle(all, { module: 'web' }).length < PREFIX_FEW && oracle(all, { module: 'archive' }).length >= PREFIX_FEW);
    for (const [q, index] of [
      [{ user: 'nobody' }, 'idx_sessions_user_nocase'],
      [{ user: 'carol' }, 'idx_sessions_user_nocase'],
      [{ user: 'alice' }, 'idx_sessions_user_nocase'],
      [{ user: 'bob' }, 'idx_sessions_user_nocase'],
      [{ module: 'web' }, 'idx_sessions_module_nocase'],
      [{ module: 'archive' }, 'idx_sessions_module_nocase'],
      [{ module: 'archive', user: 'carol' }, 'idx_sessions_user_nocase'],
    ] as const) {
      const plans = await plansOf(q);
      const text = plans.join('\n');
      assert.ok(text.includes(index), `${JSON.stringify(q)} uses ${index}:\n${text}`);
      for (const p of plans) {
        assert.doesNotMatch(p, /\bSCAN s\b|\bSCAN transfer_sessions\b/, `${JSON.stringify(q)}: no scan of all sessions:\n${p}`);
        // a sort is fine only over a bounded set: fewer than PREFIX_FEW matches, or the page's own ids (the merge's last step)
        if (oracle(all, q).length >= PREFIX_FEW) assert.doesNotMatch(p, /TEMP B-TREE FOR ORDER BY.*$/m, `${JSON.stringify(q)}: no sort of all matches:\n${p}`);
      }
    }
  } finally {
    conn.off('trace', trace);
  }
});
