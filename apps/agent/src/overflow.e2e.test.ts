/**
 * An inotify queue overflow, for real: the kernel's queue is shrunk (root only) before the agent's watcher is created,
 * then a flood overflows it. The agent's inotify helper reports the kernel's IN_Q_OVERFLOW, and the agent answers it
 * with a full sync of the root. (@parcel/watcher, the fallback, drops the overflow notice without a word; there only
 * the full sync that verifies every large burst, fullSync.afterBurstEvents, recovers the lost events, and a flood that
 * the watcher reports as few events goes unverified: the second test fails with RSYNCHUB_AGENT_WATCHER=parcel.)
 * Own file (= own process): @parcel/watcher's inotify instance is created once per process, with the queue size of then.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent, defaultAfterBurstEvents, INOTIFY_QUEUE_FILE } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { diffTrees, RsyncDaemon, tmpDir, waitConverged, waitUntil } from './e2e-support';

test('defaultAfterBurstEvents: an eighth of the kernel queue, the kernel default when it cannot be read', () => {
  const dir = tmpDir('queue');
  fs.writeFileSync(path.join(dir, 'q'), '16384\n');
  fs.writeFileSync(path.join(dir, 'tiny'), '100\n');
  assert.deepEqual(defaultAfterBurstEvents(path.join(dir, 'q')), { events: 2048, queue: 16384 });
  assert.deepEqual(defaultAfterBurstEvents(path.join(dir, 'tiny')), { events: 64, queue: 100 });
  assert.deepEqual(defaultAfterBurstEvents(path.join(dir, 'missing')), { events: 2048, queue: null });
  fs.rmSync(dir, { recursive: true, force: true });
});

const canShrinkQueue = (() => {
  try {
    fs.accessSync(INOTIFY_QUEUE_FILE, fs.constants.W_OK);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

test('a flood that overflows the inotify queue still converges: the burst is verified with a full sync', {
  skip: canShrinkQueue ? false : `needs root to shrink ${INOTIFY_QUEUE_FILE}`,
}, async () => {
  const work = tmpDir('overflow');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const files = 4000;
  for (let d = 0; d < 40; d++) {
    fs.mkdirSync(path.join(src, `d${d}`));
    for (let i = 0; i < files / 40; i++) fs.writeFileSync(path.join(src, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`);
  }
  const daemon = await new RsyncDaemon().start();
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: daemon.port, module: 'm' }] }],
    fullSync: { onStart: true },
  });
  const agent = new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) });
  const saved = fs.readFileSync(INOTIFY_QUEUE_FILE, 'utf8').trim();
  try {
    fs.writeFileSync(INOTIFY_QUEUE_FILE, '64\n');
    try {
      await agent.start(); // the watcher's inotify instance takes the 64-event queue
    } finally {
      fs.writeFileSync(INOTIFY_QUEUE_FILE, `${saved}\n`);
    }
    await waitConverged(src, [daemon.moduleDir], 'initial full sync', 30_000);
    await waitUntil(() => agent.targets().every((t) => t.queueLength === 0 && !t.inFlight), 'idle after the initial sync');
    const fullSyncsBefore = agent.targets()[0]!.fullSyncs;

    // Each append is at least one raw event; 4,000 of them as fast as possible overflow a 64-event queue.
    for (let d = 0; d < 40; d++) for (let i = 0; i < files / 40; i++) fs.appendFileSync(path.join(src, `d${d}`, `f${i}.txt`), 'appended\n');

    await waitConverged(src, [daemon.moduleDir], 'after the flood', 60_000);
    assert.deepEqual(diffTrees(src, daemon.moduleDir), []);
    assert.ok(logs.some((l) => l.includes(process.env.RSYNCHUB_AGENT_WATCHER === 'parcel' ? 'verify a burst of' : 'inotify queue overflowed')), 'the overflow was answered with a full sync');
    await waitUntil(() => agent.targets()[0]!.fullSyncs > fullSyncsBefore, 'the verifying full sync done');
  } finally {
    await agent.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('an overflow behind few reported events (two files appended in turn, others created) is detected as an overflow', {
  skip: canShrinkQueue ? false : `needs root to shrink ${INOTIFY_QUEUE_FILE}`,
}, async () => {
  const work = tmpDir('overflow-few');
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon().start();
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{ path: src, rsyncParams: '-artz', remotes: [{ host: '127.0.0.1', port: daemon.port, module: 'm' }] }],
    verify: { intervalSec: 0 }, // only the watcher (and what it reports) may deliver
  });
  const agent = new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) });
  const saved = fs.readFileSync(INOTIFY_QUEUE_FILE, 'utf8').trim();
  try {
    fs.writeFileSync(INOTIFY_QUEUE_FILE, '64\n');
    try {
      await agent.start();
    } finally {
      fs.writeFileSync(INOTIFY_QUEUE_FILE, `${saved}\n`);
    }
    // Thousands of raw events on two paths (which a coalescing watcher reports as two), and 300 new files among them.
    for (let i = 0; i < 300; i++) {
      for (let k = 0; k < 10; k++) {
        fs.appendFileSync(path.join(src, 'a.log'), `a ${i} ${k}\n`);
        fs.appendFileSync(path.join(src, 'b.log'), `b ${i} ${k}\n`);
      }
      fs.writeFileSync(path.join(src, `n${i}.txt`), `new ${i}\n`);
      if (i > 0 && i % 3 === 0) fs.unlinkSync(path.join(src, `n${i - 1}.txt`));
    }
    await waitConverged(src, [daemon.moduleDir], 'after the flood', 30_000);
    assert.ok(logs.some((l) => l.includes('inotify queue overflowed')), 'reported as an overflow');
  } finally {
    await agent.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
