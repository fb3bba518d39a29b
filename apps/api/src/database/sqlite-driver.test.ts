import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataSource } from 'typeorm';
import sqlite3 = require('sqlite3');
import { sqliteDriver, sqliteVerboseFromEnv } from './sqlite-driver';

const METHODS = ['run', 'all', 'get', 'exec', 'prepare'] as const;
const prototypeMethods = () => METHODS.map((m) => sqlite3.Database.prototype[m]);

async function openAndQuery(driver: unknown, dir: string): Promise<unknown> {
  const ds = new DataSource({ type: 'sqlite', database: path.join(dir, 'db.sqlite'), driver, enableWAL: true });
  await ds.initialize();
  try {
    await ds.query('CREATE TABLE IF NOT EXISTS t (x INTEGER)');
    await ds.query('INSERT INTO t (x) VALUES (?)', [1]);
    return await ds.query('SELECT x FROM t');
  } finally {
    await ds.destroy();
  }
}

test('TypeORM on our driver leaves sqlite3 out of verbose mode (no stack trace per statement); RSYNCHUB_SQLITE_VERBOSE=1 turns it on', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-sqlite-driver-'));
  try {
    const original = prototypeMethods();
    assert.deepEqual(await openAndQuery(sqliteDriver({}), dir), [{ x: 1 }]);
    assert.deepEqual(prototypeMethods(), original, 'Database methods are sqlite3\'s own, not wrapped by trace.js');
    // The opposite, last (verbose mode cannot be undone in a process): proves the check above can fail.
    assert.deepEqual(await openAndQuery(sqliteDriver({ RSYNCHUB_SQLITE_VERBOSE: '1' }), dir), [{ x: 1 }, { x: 1 }]);
    assert.notDeepEqual(prototypeMethods(), original, 'verbose mode wraps the methods');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('RSYNCHUB_SQLITE_VERBOSE accepts the usual on/off words and refuses anything else', () => {
  for (const v of [undefined, '', '0', 'false', 'no', 'off', ' OFF ']) assert.equal(sqliteVerboseFromEnv({ RSYNCHUB_SQLITE_VERBOSE: v }), false, String(v));
  for (const v of ['1', 'true', 'yes', 'on', 'On']) assert.equal(sqliteVerboseFromEnv({ RSYNCHUB_SQLITE_VERBOSE: v }), true, v);
  assert.throws(() => sqliteVerboseFromEnv({ RSYNCHUB_SQLITE_VERBOSE: 'maybe' }), /RSYNCHUB_SQLITE_VERBOSE must be 1 or 0/);
});
