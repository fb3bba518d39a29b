/**
 * RootWatcher against real inotify (through @parcel/watcher): the directories the native watcher misses get a watch of
 * their own, and the ones it does watch do not get a second one (which would report their whole subtree twice).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { WatchEvent } from './change-set';
import { RootWatcher } from './watcher';

const PROOF_WAIT_MS = 300;

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function withWatcher(body: (root: string, events: WatchEvent[], w: RootWatcher, resubscribed: string[]) => Promise<void>): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-watcher-'));
  const root = path.join(base, 'root');
  fs.mkdirSync(root);
  const events: WatchEvent[] = [];
  const resubscribed: string[] = [];
  const errors: Error[] = [];
  const w = new RootWatcher({
    root,
    onEvents: (e) => events.push(...e),
    onError: (e) => errors.push(e),
    onResubscribed: (dirs) => resubscribed.push(...dirs),
  }, PROOF_WAIT_MS);
  await w.start();
  try {
    await body(root, events, w, resubscribed);
    assert.deepEqual(errors, []);
  } finally {
    await w.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

const creates = (events: WatchEvent[], p: string) => events.filter((e) => e.type === 'create' && e.path === p).length;

test('subdirectories created with their parent: only the ones the watcher missed get a watch of their own', async () => {
  await withWatcher(async (root, events, w, resubscribed) => {
    // mkdir -p creates top/d00/x in one go: the watcher adds its watch on top/ only after d00 exists, so it never
    // sees d00. The later directories are created after that watch, so it sees and watches them itself.
    fs.mkdirSync(path.join(root, 'top/d00/x'), { recursive: true });
    for (let i = 1; i <= 20; i++) {
      await new Promise((r) => setTimeout(r, 5));
      fs.mkdirSync(path.join(root, `top/d${String(i).padStart(2, '0')}`));
      fs.writeFileSync(path.join(root, `top/d${String(i).padStart(2, '0')}/f.txt`), 'x');
    }
    await until('the missed directory watched', () => w.extraSubscriptions.length > 0);
    await new Promise((r) => setTimeout(r, PROOF_WAIT_MS + 200));
    assert.deepEqual(w.extraSubscriptions, [path.join(root, 'top/d00')], 'only the directory the watcher missed');
    assert.deepEqual(resubscribed, [path.join(root, 'top/d00')], 'its subtree is pushed again once watched');

    const deep = path.join(root, 'top/d00/x/late.txt');
    const seen = path.join(root, 'top/d07/late.txt');
    fs.writeFileSync(deep, 'written after the watch was added');
    fs.writeFileSync(seen, 'in a directory the watcher watches itself');
    await until('both writes reported', () => creates(events, deep) > 0 && creates(events, seen) > 0);
    await new Promise((r) => setTimeout(r, 700)); // a duplicate would arrive in the same or the next delivery
    assert.equal(creates(events, deep), 1, 'reported once');
    assert.equal(creates(events, seen), 1, 'reported once: no second subscription over the watched subtree');
  });
});

test('a tree moved in whole gets one watch rooted at it, and writes deep inside are reported', async () => {
  await withWatcher(async (root, events, w, resubscribed) => {
    const outside = path.join(path.dirname(root), 'outside');
    fs.mkdirSync(path.join(outside, 'tree/a/b'), { recursive: true });
    fs.mkdirSync(path.join(outside, 'tree/c'));
    fs.renameSync(path.join(outside, 'tree'), path.join(root, 'tree'));
    await until('the moved-in tree watched', () => w.extraSubscriptions.length > 0);
    assert.deepEqual(w.extraSubscriptions, [path.join(root, 'tree')]);
    assert.deepEqual(resubscribed, [path.join(root, 'tree')]);
    const deep = path.join(root, 'tree/a/b/late.txt');
    fs.writeFileSync(deep, 'x');
    await until('the write deep inside reported', () => creates(events, deep) > 0);
  });
});

test('a created directory that is removed before the proof wait ends gets no watch', async () => {
  await withWatcher(async (root, events, w) => {
    fs.mkdirSync(path.join(root, 'brief/sub'), { recursive: true });
    await until('creation reported', () => creates(events, path.join(root, 'brief')) > 0);
    fs.rmSync(path.join(root, 'brief'), { recursive: true });
    await new Promise((r) => setTimeout(r, PROOF_WAIT_MS + 700));
    assert.deepEqual(w.extraSubscriptions, []);
  });
});
