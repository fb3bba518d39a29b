import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ownerOnlyDatabaseFiles } from './database-files';

test('a new database file is created 0600 whatever the umask', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-dbfiles-'));
  const old = process.umask(0o000);
  try {
    ownerOnlyDatabaseFiles(path.join(dir, 'rsynchub.sqlite'));
  } finally {
    process.umask(old);
  }
  assert.equal(fs.statSync(path.join(dir, 'rsynchub.sqlite')).mode & 0o777, 0o600);
  fs.rmSync(dir, { recursive: true });
});

test('files an older version left readable by others are tightened, contents kept; missing WAL files are not created', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-dbfiles-'));
  const db = path.join(dir, 'rsynchub.sqlite');
  fs.writeFileSync(db, 'data', { mode: 0o644 });
  fs.writeFileSync(`${db}-wal`, 'wal', { mode: 0o664 });
  fs.chmodSync(db, 0o644);
  fs.chmodSync(`${db}-wal`, 0o664);
  ownerOnlyDatabaseFiles(db);
  assert.equal(fs.statSync(db).mode & 0o777, 0o600);
  assert.equal(fs.statSync(`${db}-wal`).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(db, 'utf8'), 'data');
  assert.ok(!fs.existsSync(`${db}-shm`));
  fs.rmSync(dir, { recursive: true });
});
