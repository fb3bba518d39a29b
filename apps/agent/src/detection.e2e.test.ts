/**
 * Losses of change detection found by a hostile tester (issue 12), each reproduced against a real rsync daemon with an
 * auth user. With RSYNCHUB_AGENT_WATCHER=parcel (the @parcel/watcher fallback) the first four fail; the agent's own
 * inotify helper passes them. Self-verification is off in these tests (verify.intervalSec 0), so nothing but the
 * watcher can deliver the change; the last test turns it on and checks it reports what the parcel watcher misses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { encodePath } from './path-bytes';
import { diffTrees, RsyncDaemon, sleep, snapshotTree, tmpDir, waitConverged, waitUntil } from './e2e-support';
import { PauseStore } from './target-control';

interface Setup {
  work: string;
  src: string;
  daemon: RsyncDaemon;
  agent: Agent;
  logs: string[];
}

async function withAgent(opts: { verifySec?: number; parcel?: boolean; srcName?: string }, body: (s: Setup) => Promise<void>): Promise<void> {
  const work = tmpDir('detect');
  const src = path.join(work, opts.srcName ?? 'src');
  fs.mkdirSync(src);
  const daemon = await new RsyncDaemon({ auth: { user: 'pusher', password: crypto.randomBytes(12).toString('hex') } }).start();
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{
      path: src, rsyncParams: '-artz',
      remotes: [{ host: '127.0.0.1', port: daemon.port, module: 'm', user: 'pusher', passwordFile: daemon.passwordFile }],
    }],
    verify: { intervalSec: opts.verifySec ?? 0 },
  });
  const saved = process.env.RSYNCHUB_AGENT_WATCHER;
  if (opts.parcel) process.env.RSYNCHUB_AGENT_WATCHER = 'parcel';
  const agent = new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) });
  if (opts.parcel) {
    if (saved === undefined) delete process.env.RSYNCHUB_AGENT_WATCHER;
    else process.env.RSYNCHUB_AGENT_WATCHER = saved;
  }
  try {
    await agent.start();
    await body({ work, src, daemon, agent, logs });
  } finally {
    await agent.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const idle = (agent: Agent) => waitUntil(() => agent.targets().every((t) => t.queueLength === 0 && !t.inFlight), 'idle');
const parcel = process.env.RSYNCHUB_AGENT_WATCHER === 'parcel';

test('item 1: a rename onto an existing name, then a delete, in one go: the old file leaves the target', async () => {
  await withAgent({ parcel }, async ({ work, src, daemon, agent }) => {
    const x = path.join(src, 'x');
    for (let i = 0; i < 10; i++) {
      fs.writeFileSync(x, `old ${i}\n`);
      await waitConverged(src, [daemon.moduleDir], `x on the target (${i})`);
      await idle(agent);
      // Synchronous, back to back: the watcher sees all of it before the agent can push anything.
      fs.writeFileSync(`${x}.tmp`, `new ${i}\n`);
      fs.renameSync(`${x}.tmp`, x);
      if (i % 2 === 0) fs.unlinkSync(x);
      else fs.renameSync(x, path.join(work, `elsewhere-${i}`)); // moved out of the tree
      await waitConverged(src, [daemon.moduleDir], `x gone from the target (${i})`, 5000);
    }
  });
});

test('item 2: a directory renamed away and re-created at once, while busy: the new tree is watched', async () => {
  await withAgent({ parcel }, async ({ src, daemon, agent }) => {
    fs.mkdirSync(path.join(src, 'A/B/M/s1/s2'), { recursive: true });
    fs.mkdirSync(path.join(src, 'busy'));
    await waitConverged(src, [daemon.moduleDir], 'initial tree');
    let stop = false;
    let n = 0;
    const busy = (async () => {
      while (!stop) {
        for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(src, 'busy', `f${(n++) % 400}`), `${n}`);
        await sleep(1);
      }
    })();
    try {
      for (let round = 0; round < 8; round++) {
        fs.renameSync(path.join(src, 'A'), path.join(src, `A.old${round}`));
        fs.mkdirSync(path.join(src, 'A/B/M/s1/s2'), { recursive: true });
        await sleep(300 + round * 50);
        // Written well after the re-creation: only a watch on the new tree reports it.
        fs.writeFileSync(path.join(src, 'A/B/M/s1/s2', `late${round}.txt`), `round ${round}\n`);
        fs.writeFileSync(path.join(src, 'A/B', `late${round}.txt`), `round ${round}\n`);
        await waitUntil(() => fs.existsSync(path.join(daemon.moduleDir, 'A/B/M/s1/s2', `late${round}.txt`)) && fs.existsSync(path.join(daemon.moduleDir, 'A/B', `late${round}.txt`)), `late writes of round ${round}`, 5000);
      }
    } finally {
      stop = true;
      await busy;
    }
    await waitConverged(src, [daemon.moduleDir], 'everything');
    await idle(agent);
  });
});

test('item 4: non-UTF-8 names (Latin-1, GBK) round-trip as bytes: created, written, renamed, deleted', async () => {
  await withAgent({ parcel }, async ({ src, daemon, agent }) => {
    const latin1 = Buffer.from('caf\xe9.txt', 'latin1');
    const gbkDir = Buffer.from([0xd6, 0xd0, 0xce, 0xc4]); // "中文" in GBK
    const at = (...parts: Buffer[]) => Buffer.concat([Buffer.from(`${src}/`), ...parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('/'), p]))]);
    fs.writeFileSync(at(latin1), 'latin-1 name\n');
    fs.mkdirSync(at(gbkDir));
    fs.writeFileSync(at(gbkDir, Buffer.from([0xb2, 0xe2, 0xca, 0xd4, 0x2e, 0x74, 0x78, 0x74])), 'gbk name in a gbk directory\n'); // 测试.txt
    await waitConverged(src, [daemon.moduleDir], 'non-UTF-8 names created', 10_000);
    assert.ok(fs.existsSync(Buffer.concat([Buffer.from(`${daemon.moduleDir}/`), latin1])), 'the exact bytes on the target');
    fs.appendFileSync(at(latin1), 'more\n');
    fs.renameSync(at(gbkDir), at(Buffer.from('renamed-\xff', 'latin1')));
    await waitConverged(src, [daemon.moduleDir], 'written and renamed', 10_000);
    fs.unlinkSync(at(latin1));
    await waitConverged(src, [daemon.moduleDir], 'deleted', 10_000);
    await idle(agent);
  });
});

/** Twelve files under keep/: enough entries on the target (deleteGuard.minTargetEntries 10) for the share rule to apply. */
function writeKeep(root: string): void {
  fs.mkdirSync(path.join(root, 'keep'), { recursive: true });
  for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(root, `keep/k${i}.txt`), `kept ${i}\n`);
}

test('item 8: the watched root replaced (rm -rf + mkdir, then a mv swap) by a similar tree: detected, watched again, fully synced through the delete guard, warned', async () => {
  await withAgent({ parcel }, async ({ work, src, daemon, agent, logs }) => {
    writeKeep(src);
    fs.mkdirSync(path.join(src, 'd'));
    fs.writeFileSync(path.join(src, 'd/old.txt'), 'old\n');
    await waitConverged(src, [daemon.moduleDir], 'initial');
    await idle(agent);

    // Re-created with most of the same content (the guard is active: the target has more than minTargetEntries
    // entries; the full sync deletes d/ and d/old.txt, 2 of 16, well under maxDeletePercent).
    fs.rmSync(src, { recursive: true });
    fs.mkdirSync(src);
    writeKeep(src);
    fs.writeFileSync(path.join(src, 'new.txt'), 'in the new root\n');
    await waitUntil(() => logs.some((l) => l.includes('watching the new root')), 'the new root watched', 10_000);
    fs.writeFileSync(path.join(src, 'after.txt'), 'written after the re-watch: an event, not a full sync\n');
    await waitConverged(src, [daemon.moduleDir], 'the new root mirrored', 10_000);

    const next = path.join(work, 'next');
    writeKeep(next);
    fs.mkdirSync(path.join(next, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(next, 'sub/swapped.txt'), 'swapped in\n');
    fs.renameSync(src, path.join(work, 'src.old'));
    fs.renameSync(next, src);
    await waitUntil(() => agent.snapshot().watches[0]!.rootReplaced === 2 && agent.snapshot().watches[0]!.watching, 'the swap handled', 10_000);
    fs.writeFileSync(path.join(src, 'sub/later.txt'), 'after the swap\n');
    await waitConverged(src, [daemon.moduleDir], 'the swapped-in root mirrored', 10_000);
    assert.ok(logs.some((l) => l.includes('"level":"warn"') && l.includes('watched root replaced or removed')), 'warned');
    assert.equal(agent.targets()[0]!.paused, false, 'a similar tree is not refused by the delete guard');
    await idle(agent);
  });
});

test('item 8 + 11: a root replaced by an EMPTY directory pauses the target, which stays intact until resume', async () => {
  await withAgent({ parcel }, async ({ work, src, daemon, agent, logs }) => {
    writeKeep(src);
    await waitConverged(src, [daemon.moduleDir], 'initial');
    await idle(agent);
    const before = snapshotTree(daemon.moduleDir);

    const empty = path.join(work, 'empty');
    fs.mkdirSync(empty);
    fs.renameSync(src, path.join(work, 'src.old'));
    fs.renameSync(empty, src);
    await waitUntil(() => agent.targets()[0]!.paused, 'the target paused by the delete guard', 15_000);
    const t = agent.targets()[0]!;
    assert.match(t.pauseReason ?? '', /watched root is empty but the target is not/);
    assert.ok(logs.some((l) => l.includes('watching the new root')), 'the new root is watched');
    assert.ok(logs.some((l) => l.includes('"msg":"target paused"')), 'the pause is logged');
    assert.deepEqual([...snapshotTree(daemon.moduleDir).keys()].sort(), [...before.keys()].sort(), 'the target keeps every entry');

    // Written while paused: journaled, not pushed; the target is still intact.
    fs.writeFileSync(path.join(src, 'fresh.txt'), 'written into the empty root\n');
    await waitUntil(() => agent.targets()[0]!.queueLength > 0, 'the change journaled while paused');
    assert.ok(fs.existsSync(path.join(daemon.moduleDir, 'keep/k0.txt')), 'still intact while paused');
    assert.ok(!fs.existsSync(path.join(daemon.moduleDir, 'fresh.txt')), 'nothing pushed while paused');

    // The admin accepts the new root: it is mirrored as it is.
    new PauseStore(path.join(work, 'state')).requestResume(t.id);
    await waitConverged(src, [daemon.moduleDir], 'the accepted root mirrored after resume', 15_000);
    assert.equal(agent.targets()[0]!.paused, false);
  });
});

test('item 8 + 11: a root replaced by a different tree that would delete more than maxDeletePercent of the target pauses it', async () => {
  await withAgent({ parcel }, async ({ work, src, daemon, agent }) => {
    writeKeep(src);
    await waitConverged(src, [daemon.moduleDir], 'initial');
    await idle(agent);
    const other = path.join(work, 'other');
    fs.mkdirSync(path.join(other, 'keep'), { recursive: true });
    fs.writeFileSync(path.join(other, 'keep/k0.txt'), 'kept 0\n');
    fs.writeFileSync(path.join(other, 'unrelated.txt'), 'another tree\n');
    fs.renameSync(src, path.join(work, 'src.old'));
    fs.renameSync(other, src);
    await waitUntil(() => agent.targets()[0]!.paused, 'the target paused by the delete guard', 15_000);
    assert.match(agent.targets()[0]!.pauseReason ?? '', /more than deleteGuard.maxDeletePercent 50%/);
    for (let i = 0; i < 12; i++) assert.ok(fs.existsSync(path.join(daemon.moduleDir, `keep/k${i}.txt`)), `k${i} kept on the target`);
    assert.ok(!fs.existsSync(path.join(daemon.moduleDir, 'unrelated.txt')), 'nothing of the paused run was pushed');
  });
});

test('item 13: verification finds what a watcher missed, pushes it and reports it as missed by the watcher', async () => {
  // The parcel fallback is the watcher that misses here (item 1's sequence); the helper would report it.
  await withAgent({ parcel: true, verifySec: 1 }, async ({ src, daemon, agent, logs }) => {
    const x = path.join(src, 'x');
    fs.writeFileSync(x, 'old\n');
    await waitConverged(src, [daemon.moduleDir], 'x on the target');
    await idle(agent);
    const before = Object.values(agent.verification())[0]!;
    assert.equal(before.missedByWatcher, 0, 'nothing missed so far');
    fs.writeFileSync(`${x}.tmp`, 'new\n');
    fs.renameSync(`${x}.tmp`, x);
    fs.unlinkSync(x);
    await waitConverged(src, [daemon.moduleDir], 'x removed by the verification', 15_000);
    const after = Object.values(agent.verification())[0]!;
    // A verification already reading its file list while the three writes happen may also see x.tmp (created and
    // deleted again, which parcel reports as nothing): a real miss as well, so x is one of one or two.
    assert.ok(after.missedByWatcher >= 1 && after.missedByWatcher <= 2, `missed ${after.missedByWatcher}: ${after.lastMissedPaths.join(', ')}`);
    assert.ok(after.lastMissedPaths.includes('x'), after.lastMissedPaths.join(', '));
    assert.ok(after.lastMissedPaths.every((p) => p === 'x' || p === 'x.tmp'), after.lastMissedPaths.join(', '));
    assert.ok(logs.some((l) => l.includes('missed by the watcher') && l.includes('delete x')), 'logged with the path');
    assert.match(JSON.stringify(agent.snapshot().verification), /"missedByWatcher":[12],/);
  });
});

test('item 13: verification against an identical target reports nothing missed (the helper watcher)', async () => {
  await withAgent({ verifySec: 1 }, async ({ src, daemon, agent }) => {
    fs.mkdirSync(path.join(src, 'a/b'), { recursive: true });
    fs.writeFileSync(encodePath(`${src}/a/b/f\udce9.txt`), 'x');
    await waitConverged(src, [daemon.moduleDir], 'converged');
    await idle(agent);
    await agent.verifyNow();
    const v = Object.values(agent.verification())[0]!;
    assert.ok(v.runs >= 1, 'ran');
    assert.equal(v.missedByWatcher, 0, JSON.stringify(v));
    assert.deepEqual(diffTrees(src, daemon.moduleDir), []);
  });
});
