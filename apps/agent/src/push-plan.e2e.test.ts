/**
 * A push plan run by the real rsync client against a real daemon: a batch of new top-level directories is one recursive
 * run that also carries the root's own attributes (as an implied directory), without recursing into the root.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { planPush, type Change } from './change-set';
import { buildRsyncArgs, runRsync, type RsyncTarget } from './rsync-runner';
import { pathStateOf } from './target-queue';
import { RsyncDaemon, tmpDir } from './e2e-support';

const daemons: RsyncDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.destroy();
});

test('new top-level directories: one recursive run, the root mtime follows, nothing else in the root is touched', async () => {
  const d = await new RsyncDaemon().start();
  daemons.push(d);
  const src = tmpDir('plan-src');
  fs.mkdirSync(path.join(src, 'new/sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'new/sub/f.txt'), 'inside');
  fs.mkdirSync(path.join(src, 'other'));
  fs.writeFileSync(path.join(src, 'unlisted.txt'), 'not part of this batch');
  // Distinct, sub-second root mtime, so only an exact copy matches.
  fs.utimesSync(src, new Date('2020-02-03T04:05:06.789Z'), new Date('2020-02-03T04:05:06.789Z'));
  fs.writeFileSync(path.join(d.moduleDir, 'extraneous.txt'), 'already on the target, not in the source');

  const changes: Change[] = [{ path: 'new', kind: 'create' }, { path: 'new/sub/f.txt', kind: 'create' }, { path: 'other', kind: 'create' }];
  const plan = planPush(changes, (rel) => pathStateOf(src, rel));
  assert.deepEqual(plan, { recursive: ['./new', 'other'], flat: [] });

  const t: RsyncTarget = {
    root: src, remote: { host: '127.0.0.1', port: d.port, module: d.module }, rsyncParams: ['-artuz'], excludes: [],
    timeoutSec: 30, connectTimeoutSec: 5,
  };
  const res = await runRsync(buildRsyncArgs(t, 'recursive'), { cwd: src, paths: plan.recursive });
  assert.equal(res.code, 0, res.stderr);

  assert.equal(fs.readFileSync(path.join(d.moduleDir, 'new/sub/f.txt'), 'utf8'), 'inside');
  assert.ok(fs.statSync(path.join(d.moduleDir, 'other')).isDirectory());
  assert.equal(fs.statSync(d.moduleDir).mtimeMs, fs.statSync(src).mtimeMs, 'root mtime copied exactly');
  assert.ok(fs.existsSync(path.join(d.moduleDir, 'extraneous.txt')), 'the root is not recursed with --delete');
  assert.ok(!fs.existsSync(path.join(d.moduleDir, 'unlisted.txt')), 'the root is not recursed');
});
