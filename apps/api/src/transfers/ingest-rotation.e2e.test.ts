/**
 * The log rotated or truncated while a backlog is being ingested in pipelined batches (issue 10): lines of the
 * rotated file and of the new one are each stored once and in their file's order; after a truncation in place
 * (copytruncate) what was read before stays, nothing is doubled, and the new content is read from its start.
 * Real app, real SQLite file; the daemon is not started (the test writes the log).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createApp } from '../create-app';
import { TransferLogIngestor } from './transfer-log-ingestor';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-ingest-rotation-'));
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = 'ingest-rotation-admin-1';
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

/** 100-file sessions of pids from `firstPid`, file names tagged; returns each file line's key (pid|name) in order. */
function logText(tag: string, firstPid: number, sessions: number): { text: string; keys: string[] } {
  let text = '';
  const keys: string[] = [];
  for (let s = 0; s < sessions; s++) {
    const p = firstPid + s;
    text += `2026/11/25 10:00:00 [${p}] connect from h (10.3.0.1)\n2026/11/25 10:00:00 [${p}] rsync to m/ from u@h (10.3.0.1)\n`;
    for (let i = 0; i < 100; i++) {
      const name = `${tag}/${p}/${i}.dat`;
      text += `2026/11/25 10:00:00 [${p}] recv|10.3.0.1|h|m|u|${i}|${i}|>f+++++++++|2026/11/25-09:59:59|${name}\n`;
      keys.push(`${p}|${name}`);
    }
    text += `2026/11/25 10:00:00 [${p}] sent 1 bytes  received 100 bytes  total size 100\n`;
  }
  return { text, keys };
}

async function storedKeys(tag: string): Promise<string[]> {
  const rows = (await app!.get(DataSource).query(
    `SELECT s.daemon_pid AS pid, f.path FROM file_events f JOIN transfer_sessions s ON s.id = f.session_id WHERE f.path LIKE ? ORDER BY f.id`,
    [`${tag}/%`],
  )) as { pid: number; path: string }[];
  return rows.map((r) => `${r.pid}|${r.path}`);
}

/** Runs ingestion until the log is read, calling `midway` once, from inside a pass, after the first batch committed. */
async function ingestWith(midway: () => void): Promise<void> {
  const ingestor = app!.get(TransferLogIngestor);
  const start = ingestor.stats.linesIngested;
  const done = ingestor.drain();
  let called = false;
  const deadline = Date.now() + 120_000;
  // The pass yields to the event loop while a batch is written: this loop runs between its slices.
  while (!called) {
    assert.ok(Date.now() < deadline, 'ingestion never committed a batch');
    if (ingestor.stats.linesIngested > start) {
      assert.ok(!ingestor.stats.caughtUp, 'still mid-backlog when the log is rotated');
      midway();
      called = true;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  for (let i = 0; i < 200 && !ingestor.stats.caughtUp; i++) await ingestor.drain();
  await ingestor.drain();
}

test('rotation by rename mid-backlog: the renamed file is read to its end and the new one from its start, each line once, in order', async () => {
  app = await createApp({ logger: false });
  await app.init(); // lifecycle hooks: the ingestor follows the log as in the server
  const a = logText('rename-a', 7_000_000, 3000); // ~30 MB: several 4 MiB slices
  const b = logText('rename-b', 7_100_000, 50);
  fs.writeFileSync(LOG, a.text);
  await ingestWith(() => {
    fs.renameSync(LOG, `${LOG}.1`);
    fs.writeFileSync(LOG, b.text);
  });
  assert.deepEqual(await storedKeys('rename-a'), a.keys);
  assert.deepEqual(await storedKeys('rename-b'), b.keys);
  fs.rmSync(`${LOG}.1`);
});

test('truncation in place mid-backlog: nothing doubled, what was stored is the start of the old file, the new content is stored whole', async () => {
  const c = logText('trunc-c', 7_200_000, 3000);
  const d = logText('trunc-d', 7_300_000, 20); // smaller than what was read: the truncation is seen
  fs.appendFileSync(LOG, c.text);
  await ingestWith(() => {
    fs.truncateSync(LOG, 0);
    fs.appendFileSync(LOG, d.text);
  });
  const stored = await storedKeys('trunc-c');
  assert.ok(stored.length > 0, 'some of the old file was stored before the truncation');
  assert.deepEqual(stored, c.keys.slice(0, stored.length), 'the old file\'s lines that were stored are its first ones, once each, in order');
  // copytruncate loses what was written after the last read: the stored part can only be whole sessions' files so far.
  assert.deepEqual(await storedKeys('trunc-d'), d.keys);
  const sessions = (await app!.get(DataSource).query(`SELECT COUNT(*) AS n, COUNT(DISTINCT daemon_pid) AS pids FROM transfer_sessions WHERE daemon_pid >= 7300000`)) as { n: number; pids: number }[];
  assert.equal(sessions[0]!.n, 20);
  assert.equal(sessions[0]!.pids, 20);
});
