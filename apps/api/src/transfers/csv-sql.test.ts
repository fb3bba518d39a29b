import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sqlite3 = require('sqlite3');
import { csvCell } from '../common/csv';
import { csvCellSql, csvLineSql } from './csv-sql';

let db: sqlite3.Database;
const all = <T>(sql: string, params: unknown[] = []) =>
  new Promise<T[]>((resolve, reject) => db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
const run = (sql: string, params: unknown[] = []) => new Promise<void>((resolve, reject) => db.run(sql, params, (err) => (err ? reject(err) : resolve())));

before(async () => {
  db = new sqlite3.Database(':memory:');
  // the exported tables' kinds of column: INTEGER and TEXT, NULL allowed
  await run('CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT)');
});
after(() => db.close());

/** Values an export meets: the daemon log carries whatever file names, users and errors a client sends. */
const TEXTS: (string | null)[] = [
  null, '', 'plain', 'sp ace', ' lead', 'trail ', 'comma,in', 'quote"in', '"quoted"', '""', 'cr\rin', 'lf\nin', 'crlf\r\nin',
  '=SUM(A1:A9)', '+1', '-rf', '@home', '\tTAB', '\rCR first', '=x,"y"', "'already", "it's", 'pipe|x', 'üñíçødé/ファイル', '😀,emoji',
  'a\\b', '%VAR%', ']', '0', '-0', '1e5', 'NULL', ',', '"', '=', '\r', '\n', '\t', 'x'.repeat(5000) + ',"',
];
const INTEGERS: (number | null)[] = [null, 0, 1, -1, 23, -255, 2 ** 31, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];

test('csvCellSql gives the bytes csvCell gives, for every text the table holds', async () => {
  await run('DELETE FROM t');
  for (const [i, s] of TEXTS.entries()) await run('INSERT INTO t (id, s) VALUES (?, ?)', [i + 1, s]);
  const rows = await all<{ id: number; cell: string }>(`SELECT id, ${csvCellSql('t.s')} AS cell FROM t ORDER BY id`);
  assert.equal(rows.length, TEXTS.length);
  for (const r of rows) assert.equal(r.cell, csvCell(TEXTS[r.id - 1]), JSON.stringify(TEXTS[r.id - 1]));
});

test('csvCellSql gives the bytes csvCell gives, for integer columns (negative ones guarded like text)', async () => {
  await run('DELETE FROM t');
  for (const [i, n] of INTEGERS.entries()) await run('INSERT INTO t (id, n) VALUES (?, ?)', [i + 1, n]);
  const rows = await all<{ id: number; cell: string }>(`SELECT id, ${csvCellSql('t.n')} AS cell FROM t ORDER BY id`);
  for (const r of rows) assert.equal(r.cell, csvCell(INTEGERS[r.id - 1]), String(INTEGERS[r.id - 1]));
  assert.equal(rows.find((r) => INTEGERS[r.id - 1] === -1)!.cell, "'-1", 'the guard is applied to numbers too');
});

test('csvLineSql joins the cells as toCsv does, whatever mix of columns', async () => {
  await run('DELETE FROM t');
  for (let i = 0; i < TEXTS.length; i++) await run('INSERT INTO t (id, n, s) VALUES (?, ?, ?)', [i + 1, INTEGERS[i % INTEGERS.length], TEXTS[i]]);
  const rows = await all<{ id: number; n: number | null; s: string | null; line: string }>(`SELECT id, n, s, ${csvLineSql(['t.id', 't.s', 't.n', 't.s'])} AS line FROM t ORDER BY id`);
  for (const r of rows) assert.equal(r.line, [r.id, r.s, r.n, r.s].map(csvCell).join(','));
});
