/**
 * End to end, in process: real @parcel/watcher events, real rsync client, two real rsync daemons (one with auth, one
 * anonymous). After every scenario both targets must equal the source (content, mode, mtime, root included).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { RsyncDaemon, sleep, tmpDir, waitConverged, waitUntil, diffTrees } from './e2e-support';

let work: string;
let src: string;
let outside: string;
let a: RsyncDaemon;
let b: RsyncDaemon;
let agent: Agent | null = null;
const logs: string[] = [];

function makeAgent(stateDir: string, extra: Record<string, unknown> = {}, rsyncParams = '-artuz'): Agent {
  const config = validateConfig({
    watches: [{
      path: src,
      rsyncParams,
      remotes: [
        { host: '127.0.0.1', port: a.port, module: 'm', user: 'syncer', passwordFile: a.passwordFile },
        { host: '127.0.0.1', port: b.port, module: 'm' },
      ],
    }],
    batchDelayMs: 50,
    retry: { initialDelayMs: 200, maxDelayMs: 1000, factor: 2, jitter: 0.2 },
    connectTimeoutSec: 5,
    ...extra,
  });
  return new Agent(config, { stateDir, log: createLogger('debug', (l) => logs.push(l)) });
}

const targets = () => [a.moduleDir, b.moduleDir];

before(async () => {
  work = tmpDir('e2e');
  src = path.join(work, 'src');
  outside = path.join(work, 'outside');
  fs.mkdirSync(src);
  fs.mkdirSync(outside);
  // Something to mirror before the agent starts: the initial full sync must bring it over.
  fs.mkdirSync(path.join(src, 'pre/deep'), { recursive: true });
  fs.writeFileSync(path.join(src, 'pre/deep/old.txt'), 'old');
  a = await new RsyncDaemon({ auth: { user: 'syncer', password: 's3cret' } }).start();
  b = await new RsyncDaemon().start();
  agent = makeAgent(path.join(work, 'state'), { fullSync: { onStart: true } });
  await agent.start();
  await waitConverged(src, targets(), 'initial full sync');
});

after(async () => {
  if (process.env.AGENT_TEST_LOG) fs.writeFileSync(process.env.AGENT_TEST_LOG, logs.join('\n'));
  await agent?.stop();
  await a?.destroy();
  await b?.destroy();
  fs.rmSync(work, { recursive: true, force: true });
});

const p = (...parts: string[]) => path.join(src, ...parts);

test('create files, nested and empty directories', async () => {
  fs.writeFileSync(p('hello.txt'), 'hello\n');
  fs.mkdirSync(p('x/y/z'), { recursive: true });
  fs.writeFileSync(p('x/y/z/deep.bin'), Buffer.alloc(70_000, 7));
  fs.writeFileSync(p('x/top.txt'), 'top');
  fs.mkdirSync(p('empty-dir'));
  fs.symlinkSync('hello.txt', p('link-to-hello'));
  await waitConverged(src, targets(), 'creates');
});

test('modify, append, directory chmod', async () => {
  await sleep(1100); // a new mtime second, so -u (in the default -artuz) sees the source as newer
  fs.writeFileSync(p('hello.txt'), 'hello, world\n');
  fs.appendFileSync(p('x/top.txt'), ' appended');
  fs.writeFileSync(p('pre/deep/old.txt'), 'rewritten in place');
  fs.chmodSync(p('x/y'), 0o750);
  await waitConverged(src, targets(), 'modifications');
});

test('a rewrite keeping size and mtime is still pushed (rsync\'s quick check alone would skip it)', async () => {
  fs.writeFileSync(p('same-size.txt'), 'AAAA');
  await waitConverged(src, targets(), 'first version');
  const ref = path.join(outside, 'same-size.ref');
  execFileSync('touch', ['-r', p('same-size.txt'), ref]); // remember the exact mtime, nanoseconds included
  fs.writeFileSync(p('same-size.txt'), 'BBBB');
  execFileSync('touch', ['-r', ref, p('same-size.txt')]);
  await waitConverged(src, targets(), 'same size, same mtime, new content');
  for (const t of targets()) assert.equal(fs.readFileSync(path.join(t, 'same-size.txt'), 'utf8'), 'BBBB');
});

test('renames of files and non-empty directories; directories moved in and out of the tree', async () => {
  fs.renameSync(p('hello.txt'), p('hello-renamed.txt'));
  fs.renameSync(p('x'), p('x-renamed'));
  // A whole tree moved in from outside arrives as one event; its subdirectories must still be watched afterwards.
  fs.mkdirSync(path.join(outside, 'incoming/sub/subsub'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'incoming/sub/subsub/f.txt'), 'moved in');
  fs.renameSync(path.join(outside, 'incoming'), p('incoming'));
  await waitConverged(src, targets(), 'renames and move-in');
  fs.writeFileSync(p('incoming/sub/subsub/later.txt'), 'written after the move');
  fs.writeFileSync(p('x-renamed/y/z/after-rename.txt'), 'written inside a renamed directory');
  await waitConverged(src, targets(), 'writes inside moved-in and renamed subdirectories');
  fs.renameSync(p('pre'), path.join(outside, 'pre-moved-out'));
  await waitConverged(src, targets(), 'move out');
});

test('deletes of files and non-empty directories; a file replaced by a directory and back', async () => {
  fs.unlinkSync(p('hello-renamed.txt'));
  fs.rmSync(p('x-renamed'), { recursive: true });
  fs.rmdirSync(p('empty-dir'));
  fs.writeFileSync(p('shape'), 'a file');
  await waitConverged(src, targets(), 'deletes');
  fs.unlinkSync(p('shape'));
  fs.mkdirSync(p('shape/inner'), { recursive: true });
  fs.writeFileSync(p('shape/inner/f'), 'now a dir');
  await waitConverged(src, targets(), 'file -> dir');
  fs.rmSync(p('shape'), { recursive: true });
  fs.writeFileSync(p('shape'), 'a file again');
  await waitConverged(src, targets(), 'dir -> file');
  // Re-created directory: stale content on the target must go.
  fs.mkdirSync(p('re/old'), { recursive: true });
  fs.writeFileSync(p('re/old/stale'), 'stale');
  await waitConverged(src, targets(), 're-created dir (before)');
  fs.rmSync(p('re'), { recursive: true });
  fs.mkdirSync(p('re/new'), { recursive: true });
  fs.writeFileSync(p('re/new/fresh'), 'fresh');
  await waitConverged(src, targets(), 're-created dir (after)');
});

test('a target down for a while catches up when it returns; the other one is not held back', async () => {
  await b.stop();
  fs.mkdirSync(p('during-outage'));
  for (let i = 0; i < 20; i++) fs.writeFileSync(p('during-outage', `f${i}`), `v${i}`);
  fs.rmSync(p('incoming'), { recursive: true });
  await waitConverged(src, [a.moduleDir], 'healthy target during outage');
  const down = () => agent!.targets().find((t) => t.port === b.port)!;
  await waitUntil(() => down().queueLength > 0 && down().lastError !== null, 'journal holds the down target\'s work');
  assert.ok(diffTrees(src, b.moduleDir).length > 0, 'the down target has not received the changes');
  assert.match(down().lastError!, /rsync exit/);
  // More changes while it is still down: they join the same queue.
  fs.writeFileSync(p('during-outage', 'f0'), 'changed again');
  await sleep(300);
  await b.start(); // same port
  await waitConverged(src, targets(), 'catch-up after the target returns');
  await waitUntil(() => down().queueLength === 0, 'queue drained');
  assert.equal(agent!.targets().find((t) => t.port === a.port)!.queueLength, 0);
});

test('journal survives a restart: work queued for a down target is replayed by the next agent', async () => {
  await b.stop();
  fs.writeFileSync(p('queued-while-down.txt'), 'queued');
  fs.mkdirSync(p('queued-dir/inner'), { recursive: true });
  fs.unlinkSync(p('shape'));
  await waitConverged(src, [a.moduleDir], 'healthy target');
  const down = () => agent!.targets().find((t) => t.port === b.port)!;
  await waitUntil(() => down().queueLength > 0, 'pending work for the down target');
  await agent!.stop();
  const journalDir = path.join(work, 'state', 'journal');
  const pendingLines = fs.readdirSync(journalDir).map((f) => fs.readFileSync(path.join(journalDir, f), 'utf8')).join('');
  assert.match(pendingLines, /queued-while-down\.txt/);
  await b.start();
  // No full sync at start and a clean previous stop: only the journal can bring these changes over.
  // This agent runs without -u: sersync's default -artuz skips any file whose target copy is not older, so a chmod or
  // a backdated mtime would never be pushed; -artz mirrors them (checked below).
  agent = makeAgent(path.join(work, 'state'), { recoverWithFullSync: false }, '-artz');
  await agent.start();
  await waitConverged(src, targets(), 'replayed journal');
  assert.ok(logs.some((l) => l.includes('"msg":"replaying journal"')));
  fs.chmodSync(p('queued-while-down.txt'), 0o600);
  const t = new Date('2022-02-02T02:02:02Z');
  fs.utimesSync(p('during-outage/f1'), t, t);
  await waitConverged(src, targets(), 'chmod and backdated mtime with -artz');
});

test('password file readable by others: the agent refuses to start, saying so', async () => {
  const loose = path.join(work, 'loose.pass');
  fs.writeFileSync(loose, 'x\n', { mode: 0o644 });
  fs.chmodSync(loose, 0o644);
  const cfg = validateConfig({ watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: a.port, module: 'm', user: 'u', passwordFile: loose }] }] });
  const bad = new Agent(cfg, { stateDir: path.join(work, 'state-bad'), log: createLogger('error', () => {}) });
  await assert.rejects(bad.start(), /password file .*loose\.pass has mode 0644.*chmod 600/s);
});
