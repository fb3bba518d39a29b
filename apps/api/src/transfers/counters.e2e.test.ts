/**
 * Running counters (issue 10): `/metrics` totals and `GET /transfers/by-module` come from tables kept by triggers.
 * Against the real app and SQLite file, after random pushes (the captured real daemon log, replayed with new pids,
 * module names in several cases, cut at random line boundaries so sessions span batches), retention, direct
 * deletions and restarts, they must equal a full recount done by the queries the API used before.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createApp } from '../create-app';
import { RetentionService } from './retention.service';
import { TransferLogIngestor } from './transfer-log-ingestor';
import { TransfersService } from './transfers.service';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-counters-'));
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = 'counters-admin-1';
process.env.RSYNCHUB_RETENTION_DAYS = '0';
process.env.RSYNCHUB_RETENTION_MAX_FILE_EVENTS = '400';
process.env.RSYNCHUB_RETENTION_MAX_SESSIONS = '60';
process.env.RSYNCHUB_RETENTION_MAX_REFUSED = '15';
process.env.RSYNCHUB_AUDIT_RETENTION_DAYS = '0';

const FIXTURE = fs.readFileSync(path.resolve(__dirname, '../../../../libs/rsync-log/src/fixtures/rsync-3.5.0-daemon.log'), 'utf8');
const LOG = path.join(dataDir, 'rsyncd.log');

/** Seeded, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

/** The fixture with fresh pids (far above real ones: dead processes) and its modules renamed. */
function replay(copy: number, rand: () => number): string[] {
  const names = ['rw', 'RW', 'Rw', 'other', 'third'];
  const rename = new Map([['rw', names[Math.floor(rand() * names.length)]!], ['ro', rand() < 0.5 ? 'ro' : 'RO']]);
  return FIXTURE.split('\n')
    .filter(Boolean)
    .map((l) =>
      l
        .replace(/\[(\d+)\]/, (_, pid) => `[${4_000_000 + copy * 100_000 + Number(pid)}]`)
        .replace(/ (rsync (?:to|on)|module) (rw|ro)\b/g, (_, w, m) => ` ${w} ${rename.get(m)}`)
        .replace(/\|(rw|ro)\|/, (_, m) => `|${rename.get(m)}|`),
    );
}

async function recount(db: DataSource) {
  const totals = await db.query(
    `SELECT COALESCE(module, '') AS module, status, COUNT(*) AS sessions, SUM(bytes_received) AS bytesReceived, SUM(bytes_sent) AS bytesSent,
       SUM(file_count) AS files, SUM(dir_count) AS dirs FROM transfer_sessions GROUP BY COALESCE(module, ''), status ORDER BY 1, 2`,
  );
  // GET /transfers/by-module before the counters, verbatim
  const activity = await db.query(
    `SELECT s.module AS module, s.started_at AS lastSessionAt, s.status AS lastStatus,
       p.started_at AS lastPushAt, p.total_size AS lastPushSize, p.file_count AS lastPushFiles
     FROM transfer_sessions s
     JOIN (SELECT MAX(id) AS id FROM transfer_sessions WHERE module IS NOT NULL GROUP BY module COLLATE NOCASE) latest ON latest.id = s.id
     LEFT JOIN (SELECT module, MAX(id) AS id FROM transfer_sessions WHERE direction = 'push' AND status = 'success' GROUP BY module COLLATE NOCASE) lp ON lp.module = s.module COLLATE NOCASE
     LEFT JOIN transfer_sessions p ON p.id = lp.id
     ORDER BY s.module`,
  );
  return { totals, activity };
}

let app: INestApplication | null = null;
async function start(): Promise<INestApplication> {
  app = await createApp({ logger: false });
  await app.init();
  // this test prunes by hand; a scheduled run between the recount and the counters' read would race it
  app.get(RetentionService).onApplicationShutdown();
  return app;
}

after(async () => {
  await app?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('counters equal a full recount after random pushes, retention, deletions and restarts', async () => {
  const rand = rng(20261201);
  let a = await start();
  let pending: string[] = [];
  let copy = 0;
  const seen = { retention: 0, restarts: 0, deletions: 0, modules: new Set<string>() };
  for (let round = 0; round < 14; round++) {
    // a random number of whole replays, then a random cut: the rest of the last one comes in a later round
    for (let n = Math.floor(rand() * 3); n >= 0; n--) pending.push(...replay(copy++, rand));
    const cut = Math.floor(rand() * pending.length);
    fs.appendFileSync(LOG, pending.slice(0, cut).join('\n') + (cut ? '\n' : ''));
    pending = pending.slice(cut);
    await a.get(TransferLogIngestor).drain();
    const db = a.get(DataSource);
    if (rand() < 0.5) {
      const removed = await a.get(RetentionService).prune();
      seen.retention += removed.sessions;
      await a.get(RetentionService).vacuum();
    }
    if (rand() < 0.4) {
      // random finished rows, and the row that is some module's newest session or newest successful push
      const victims: { id: number }[] = await db.query(
        `SELECT id FROM (SELECT id FROM transfer_sessions WHERE status != 'active' ORDER BY random() LIMIT 2)
         UNION SELECT id FROM (SELECT MAX(id) AS id FROM transfer_sessions WHERE module IS NOT NULL AND status != 'active' GROUP BY module COLLATE NOCASE ORDER BY random() LIMIT 1)`,
      );
      const pushes: { id: number }[] = await db.query(
        `SELECT MAX(id) AS id FROM transfer_sessions WHERE direction = 'push' AND status = 'success' GROUP BY module COLLATE NOCASE ORDER BY random() LIMIT 1`,
      );
      const ids = [...victims, ...pushes].map((v) => v.id).filter((id) => id !== null);
      await db.query(`DELETE FROM transfer_sessions WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
      seen.deletions += ids.length;
    }
    if (rand() < 0.3) {
      await a.close();
      a = await start();
      seen.restarts++;
    }
    const service = a.get(TransfersService);
    // The ingestor may still settle sessions in the background (e.g. ending one whose process is gone) between the
    // recount and the counters' read: compare only against a recount that did not move while the counters were read.
    let want = await recount(a.get(DataSource));
    let got = { totals: await service.totalsByModule(), activity: await service.activityByModule() };
    for (let tries = 0; tries < 10; tries++) {
      const again = await recount(a.get(DataSource));
      if (isDeepStrictEqual(again, want)) break;
      want = again;
      got = { totals: await service.totalsByModule(), activity: await service.activityByModule() };
    }
    for (const r of want.activity) seen.modules.add(r.module);
    assert.deepEqual(got.totals, want.totals, `totals after round ${round}`);
    assert.deepEqual(got.activity, want.activity, `by-module after round ${round}`);
  }
  // the run exercised what it claims to
  assert.ok(seen.retention > 0 && seen.restarts > 0 && seen.deletions > 0, JSON.stringify({ ...seen, modules: [...seen.modules] }));
  assert.ok(seen.modules.size >= 3, `modules seen: ${[...seen.modules].join(', ')}`);
});

test('space freed by retention goes back to the file system (auto_vacuum = INCREMENTAL)', async () => {
  const a = app ?? (await start());
  const db = a.get(DataSource);
  assert.equal((await db.query(`PRAGMA auto_vacuum`))[0].auto_vacuum, 2, 'the migration switched the file to incremental vacuum');
  const lines: string[] = [`2026/11/30 10:00:00 [4999999] rsync to big/ from alice@h (10.0.0.1)`];
  for (let i = 0; i < 20_000; i++) lines.push(`2026/11/30 10:00:00 [4999999] recv|10.0.0.1|h|big|alice|1|1|>f+++++++++|2020/01/01-00:00:00|${'padding/'.repeat(8)}file-${i}`);
  lines.push(`2026/11/30 10:00:00 [4999999] sent 1 bytes  received 1 bytes  total size 1`);
  fs.appendFileSync(LOG, lines.join('\n') + '\n');
  await a.get(TransferLogIngestor).drain();
  const pages = async () => Number((await db.query(`PRAGMA page_count`))[0].page_count);
  const full = await pages();
  await a.get(RetentionService).prune(); // keeps the newest 400 file events
  assert.ok(Number((await db.query(`PRAGMA freelist_count`))[0].freelist_count) > 100, 'retention freed pages');
  const released = await a.get(RetentionService).vacuum();
  assert.ok(released > 100, `released ${released} pages`);
  assert.equal(Number((await db.query(`PRAGMA freelist_count`))[0].freelist_count), 0);
  assert.ok((await pages()) < full - 100, `the file shrank: ${full} -> ${await pages()} pages`);
});
