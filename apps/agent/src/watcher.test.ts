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
import { DeliveryClock, dirKey, parseInotifyFdinfo, RootWatcher, userDev, watchedDirKeys } from './watcher';

const CHECK_DELAY_MS = 300;

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
  }, CHECK_DELAY_MS);
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

test('parseInotifyFdinfo reads the watched inodes, with the device as stat() reports it', () => {
  const fdinfo = 'pos:\t0\nflags:\t02004000\nmnt_id:\t17\nino:\t1038\n' +
    'inotify wd:2 ino:28e00f sdev:fe00000 mask:4000fc6 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0fe02800a59766a4\n' +
    'inotify wd:1 ino:28e010 sdev:1b mask:4000fc6 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:10e02800650f197f\n';
  // Read off this machine: /tmp on 254:0 (stat dev 0xfe00), /dev/shm on 0:27 (stat dev 27).
  assert.deepEqual(parseInotifyFdinfo(fdinfo), [dirKey(0xfe00, 0x28e00f), dirKey(27, 0x28e010)]);
  assert.equal(userDev((8 << 20) | 0x123), 0x23 | (8 << 8) | (0x100 << 12), 'a minor above 255 keeps its high bits above the major');
  assert.equal(userDev((259 << 20) | 1), (259 << 8) | 1);
});

test('watchedDirKeys matches what stat() says of directories the watcher watches', async () => {
  const before = watchedDirKeys();
  if (before === null) return; // no /proc here
  const { subscribe } = await import('@parcel/watcher');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-keys-'));
  fs.mkdirSync(path.join(dir, 'sub'));
  const sub = await subscribe(dir, () => undefined);
  try {
    const keys = watchedDirKeys()!;
    for (const d of [dir, path.join(dir, 'sub')]) {
      const st = fs.statSync(d, { bigint: true });
      assert.ok(keys.has(dirKey(st.dev, st.ino)), `${d} is listed as watched`);
    }
  } finally {
    await sub.unsubscribe();
    fs.rmSync(dir, { recursive: true, force: true });
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
    await new Promise((r) => setTimeout(r, CHECK_DELAY_MS + 200));
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

test('a clean close pushes the directories not yet checked once more', async () => {
  await withWatcher(async (root, events, w, repushed) => {
    const outside = path.join(path.dirname(root), 'outside');
    fs.mkdirSync(path.join(outside, 'fresh/missed'), { recursive: true });
    fs.renameSync(path.join(outside, 'fresh'), path.join(root, 'fresh'));
    await until('the move reported', () => creates(events, path.join(root, 'fresh')) > 0);
    await w.close(); // before the check
    assert.deepEqual(repushed, [`closing:${path.join(root, 'fresh')}`]);
  });
});

test('a directory replaced by one with subdirectories (reported as an update): those get a watch', async () => {
  await withWatcher(async (root, events, w, repushed) => {
    fs.mkdirSync(path.join(root, 'build'));
    await until('build reported', () => creates(events, path.join(root, 'build')) > 0);
    await new Promise((r) => setTimeout(r, CHECK_DELAY_MS + 600)); // its own check done: nothing to watch
    const outside = path.join(path.dirname(root), 'outside');
    fs.mkdirSync(path.join(outside, 'build.tmp/out/deep'), { recursive: true });
    fs.rmSync(path.join(root, 'build'), { recursive: true });
    fs.renameSync(path.join(outside, 'build.tmp'), path.join(root, 'build'));
    await until('the new build/out watched', () => w.extraSubscriptions.length > 0);
    assert.deepEqual(w.extraSubscriptions, [path.join(root, 'build/out')]);
    assert.deepEqual(repushed, [path.join(root, 'build/out')]);
    const deep = path.join(root, 'build/out/deep/late.txt');
    fs.writeFileSync(deep, 'x');
    await until('the write deep inside reported', () => creates(events, deep) > 0);
  });
});

test('a directory renamed inside the tree: writes deep inside are reported under the new path', async () => {
  await withWatcher(async (root, events, w) => {
    fs.mkdirSync(path.join(root, 'x'));
    await until('x reported', () => creates(events, path.join(root, 'x')) > 0);
    fs.mkdirSync(path.join(root, 'x/y'));
    await until('x/y reported', () => creates(events, path.join(root, 'x/y')) > 0);
    fs.mkdirSync(path.join(root, 'x/y/z'));
    await until('x/y/z reported', () => creates(events, path.join(root, 'x/y/z')) > 0);
    await new Promise((r) => setTimeout(r, CHECK_DELAY_MS + 300)); // all watched by the watcher itself: nothing to add
    assert.deepEqual(w.extraSubscriptions, []);
    fs.renameSync(path.join(root, 'x'), path.join(root, 'x2'));
    await until('the renamed subdirectory watched afresh', () => w.extraSubscriptions.length > 0);
    assert.deepEqual(w.extraSubscriptions, [path.join(root, 'x2/y')]);
    const deep = path.join(root, 'x2/y/z/after-rename.txt');
    fs.writeFileSync(deep, 'x');
    await until('the write reported under the new path', () => creates(events, deep) > 0);
  });
});

test('a created directory that is removed before the check gets no watch', async () => {
  await withWatcher(async (root, events, w) => {
    fs.mkdirSync(path.join(root, 'brief/sub'), { recursive: true });
    await until('creation reported', () => creates(events, path.join(root, 'brief')) > 0);
    fs.rmSync(path.join(root, 'brief'), { recursive: true });
    await new Promise((r) => setTimeout(r, CHECK_DELAY_MS + 700));
    assert.deepEqual(w.extraSubscriptions, []);
  });
});
