import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AppConfig } from '../config/app-config';
import { PendingDirs } from './pending-dirs';

function setup() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-pending-'));
  const root = path.join(dataDir, 'modules');
  fs.mkdirSync(root);
  return { dataDir, root, pending: new PendingDirs({ dataDir } as AppConfig) };
}

test('an uncommitted chain is removed at cleanup, leaf first, only while empty', () => {
  const { root, pending } = setup();
  const leaf = path.join(root, 'a', 'b', 'c');
  pending.record(leaf);
  fs.mkdirSync(leaf, { recursive: true });
  const keptLeaf = path.join(root, 'k', 'data');
  pending.record(keptLeaf);
  fs.mkdirSync(keptLeaf, { recursive: true });
  fs.writeFileSync(path.join(keptLeaf, 'pushed-before-the-crash'), 'x');
  const removed = pending.cleanup(() => false);
  assert.deepEqual(removed, [leaf, path.dirname(leaf), path.join(root, 'a')]);
  assert.ok(fs.existsSync(path.join(keptLeaf, 'pushed-before-the-crash')), 'a directory holding data stays');
  assert.deepEqual(pending.cleanup(() => false), [], 'the record is cleared');
});

test('a committed module keeps its directory; done() forgets the record; existing paths are never recorded', () => {
  const { root, pending } = setup();
  const committed = path.join(root, 'm1');
  pending.record(committed);
  fs.mkdirSync(committed);
  const finished = path.join(root, 'm2');
  const rec = pending.record(finished);
  fs.mkdirSync(finished);
  rec.done();
  pending.record(root); // exists: nothing to record
  assert.deepEqual(pending.cleanup((d) => d === committed), []);
  assert.ok(fs.existsSync(committed) && fs.existsSync(finished) && fs.existsSync(root));
});

test('a symbolic link in place of a recorded directory is not followed or removed', () => {
  const { root, pending } = setup();
  const target = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-pending-target-'));
  const link = path.join(root, 'l');
  pending.record(link);
  fs.symlinkSync(target, link);
  assert.deepEqual(pending.cleanup(() => false), []);
  assert.ok(fs.lstatSync(link).isSymbolicLink() && fs.existsSync(target));
});

test('a crash in the middle of mkdir -p (the chain made only partly) still removes what was made', () => {
  const { root, pending } = setup();
  const leaf = path.join(root, 'half', 'way', 'data');
  pending.record(leaf);
  // mkdir -p makes the chain top down: a kill -9 after the first mkdir leaves only the top (seen in crash-audit.e2e).
  fs.mkdirSync(path.join(root, 'half'));
  assert.deepEqual(pending.cleanup(() => false), [path.join(root, 'half')]);
  assert.ok(!fs.existsSync(path.join(root, 'half')));
});
