import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coalesce, combineKinds, comparePaths, type Change, mergeChanges, planPush, type PathState, relativeTo, filesFromBuffer } from './change-set';

const R = '/src';
const ev = (type: 'create' | 'update' | 'delete', p: string) => ({ type, path: `${R}/${p}` });

test('relativeTo', () => {
  const cases: [string, string | null][] = [
    ['/src/a/b', 'a/b'], ['/src', '.'], ['/srcx/a', null], ['/other', null], ['/src/a/../b', 'b'],
    ['/src/a/./b', 'a/b'], ['/src/a//b', 'a/b'], ['/src/a/', 'a'], ['/src/..x/y', '..x/y'], ['/src/.hidden', '.hidden'], ['/src/..', null],
  ];
  for (const [abs, want] of cases) assert.equal(relativeTo(R, abs), want, abs);
});

test('comparePaths orders segment by segment (parent first, siblings together), like comparing split paths', () => {
  const reference = (a: string, b: string): number => {
    const pa = a.split('/');
    const pb = b.split('/');
    for (let i = 0; i < Math.min(pa.length, pb.length); i++) if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
    return pa.length - pb.length;
  };
  const alphabet = ['a', 'b', '-', '.', '/', 'Z', 'é', '0'];
  let seed = 42;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const gen = () => {
    let s = alphabet[rnd(4)]!;
    for (let i = rnd(8); i > 0; i--) s += alphabet[rnd(alphabet.length)];
    return s.replace(/\/+/g, '/').replace(/\/$/, '');
  };
  for (let i = 0; i < 5000; i++) {
    const a = gen();
    const b = gen();
    assert.equal(Math.sign(comparePaths(a, b)), Math.sign(reference(a, b)), `${a} vs ${b}`);
  }
  assert.deepEqual(['a-b', 'a/c', 'a', 'a/b/c', 'a/b'].sort(comparePaths), ['a', 'a/b', 'a/b/c', 'a/c', 'a-b']);
});

test('combineKinds', () => {
  const cases: [Parameters<typeof combineKinds>[0], Parameters<typeof combineKinds>[1], string][] = [
    [undefined, 'update', 'update'], ['create', 'update', 'create'], ['update', 'delete', 'delete'],
    ['create', 'delete', 'delete'], ['delete', 'create', 'create'], ['delete', 'update', 'create'], ['update', 'update', 'update'],
  ];
  for (const [prev, next, want] of cases) assert.equal(combineKinds(prev, next), want, `${prev}+${next}`);
});

test('coalesce: table of event batches', () => {
  const cases: { name: string; events: ReturnType<typeof ev>[]; want: Change[]; filter?: Parameters<typeof coalesce>[2] }[] = [
    { name: 'repeats collapse', events: [ev('create', 'f'), ev('update', 'f'), ev('update', 'f')], want: [{ path: 'f', kind: 'create' }] },
    { name: 'rename = delete old + create new', events: [ev('delete', 'old'), ev('create', 'new')],
      want: [{ path: 'new', kind: 'create' }, { path: 'old', kind: 'delete' }] },
    { name: 'deleted dir covers earlier changes beneath it', events: [ev('create', 'd/x'), ev('update', 'd/y/z'), ev('delete', 'd/x'), ev('delete', 'd')],
      want: [{ path: 'd', kind: 'delete' }] },
    { name: 'dir deleted then re-created: later creates beneath it are kept', events: [ev('delete', 'd/old'), ev('delete', 'd'), ev('create', 'd'), ev('create', 'd/new')],
      want: [{ path: 'd', kind: 'create' }, { path: 'd/new', kind: 'create' }, { path: 'd/old', kind: 'delete' }] },
    { name: 'creates beneath a dir deleted later are dropped', events: [ev('create', 'd/new'), ev('delete', 'd')], want: [{ path: 'd', kind: 'delete' }] },
    { name: 'outside the root ignored', events: [{ type: 'create', path: '/elsewhere/x' }, ev('create', 'in')], want: [{ path: 'in', kind: 'create' }] },
    { name: 'excludeRegex on relative paths and their ancestors', events: [ev('create', 'a.svn'), ev('create', 'info/x'), ev('create', 'keep/info')],
      filter: { excludeRegex: [/(.*)\.svn/, /^info\/*/] }, want: [{ path: 'keep/info', kind: 'create' }] },
    { name: 'delete switch off', events: [ev('delete', 'x'), ev('create', 'y')], filter: { delete: false }, want: [{ path: 'y', kind: 'create' }] },
    { name: 'sorted parent first', events: [ev('create', 'b'), ev('create', 'a/z'), ev('create', 'a')],
      want: [{ path: 'a', kind: 'create' }, { path: 'a/z', kind: 'create' }, { path: 'b', kind: 'create' }] },
  ];
  for (const c of cases) assert.deepEqual(coalesce(R, c.events, c.filter), c.want, c.name);
});

test('mergeChanges merges queued batches in order', () => {
  assert.deepEqual(
    mergeChanges([[{ path: 'a', kind: 'create' }, { path: 'b', kind: 'update' }], [{ path: 'a', kind: 'delete' }, { path: 'c', kind: 'create' }]]),
    [{ path: 'a', kind: 'delete' }, { path: 'b', kind: 'update' }, { path: 'c', kind: 'create' }],
  );
});

test('planPush: table', () => {
  const cases: { name: string; changes: Change[]; fs: Record<string, PathState>; want: { recursive: string[]; flat: string[] } }[] = [
    { name: 'files only, nested: no root', changes: [{ path: 'a/f', kind: 'create' }], fs: { a: 'dir', 'a/f': 'other' },
      want: { recursive: [], flat: ['a/f'] } },
    { name: 'top-level file adds root', changes: [{ path: 'f', kind: 'update' }], fs: { f: 'other' }, want: { recursive: [], flat: ['./f'] } },
    { name: 'new dir recursive, contents dropped', changes: [{ path: 'd', kind: 'create' }, { path: 'd/x', kind: 'create' }, { path: 'd/y', kind: 'delete' }],
      fs: { d: 'dir', 'd/x': 'other', 'd/y': 'missing' }, want: { recursive: ['./d', 'd/y'], flat: [] } },
    { name: 'top-level dir and file: the root goes with the flat run, which runs last', changes: [{ path: 'd', kind: 'create' }, { path: 'f', kind: 'create' }],
      fs: { d: 'dir', f: 'other' }, want: { recursive: ['d'], flat: ['./f'] } },
    { name: 'changed files stay flat beside a recursive run (the flat run skips the quick check)', changes: [{ path: 'a/new', kind: 'create' }, { path: 'b/f', kind: 'update' }, { path: 'b/gone', kind: 'delete' }],
      fs: { a: 'dir', 'a/new': 'dir', b: 'dir', 'b/f': 'other', 'b/gone': 'missing' }, want: { recursive: ['a/new'], flat: ['b/f', 'b/gone'] } },
    { name: 'deletes stay flat', changes: [{ path: 'gone/deep', kind: 'delete' }], fs: { gone: 'dir', 'gone/deep': 'missing' },
      want: { recursive: [], flat: ['gone/deep'] } },
    { name: 'missing under a path that is now a file: send the file', changes: [{ path: 's', kind: 'create' }, { path: 's/inner', kind: 'delete' }, { path: 's/inner/f', kind: 'delete' }],
      fs: { s: 'other', 's/inner': 'missing', 's/inner/f': 'missing' }, want: { recursive: [], flat: ['./s'] } },
    { name: 'missing under a missing dir: send the dir', changes: [{ path: 'x/y/z', kind: 'delete' }], fs: { x: 'dir', 'x/y': 'missing', 'x/y/z': 'missing' },
      want: { recursive: [], flat: ['x/y'] } },
    { name: 'root event', changes: [{ path: '.', kind: 'update' }], fs: {}, want: { recursive: [], flat: ['.'] } },
  ];
  for (const c of cases) {
    assert.deepEqual(planPush(c.changes, (p) => c.fs[p] ?? 'dir'), c.want, c.name);
  }
});

test('filesFromBuffer is NUL separated and keeps odd names', () => {
  assert.deepEqual(filesFromBuffer(['a b', 'new\nline', 'ü']).toString('utf8'), 'a b\0new\nline\0ü\0');
});
