import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { AppConfig } from '../config/app-config';
import { AlertInputsCollector } from './alert-inputs.service';

// storage() reads only the config (the storage roots) and the real filesystem: the other services are not used.
function collector(root: string): AlertInputsCollector {
  const unused = null as never;
  return new AlertInputsCollector(unused, unused, unused, unused, unused, { storageRoots: [root] } as unknown as AppConfig);
}

const off = { minFreePercent: 0, minFreeBytes: 0 };

test('storage: a sample younger than maxAgeMs is used again for the same modules (no stat of every module path)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-storage-sample-'));
  try {
    const a = path.join(root, 'a');
    fs.mkdirSync(a);
    const c = collector(root);
    const modules = [{ name: 'a', path: a }];
    const first = await c.storage(modules, off, 60_000);
    assert.equal(first.find((e) => e.name === 'a')!.error, null);
    // The path goes away: a reused sample still shows the old figures, a fresh one (maxAgeMs 0) sees it gone.
    fs.rmSync(a, { recursive: true });
    const reused = await c.storage(modules, off, 60_000);
    assert.equal(reused.find((e) => e.name === 'a')!.error, null, 'the sample was taken again although it was fresh enough');
    assert.deepEqual(reused, first);
    const fresh = await c.storage(modules, off, 0);
    assert.equal(fresh.find((e) => e.name === 'a')!.error, 'ENOENT');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('storage: a different set of modules (or paths) is sampled afresh, and thresholds always apply to the figures anew', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-storage-sample-'));
  try {
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    fs.mkdirSync(a);
    const c = collector(root);
    await c.storage([{ name: 'a', path: a }], off, 60_000);
    // A new module: sampled at once, not left out until the next periodic sample.
    const withB = await c.storage([{ name: 'a', path: a }, { name: 'b', path: b }], off, 60_000);
    assert.equal(withB.find((e) => e.name === 'b')!.error, 'ENOENT');
    fs.mkdirSync(b);
    // Same names, b moved to another path: sampled afresh.
    const moved = await c.storage([{ name: 'a', path: a }, { name: 'b', path: a }], off, 60_000);
    assert.equal(moved.find((e) => e.name === 'b')!.error, null);
    // A threshold that every filesystem is under (100 %): the reused figures are "low" now, and not otherwise.
    const low = await c.storage([{ name: 'a', path: a }, { name: 'b', path: a }], { minFreePercent: 100, minFreeBytes: 0 }, 60_000);
    assert.ok(low.every((e) => e.low), JSON.stringify(low));
    const notLow = await c.storage([{ name: 'a', path: a }, { name: 'b', path: a }], off, 60_000);
    assert.ok(notLow.every((e) => !e.low));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
