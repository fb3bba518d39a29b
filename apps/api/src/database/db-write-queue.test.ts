/**
 * DbWriteQueue's commit without fsync, on a real SQLite file in WAL mode: it applies to that one transaction only,
 * whatever happens in it, and every other write keeps waiting for the disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import { DbWriteQueue } from './db-write-queue';
import { sqliteDriver } from './sqlite-driver';

const FULL = 2;
const NORMAL = 1;
const syncLevel = async (em: EntityManager | DataSource) => Number((await em.query('PRAGMA synchronous'))[0].synchronous);

test('transactionWithoutFsync commits with synchronous = NORMAL for that transaction only; FULL before, after, after a failure, and for queued transactions', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-write-queue-'));
  const ds = new DataSource({ type: 'sqlite', database: path.join(dir, 'db.sqlite'), driver: sqliteDriver({}), enableWAL: true });
  await ds.initialize();
  try {
    await ds.query('CREATE TABLE t (x INTEGER)');
    const writes = new DbWriteQueue(ds);
    assert.equal(await syncLevel(ds), FULL, 'the connection starts at FULL');

    const seen: Record<string, number> = {};
    const unsynced = writes.transactionWithoutFsync(async (em) => {
      await em.query('INSERT INTO t (x) VALUES (1)');
      seen.unsynced = await syncLevel(em);
    });
    // Queued behind it: must not inherit NORMAL.
    const ordinary = writes.transaction(async (em) => {
      await em.query('INSERT INTO t (x) VALUES (2)');
      seen.ordinary = await syncLevel(em);
    });
    await Promise.all([unsynced, ordinary]);
    assert.deepEqual(seen, { unsynced: NORMAL, ordinary: FULL });
    assert.equal(await syncLevel(ds), FULL, 'FULL again after it');

    await assert.rejects(
      writes.transactionWithoutFsync(async (em) => {
        await em.query('INSERT INTO t (x) VALUES (3)');
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await syncLevel(ds), FULL, 'FULL again after a failed one');
    assert.deepEqual(
      (await ds.query('SELECT x FROM t ORDER BY x')).map((r: { x: number }) => r.x),
      [1, 2],
      'the failed one rolled back; the others committed',
    );
  } finally {
    await ds.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
