import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Journal } from './journal';
import { tmpDir } from './e2e-support';

test('journal: append, ack, replay after reopen, compaction', () => {
  const dir = tmpDir('journal');
  try {
    const file = path.join(dir, 'j.jsonl');
    const j = Journal.open(file);
    const e1 = j.append([{ path: 'a', kind: 'create' }]);
    const e2 = j.append([{ path: 'b', kind: 'delete' }, { path: 'c', kind: 'update' }]);
    const e3 = j.append([], true);
    j.ack([e1.id]);
    assert.equal(j.pendingCount, 2);
    assert.equal(j.pendingPaths, 3);
    j.close();
    // Reopen, as after a crash: pending entries come back in order, ids continue.
    const j2 = Journal.open(file);
    assert.deepEqual(j2.pending().map((e) => [e.id, e.full ?? false, e.changes]), [
      [e2.id, false, [{ path: 'b', kind: 'delete' }, { path: 'c', kind: 'update' }]],
      [e3.id, true, []],
    ]);
    const e4 = j2.append([{ path: 'd', kind: 'create' }]);
    assert.ok(e4.id > e3.id);
    j2.ack([e2.id, e3.id, e4.id]);
    assert.equal(fs.readFileSync(file, 'utf8'), '', 'nothing pending: the file is truncated');
    j2.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('journal: a torn last line (crash mid-append) is ignored', () => {
  const dir = tmpDir('journal');
  try {
    const file = path.join(dir, 'j.jsonl');
    fs.writeFileSync(file, '{"op":"add","id":1,"at":1,"changes":[["x","c"]]}\n{"op":"add","id":2,"at":2,"chan');
    const j = Journal.open(file);
    assert.deepEqual(j.pending().map((e) => e.id), [1]);
    assert.equal(j.append([{ path: 'y', kind: 'update' }]).id, 2);
    j.close();
    assert.deepEqual(Journal.open(file).pending().map((e) => e.changes[0].path), ['x', 'y']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('journal: large file is compacted to pending entries only', () => {
  const dir = tmpDir('journal');
  try {
    const file = path.join(dir, 'j.jsonl');
    const j = Journal.open(file, 2000);
    const keep = j.append([{ path: 'keep', kind: 'create' }]);
    for (let i = 0; i < 50; i++) j.ack([j.append([{ path: `p${i}`, kind: 'create' }]).id]);
    assert.ok(fs.statSync(file).size < 2000);
    j.close();
    assert.deepEqual(Journal.open(file).pending().map((e) => e.id), [keep.id]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('journal: after the empty journal is truncated, new batches are appended from the start and replay', () => {
  const dir = tmpDir('journal');
  try {
    const file = path.join(dir, 'j.jsonl');
    const j = Journal.open(file);
    j.ack([j.append([{ path: 'a', kind: 'create' }]).id]);
    assert.equal(fs.statSync(file).size, 0);
    const b = j.append([{ path: 'b', kind: 'update' }]);
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.startsWith('{"op":"add"'), `no hole before the new record: ${JSON.stringify(text.slice(0, 20))}`);
    j.close();
    assert.deepEqual(Journal.open(file).pending().map((e) => [e.id, e.changes[0]!.path]), [[b.id, 'b']]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
