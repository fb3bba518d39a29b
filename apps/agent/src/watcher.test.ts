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
import { DeliveryClock, proveWatched, RootWatcher } from './watcher';

const PROOF_WAIT_MS = 300;

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function withWatcher(body: (root: string, events: WatchEvent[], w: RootWatcher, repushed: string[]) => Promise<void>): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-watcher-'));
  const root = path.join(base, 'root');
  fs.mkdirSync(root);
  const events: WatchEvent[] = [];
  const repushed: string[] = [];
  const errors: Error[] = [];
  const w = new RootWatcher({
    root,
    onEvents: (e) => events.push(...e),
    onError: (e) => errors.push(e),
    onRepush: (dirs, reason) => repushed.push(...dirs.map((d) => (reason === 'closing' ? `closing:${d}` : d))),
  }, PROOF_WAIT_MS);
  await w.start();
  try {
    await body(root, events, w, repushed);
    assert.deepEqual(errors, []);
  } finally {
    await w.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

const creates = (events: WatchEvent[], p: string) => events.filter((e) => e.type === 'create' && e.path === p).length;

test('DeliveryClock: a delivery under 450 ms after the previous one came after 50 ms of quiet; one delivery, one answer', () => {
  const clock = new DeliveryClock();
  const seen = [0, 3, 200, 205, 800, 1100, 1560, 2100].map((t) => [t, clock.afterQuiet(t)]);
  assert.deepEqual(seen, [
    [0, false], // the first: delivered at once
    [3, false], // the same delivery, another subscription
    [200, true], // 200 ms later: only the quiet path delivers that soon
    [205, true],
    [800, false], // 600 ms later: at once (idle) or at the 500 ms cap (busy); either way no proof of quiet
    [1100, true],
    [1560, false], // 460 ms: too close to the cap to be sure
    [2100, false],
  ]);
});

test('proveWatched: a reported creation or an event inside proves a candidate watched; deletions drop candidates', () => {
  const cases: { name: string; event: WatchEvent; want: Record<string, string[]> }[] = [
    { name: 'creation of a candidate', event: { type: 'create', path: '/r/top/a' }, want: { '/r/top': ['/r/top/b'], '/r/x': ['/r/x/y'] } },
    { name: 'event directly inside a candidate', event: { type: 'update', path: '/r/top/b/f.txt' }, want: { '/r/top': ['/r/top/a'], '/r/x': ['/r/x/y'] } },
    { name: 'an update of the candidate itself proves nothing (its parent reports it)', event: { type: 'update', path: '/r/top/a' }, want: { '/r/top': ['/r/top/a', '/r/top/b'], '/r/x': ['/r/x/y'] } },
    { name: 'an event deeper inside proves nothing', event: { type: 'create', path: '/r/top/a/sub/f' }, want: { '/r/top': ['/r/top/a', '/r/top/b'], '/r/x': ['/r/x/y'] } },
    { name: 'a deleted candidate needs no watch', event: { type: 'delete', path: '/r/top/b' }, want: { '/r/top': ['/r/top/a'], '/r/x': ['/r/x/y'] } },
    { name: 'a deleted created directory takes its candidates', event: { type: 'delete', path: '/r/top' }, want: { '/r/x': ['/r/x/y'] } },
    { name: 'so does a deleted ancestor', event: { type: 'delete', path: '/r' }, want: {} },
    { name: 'the last proof removes the entry', event: { type: 'create', path: '/r/x/y' }, want: { '/r/top': ['/r/top/a', '/r/top/b'] } },
  ];
  for (const c of cases) {
    const candidates = new Map([['/r/top', new Set(['/r/top/a', '/r/top/b'])], ['/r/x', new Set(['/r/x/y'])]]);
    proveWatched(candidates, c.event);
    assert.deepEqual(Object.fromEntries([...candidates].map(([k, v]) => [k, [...v].sort()])), c.want, c.name);
  }
});

test('a tree moved in, then grown: only the subdirectory the watcher missed gets a watch of its own', async () => {
  await withWatcher(async (root, events, w, repushed) => {
    // A tree moved in arrives as one event: the watcher watches top/ from then on, never top/d00 inside it. The
    // directories created afterwards it sees and watches itself, so they must not get a second watch (which would
    // report everything in them twice).
    const outside = path.join(path.dirname(root), 'outside');
    fs.mkdirSync(path.join(outside, 'top/d00/x'), { recursive: true });
    fs.renameSync(path.join(outside, 'top'), path.join(root, 'top'));
    await until('the move reported', () => creates(events, path.join(root, 'top')) > 0);
    for (let i = 1; i <= 20; i++) {
      const dir = path.join(root, `top/d${String(i).padStart(2, '0')}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'f.txt'), 'x');
    }
    await until('the missed directory watched', () => w.extraSubscriptions.length > 0);
    await new Promise((r) => setTimeout(r, PROOF_WAIT_MS + 200));
    assert.deepEqual(w.extraSubscriptions, [path.join(root, 'top/d00')], 'only the directory the watcher missed');
    assert.deepEqual(repushed, [path.join(root, 'top/d00')], 'its subtree is pushed again once watched');

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
  await withWatcher(async (root, events, w, repushed) => {
    const outside = path.join(path.dirname(root), 'outside');
    fs.mkdirSync(path.join(outside, 'tree/a/b'), { recursive: true });
    fs.mkdirSync(path.join(outside, 'tree/c'));
    fs.renameSync(path.join(outside, 'tree'), path.join(root, 'tree'));
    await until('the moved-in tree watched', () => w.extraSubscriptions.length > 0);
    assert.deepEqual(w.extraSubscriptions, [path.join(root, 'tree')]);
    assert.deepEqual(repushed, [path.join(root, 'tree')]);
    const deep = path.join(root, 'tree/a/b/late.txt');
    fs.writeFileSync(deep, 'x');
    await until('the write deep inside reported', () => creates(events, deep) > 0);
  });
});

test('a clean close pushes the candidates still waiting for proof once more', async () => {
  await withWatcher(async (root, events, w, repushed) => {
    const outside = path.join(path.dirname(root), 'outside');
    fs.mkdirSync(path.join(outside, 'fresh/missed'), { recursive: true });
    fs.renameSync(path.join(outside, 'fresh'), path.join(root, 'fresh'));
    await until('the move reported', () => creates(events, path.join(root, 'fresh')) > 0);
    await w.close(); // before the proof wait ends
    assert.deepEqual(repushed, [`closing:${path.join(root, 'fresh/missed')}`]);
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
