/**
 * The inotify watch limit, for real: with fs.inotify.max_user_watches lowered (root only) to just above what this
 * user holds, new directories go unwatched and @parcel/watcher says nothing. The agent's check of the real watches
 * (/proc/self/fdinfo) finds them; their subscriptions fail, which means a full sync, retried until there is room; then
 * they are watched again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { countInotifyWatches, INOTIFY_WATCHES_FILE, inotifyWatchUsage } from './watcher';
import { RsyncDaemon, sleep, tmpDir, waitConverged, waitUntil } from './e2e-support';

test('countInotifyWatches counts the watch lines of an fdinfo text', () => {
  const fdinfo = 'pos:\t0\nflags:\t02004000\nmnt_id:\t15\nino:\t1057\n' +
    'inotify wd:2 ino:a sdev:800001 mask:fc6 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0a00000000000000\n' +
    'inotify wd:1 ino:2 sdev:800001 mask:fc6 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0200000000000000\n';
  assert.equal(countInotifyWatches(fdinfo), 2);
  assert.equal(countInotifyWatches('pos:\t0\n'), 0);
});

test('inotifyWatchUsage sees this process\'s own watches', async () => {
  const usage = inotifyWatchUsage();
  if (!usage) return; // no /proc here
  assert.ok(usage.limit > 0);
  const { subscribe } = await import('@parcel/watcher');
  const dir = tmpDir('watches');
  for (let i = 0; i < 5; i++) fs.mkdirSync(path.join(dir, `d${i}`));
  const sub = await subscribe(dir, () => undefined);
  try {
    assert.ok(inotifyWatchUsage()!.used >= usage.used + 6, 'the root and its 5 subdirectories');
  } finally {
    await sub.unsubscribe();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const canLowerLimit = (() => {
  try {
    fs.accessSync(INOTIFY_WATCHES_FILE, fs.constants.W_OK);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

test('exhausted inotify watches: writes in directories left unwatched still arrive, through repeated full syncs', {
  skip: canLowerLimit ? false : `needs root to lower ${INOTIFY_WATCHES_FILE}`,
}, async () => {
  const work = tmpDir('watch-limit');
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'old'), { recursive: true });
  const daemon = await new RsyncDaemon().start();
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: daemon.port, module: 'm' }] }],
    fullSync: { onStart: true },
  });
  const agent = new Agent(config, {
    stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)), watchRetryMs: 1500,
  });
  const saved = fs.readFileSync(INOTIFY_WATCHES_FILE, 'utf8').trim();
  const restore = () => fs.writeFileSync(INOTIFY_WATCHES_FILE, `${saved}\n`);
  process.once('exit', restore); // even if the test dies half way, the machine keeps its limit
  try {
    await agent.start();
    await waitConverged(src, [daemon.moduleDir], 'initial full sync');
    await waitUntil(() => agent.targets().every((t) => t.queueLength === 0 && !t.inFlight), 'idle after the initial sync');
    const fullSyncsBefore = agent.targets()[0]!.fullSyncs;
    // Room for 3 more watches: of 10 new directories, 7 stay unwatched.
    fs.writeFileSync(INOTIFY_WATCHES_FILE, `${inotifyWatchUsage()!.used + 3}\n`);
    for (let i = 0; i < 10; i++) {
      fs.mkdirSync(path.join(src, `new${i}`));
      fs.writeFileSync(path.join(src, `new${i}`, 'first.txt'), `first ${i}`);
      await sleep(20);
    }
    // A directory whose watch failed is not even announced until some other event comes (the watcher returns before
    // it signals its delivery thread): a write in the root brings the announcements.
    fs.writeFileSync(path.join(src, 'nudge.txt'), 'x');
    await waitConverged(src, [daemon.moduleDir], 'the new directories (each pushed whole when announced)');
    await waitUntil(() => logs.some((l) => l.includes('cannot watch')), 'the unwatched directories found', 10_000);
    if (process.env.RSYNCHUB_AGENT_WATCHER !== 'parcel') {
      assert.ok(logs.some((l) => l.includes('cannot watch') && l.includes('fs.inotify.max_user_watches')), 'the limit and its fix are named');
    }
    await waitUntil(() => agent.targets().every((t) => t.queueLength === 0 && !t.inFlight), 'idle');
    // Nothing reports these writes in the unwatched directories; only the repeated full syncs bring them over.
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(src, `new${i}`, 'later.txt'), `later ${i}`);
    await waitConverged(src, [daemon.moduleDir], 'writes inside unwatched directories', 20_000);
    assert.ok(agent.targets()[0]!.fullSyncs > fullSyncsBefore, 'through full syncs');

    // Room again: the next retry watches them, and writes inside are reported as events again.
    restore();
    await waitUntil(() => logs.some((l) => l.includes('watching directories the native watcher missed')), 'the retry succeeded', 10_000);
    await waitUntil(() => agent.targets().every((t) => t.queueLength === 0 && !t.inFlight), 'idle again');
    const fullSyncsWatched = agent.targets()[0]!.fullSyncs;
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(src, `new${i}`, 'after-room.txt'), `after ${i}`);
    await waitConverged(src, [daemon.moduleDir], 'writes after the retry');
    assert.equal(agent.targets()[0]!.fullSyncs, fullSyncsWatched, 'reported as events, no full sync needed');
    assert.deepEqual(agent.unwatched(), []);
  } finally {
    restore();
    process.removeListener('exit', restore);
    await agent.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
