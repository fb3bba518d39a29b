/**
 * ModulePathCatalogue (the overlap check of a module create, from an in-memory index) against the check it replaces:
 * every module's path resolved on disk and compared (PathOverlapIndex for the paths as written, then resolveDeepest
 * and pathRelation per module). A table of cases on a real directory tree: nested paths, siblings sharing a prefix
 * (/a/b vs /a/bc), a trailing slash, a symlinked parent, module directories replaced by symbolic links (in a parent
 * that is listed and in one that is not), a module directory that is missing; then the same after the index was
 * brought up to date by differences, and a module directory turned into a link after its parent's listing was cached.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModuleFields } from '@rsynchub/contracts';
import { moduleWithDefaults, PathOverlapIndex, pathRelation } from '@rsynchub/rsyncd';
import { resolveDeepest } from '../config/storage-roots';
import { ModuleList, ModulePathCatalogue } from './path-catalogue';

let root = '';
let store = '';

const resolve = (p: string): string | null => {
  try {
    return resolveDeepest(p);
  } catch {
    return null;
  }
};

function list(modules: { name: string; path: string }[], from?: ModuleList): ModuleList {
  const fields = modules.map((m) => Object.freeze(moduleWithDefaults({ name: m.name, path: m.path, anonymous: 'read', readOnly: true })) as ModuleFields);
  fields.sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  const out: ModuleList = { list: fields, lowers: fields.map((f) => f.name.toLowerCase()) };
  if (from) {
    const before = new Map(from.list.map((m) => [m.name.toLowerCase(), m.path]));
    const after = new Map(fields.map((m) => [m.name.toLowerCase(), m.path]));
    const names = new Set([...before.keys(), ...after.keys()].filter((k) => before.get(k) !== after.get(k)));
    out.from = { base: new WeakRef(from), names };
  }
  return out;
}

/** The old check, module by module: every message it could give (several modules may overlap). */
function reference(modules: { name: string; path: string }[], p: string): string[] {
  const lexical = new PathOverlapIndex(modules).check(p);
  if (lexical) return [lexical];
  const real = resolve(p);
  if (real === null) return [];
  const out: string[] = [];
  for (const o of modules) {
    const otherReal = resolve(o.path) ?? o.path;
    const rel = pathRelation(real, otherReal);
    if (rel === 'equal') out.push(`resolves to ${real}, the same directory as module "${o.name}"`);
    if (rel === 'inside') out.push(`resolves to ${real}, inside module "${o.name}" (${otherReal})`);
    if (rel === 'contains') out.push(`resolves to ${real}, which contains module "${o.name}" (${otherReal})`);
  }
  return out;
}

function check(catalogue: ModulePathCatalogue, p: string): string | null {
  const lexical = catalogue.lexical(p);
  if (lexical) return lexical;
  const real = resolve(p);
  return real === null ? null : catalogue.resolvedIssue(real);
}

function agree(catalogue: ModulePathCatalogue, modules: { name: string; path: string }[], cases: [string, 'free' | 'taken'][]): void {
  for (const [p, expected] of cases) {
    const want = reference(modules, p);
    const got = check(catalogue, p);
    assert.equal(want.length > 0 ? 'taken' : 'free', expected, `the table itself: ${p} (${want.join('; ')})`);
    if (want.length === 0) assert.equal(got, null, `${p}: free for the old check`);
    else assert.ok(got !== null && want.includes(got), `${p}: ${got} is not one of the old check's findings: ${want.join('; ')}`);
  }
}

const modules: { name: string; path: string }[] = [];

before(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rh-catalogue-')));
  store = path.join(root, 'store');
  // 20 side by side: their directory is listed (and the listing cached), not an lstat each.
  for (let i = 0; i < 20; i++) modules.push({ name: `s${i}`, path: path.join(store, `s${i}`) });
  // A few in a directory of their own: an lstat each.
  for (const n of ['a', 'b', 'c']) modules.push({ name: `few-${n}`, path: path.join(store, 'few', n) });
  modules.push({ name: 'ab', path: path.join(store, 'few', 'ab-sibling') });
  modules.push({ name: 'deep', path: path.join(store, 'deep', 'x', 'y') });
  // A module below a symlinked parent: root/alias -> store/real-parent.
  modules.push({ name: 'aliased', path: path.join(root, 'alias', 'm') });
  for (const m of modules) fs.mkdirSync(m.path, { recursive: true });
  fs.mkdirSync(path.join(store, 'real-parent'), { recursive: true });
  fs.rmSync(path.join(root, 'alias'), { recursive: true });
  fs.symlinkSync(path.join(store, 'real-parent'), path.join(root, 'alias'));
  fs.mkdirSync(path.join(store, 'real-parent', 'm'));
  // s7's directory replaced by a link to root/elsewhere; few/c's by a link to root/other; s8's directory missing.
  for (const d of ['elsewhere', 'other']) fs.mkdirSync(path.join(root, d));
  fs.rmSync(path.join(store, 's7'), { recursive: true });
  fs.symlinkSync(path.join(root, 'elsewhere'), path.join(store, 's7'));
  fs.rmSync(path.join(store, 'few', 'c'), { recursive: true });
  fs.symlinkSync(path.join(root, 'other'), path.join(store, 'few', 'c'));
  fs.rmSync(path.join(store, 's8'), { recursive: true });
});

after(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const cases = (): [string, 'free' | 'taken'][] => [
  [path.join(store, 's3'), 'taken'], // equal
  [path.join(store, 's3', 'in'), 'taken'], // nested inside
  [path.join(store, 's3') + '/', 'taken'], // trailing slash
  [store, 'taken'], // contains them all
  [path.join(store, 's1x'), 'free'], // a sibling sharing a prefix with s1
  [path.join(store, 's19x', 'deeper'), 'free'],
  [path.join(store, 'few', 'ab'), 'free'], // prefix of ab-sibling
  [path.join(store, 'few', 'a', 'b'), 'taken'],
  [path.join(store, 'few'), 'taken'],
  [path.join(store, 'deep'), 'taken'], // contains deep/x/y
  [path.join(store, 'deep', 'x', 'z'), 'free'],
  [path.join(root, 'elsewhere'), 'taken'], // s7 is a link to it
  [path.join(root, 'elsewhere', 'in'), 'taken'],
  [path.join(root, 'other'), 'taken'], // few/c is a link to it (a directory that is not listed)
  [path.join(root, 'other', 'x'), 'taken'],
  [path.join(store, 'real-parent', 'm'), 'taken'], // what root/alias/m resolves to
  [path.join(store, 'real-parent', 'm', 'in'), 'taken'],
  [path.join(store, 'real-parent'), 'taken'], // contains it
  [path.join(store, 'real-parent', 'mx'), 'free'],
  [path.join(root, 'alias', 'new'), 'free'],
  [path.join(root, 'alias'), 'taken'],
  [path.join(store, 's8'), 'taken'], // missing on disk, still a module
  [path.join(store, 's8', 'x'), 'taken'],
  [path.join(store, 'new'), 'free'],
  [path.join(root, 'fresh', 'x'), 'free'],
  [root, 'taken'],
];

describe('ModulePathCatalogue agrees with the per-module check', () => {
  test('a table of cases, from a full build of the index', () => {
    const catalogue = new ModulePathCatalogue(resolve);
    catalogue.sync(list(modules));
    assert.equal(catalogue.lastSync, 'rebuilt');
    agree(catalogue, modules, cases());
  });

  test('the same after the index was brought up to date by differences (creates, a delete, a moved path)', () => {
    const catalogue = new ModulePathCatalogue(resolve);
    const first = list(modules);
    catalogue.sync(first);
    const changed = [
      ...modules.filter((m) => m.name !== 's3' && m.name !== 'deep'),
      { name: 'deep', path: path.join(store, 'moved', 'y') },
      { name: 'n1', path: path.join(store, 'n1') },
      { name: 'n2', path: path.join(root, 'alias', 'n2') },
    ];
    const second = list(changed, first);
    catalogue.sync(second);
    assert.equal(catalogue.lastSync, 'applied');
    agree(catalogue, changed, [
      [path.join(store, 's3'), 'free'],
      [path.join(store, 'deep'), 'free'],
      [path.join(store, 'moved'), 'taken'],
      [path.join(store, 'n1'), 'taken'],
      [path.join(store, 'real-parent', 'n2'), 'taken'],
      [path.join(store, 'real-parent'), 'taken'],
      [path.join(store, 's1x'), 'free'],
    ]);
    // Not made from the list it holds: built again.
    catalogue.sync(list(modules));
    assert.equal(catalogue.lastSync, 'rebuilt');
    agree(catalogue, modules, cases());
  });

  test('a module directory turned into a link after its directory\'s listing was cached is seen through', async () => {
    const catalogue = new ModulePathCatalogue(resolve);
    catalogue.sync(list(modules));
    // The listing is kept only for a directory unchanged for a while (file times are coarse): wait until it is.
    const settledAt = Number(fs.statSync(store, { bigint: true }).ctimeNs / 1_000_000n) + 200;
    const deadline = Date.now() + 10_000;
    while (Date.now() < settledAt && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    agree(catalogue, modules, [[path.join(root, 'target5'), 'free']]);
    const listed = catalogue.listed;
    agree(catalogue, modules, [[path.join(root, 'target5'), 'free']]);
    assert.equal(catalogue.listed, listed, 'the second check reused the cached listing');
    fs.mkdirSync(path.join(root, 'target5'));
    fs.rmSync(path.join(store, 's5'), { recursive: true });
    fs.symlinkSync(path.join(root, 'target5'), path.join(store, 's5'));
    agree(catalogue, modules, [
      [path.join(root, 'target5'), 'taken'],
      [path.join(root, 'target5', 'in'), 'taken'],
    ]);
    assert.match(check(catalogue, path.join(root, 'target5'))!, /the same directory as module "s5"/);
  });
});
