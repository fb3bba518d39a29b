/**
 * TargetQueue bookkeeping with a stand-in for a slow rsync (a shell script that sleeps and succeeds): what is being
 * tested is which journal entries a run takes and what a request made during a run becomes, not rsync itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from './log';
import { listedBytesBelow, TargetQueue } from './target-queue';

test('a full sync requested while another runs is queued, not merged into the running one', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-queue-'));
  const slowRsync = path.join(dir, 'slow-rsync');
  fs.writeFileSync(slowRsync, '#!/bin/sh\ncat >/dev/null\nsleep 0.3\n', { mode: 0o755 });
  const q = new TargetQueue({
    id: 't', target: { root: dir, remote: { host: '127.0.0.1', port: 873, module: 'm' }, rsyncParams: ['-a'], excludes: [], timeoutSec: 0, connectTimeoutSec: 0 },
    journalFile: path.join(dir, 'journal.jsonl'), retry: { initialDelayMs: 100, maxDelayMs: 100, factor: 1, jitter: 0 },
    maxPathsPerRun: 1000, fullSyncExcludes: [], log: createLogger('error', () => undefined), rsyncBin: slowRsync,
  });
  try {
    q.enqueueFullSync('first');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(q.snapshot().inFlight, true);
    // The running sync may already have read the part of the tree this request is about.
    q.enqueueFullSync('second, while the first runs');
    q.enqueueFullSync('third: the second, not yet started, covers it');
    assert.equal(q.journal.pending().filter((e) => e.full).length, 2);
    const deadline = Date.now() + 5000;
    while (q.snapshot().fullSyncs < 2 || q.snapshot().inFlight) {
      assert.ok(Date.now() < deadline, `full syncs done: ${q.snapshot().fullSyncs}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(q.snapshot().fullSyncs, 2);
    assert.equal(q.journal.pendingCount, 0);
  } finally {
    await q.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('listedBytesBelow: regular files only, missing paths count nothing, stops at the limit and above 64 paths', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-small-'));
  try {
    fs.writeFileSync(path.join(dir, 'a'), Buffer.alloc(100));
    fs.writeFileSync(path.join(dir, 'b'), Buffer.alloc(200));
    fs.mkdirSync(path.join(dir, 'd'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'l'));
    assert.equal(listedBytesBelow(dir, ['a', 'b', 'd', 'l', 'gone'], 301), true);
    assert.equal(listedBytesBelow(dir, ['a', 'b'], 300), false);
    assert.equal(listedBytesBelow(dir, Array.from({ length: 65 }, () => 'gone'), 1_000_000), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
