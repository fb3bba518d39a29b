import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Argon2Worker } from './argon2-worker';

/** The nice value of a process (field 19 of /proc/PID/stat, after the command name in parentheses). */
function niceOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

test('argon2 worker: hashes and verifies argon2id in a child process running at nice 10', async () => {
  const worker = new Argon2Worker();
  try {
    const hash = await worker.hash('correct horse battery staple');
    assert.match(hash, /^\$argon2id\$/);
    assert.equal(await worker.verify(hash, 'correct horse battery staple'), true);
    assert.equal(await worker.verify(hash, 'wrong'), false);
    assert.equal(await worker.verify('not-a-hash', 'x'), false, 'a malformed stored hash is a mismatch, never a match');
    assert.ok(worker.pid && worker.pid !== process.pid);
    assert.equal(niceOf(worker.pid!), Math.max(10, niceOf(process.pid)), 'the worker runs below the server');
  } finally {
    worker.stop();
  }
});

test('argon2 worker: a worker killed mid-check fails its pending calls; the next call starts a new one', async () => {
  const worker = new Argon2Worker();
  try {
    const hash = await worker.hash('pw one two three');
    const first = worker.pid!;
    const pending = worker.verify(hash, 'pw one two three');
    process.kill(first, 'SIGKILL');
    await assert.rejects(pending, /exited|unreachable/);
    assert.equal(await worker.verify(hash, 'pw one two three'), true);
    assert.notEqual(worker.pid, first);
  } finally {
    worker.stop();
  }
});
