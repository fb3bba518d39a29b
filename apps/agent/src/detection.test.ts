/**
 * Pure parts of change detection: lossless byte names, the inotify helper's record format, the parsing of a
 * verification dry run and which of its differences the agent can explain, root identities.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentState } from './agent';
import { filesFromBuffer } from './change-set';
import { formatDetection } from './cli';
import { HelperParser } from './inotify-watcher';
import { decodePath, encodePath, hasEscapedBytes } from './path-bytes';
import { checkRoot } from './root-identity';
import { buildVerifyArgs, type Difference, isExplained, missedDifferences, parseItemized } from './verify';

test('decodePath/encodePath: every byte string round-trips; valid UTF-8 stays as it is', () => {
  const cases: [Buffer, string | null][] = [
    [Buffer.from('plain/ascii.txt'), 'plain/ascii.txt'],
    [Buffer.from('ünïcödé/中文/🎉.txt'), 'ünïcödé/中文/🎉.txt'],
    [Buffer.from('caf\xe9.txt', 'latin1'), 'caf\udce9.txt'], // Latin-1
    [Buffer.from([0xd6, 0xd0, 0xce, 0xc4]), '\udcd6\udcd0\udcce\udcc4'], // GBK "中文"
    [Buffer.from([0xed, 0xa0, 0x80]), '\udced\udca0\udc80'], // an encoded surrogate is not UTF-8
    [Buffer.from([0xc0, 0xaf]), '\udcc0\udcaf'], // overlong "/"
    [Buffer.concat([Buffer.from('🎉'), Buffer.from([0xff]), Buffer.from('é')]), '🎉\udcffé'],
    [Buffer.from([0xf0, 0x90, 0x82, 0x80, 0x80]), '\u{10080}\udc80'], // a pair whose low half looks like an escape
    [Buffer.from([0xe4, 0xb8]), '\udce4\udcb8'], // truncated sequence
  ];
  for (const [bytes, text] of cases) {
    const decoded = decodePath(bytes);
    if (text !== null) assert.equal(decoded, text, bytes.toString('hex'));
    assert.deepEqual(encodePath(decoded), bytes, `round trip of ${bytes.toString('hex')}`);
  }
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(Array.from({ length: 1 + (i % 13) }, (_, k) => (i * 7919 + k * 104729) % 256).filter((x) => x !== 0));
    assert.deepEqual(encodePath(decodePath(b)), b);
  }
  assert.equal(hasEscapedBytes('caf\udce9'), true);
  assert.equal(hasEscapedBytes('café'), false);
  assert.deepEqual(JSON.parse(JSON.stringify({ p: 'caf\udce9' })).p, 'caf\udce9', 'the JSON journal keeps them');
});

test('filesFromBuffer gives rsync the exact bytes, NUL-separated', () => {
  assert.deepEqual(filesFromBuffer(['a', 'caf\udce9', 'ü']), Buffer.from([0x61, 0, 0x63, 0x61, 0x66, 0xe9, 0, 0xc3, 0xbc, 0]));
});

test('HelperParser: records split anywhere across chunks', () => {
  const stream = Buffer.concat([
    Buffer.from('S3\0c/r/a\0u/r/a\0d/r/'), Buffer.from([0xe9, 0]), Buffer.from('O/r\0E/r/full\0No space left on device\0W/r/full\0R/r\0'),
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new HelperParser();
    const recs = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
    assert.deepEqual(recs.map((r) => [r.type, ...r.fields.map((f) => f.toString('latin1'))]), [
      ['S', '3'], ['c', '/r/a'], ['u', '/r/a'], ['d', '/r/\xe9'], ['O', '/r'], ['E', '/r/full', 'No space left on device'], ['W', '/r/full'], ['R', '/r'],
    ], `cut at ${cut}`);
  }
  assert.throws(() => new HelperParser().push(Buffer.from('Zx\0')), /unknown record type/);
});

test('parseItemized reads a dry run: creations, updates, deletions, the root, escaped and raw bytes', () => {
  const out = Buffer.concat([
    Buffer.from('.d..t...... ./\n'),
    Buffer.from('>f+++++++++ new.txt\n'),
    Buffer.from('>f.st...... dir/changed.txt\n'),
    Buffer.from('cd+++++++++ fresh/\n'),
    Buffer.from('*deleting   old/gone.txt\n'),
    Buffer.from('*deleting   old/\n'),
    Buffer.from('>f+++++++++ caf'), Buffer.from([0xe9]), Buffer.from('\n'),
    Buffer.from('>f+++++++++ new\\#012line\n'),
    Buffer.from('cL+++++++++ link\n'),
    Buffer.from('.f...p..... perms.txt\n'),
    Buffer.from('rsync: some warning\n'),
  ]);
  assert.deepEqual(parseItemized(out).map((d) => [d.kind, d.path]), [
    ['update', '.'], ['create', 'new.txt'], ['update', 'dir/changed.txt'], ['create', 'fresh'], ['delete', 'old/gone.txt'],
    ['delete', 'old'], ['create', 'caf\udce9'], ['create', 'new\nline'], ['create', 'link'], ['update', 'perms.txt'],
  ]);
});

test('isExplained: the path, an ancestor, a descendant, the root by a top-level change, rsync temp files', () => {
  const d = (p: string): Difference => ({ path: p, kind: 'update', code: '>f.st......' });
  const touched = new Set(['a/b', 'top.txt', 'x/y/z.txt']);
  assert.equal(isExplained(d('a/b'), touched), true);
  assert.equal(isExplained(d('a/b/c/d.txt'), touched), true, 'under a changed directory');
  assert.equal(isExplained(d('x'), touched), true, 'a directory whose entry changed');
  assert.equal(isExplained(d('.'), touched), true, 'the root, by a top-level change');
  assert.equal(isExplained(d('.'), new Set(['a/b'])), false);
  assert.equal(isExplained(d('q/.f.txt.AbC123'), touched), true, 'a push in flight');
  assert.equal(isExplained(d('q/.f.txt.AbC123'), new Set()), false);
  assert.equal(isExplained(d('a/bc'), touched), false, 'a sibling with a common prefix is not explained');
  assert.equal(isExplained(d('other.txt'), touched), false);
});

test('missedDifferences: a directory whose time moved because an entry inside it differs is one miss, not two', () => {
  const diff = (code: string, p: string): Difference => ({ path: p, kind: code === '*deleting' ? 'delete' : 'update', code });
  const cases: { name: string; diffs: Difference[]; touched: string[]; missed: string[] }[] = [
    { name: 'root time + a missed delete in it', diffs: [diff('.d..t......', '.'), diff('*deleting', 'x')], touched: [], missed: ['x'] },
    { name: 'sub-directory time + a missed file in it', diffs: [diff('.d..t......', 'a'), diff('>f+++++++++', 'a/f')], touched: [], missed: ['a/f'] },
    { name: 'directory time alone is a miss', diffs: [diff('.d..t......', 'a')], touched: [], missed: ['a'] },
    { name: 'only a deeper difference: the directory time is its own miss', diffs: [diff('.d..t......', 'a'), diff('>f+++++++++', 'a/b/f')], touched: [], missed: ['a', 'a/b/f'] },
    { name: 'directory permissions too: a miss of its own', diffs: [diff('.d...p.....', '.'), diff('*deleting', 'x')], touched: [], missed: ['.', 'x'] },
    { name: 'explained entry, directory time follows it', diffs: [diff('.d..t......', '.'), diff('>f.st......', 'y')], touched: ['y'], missed: [] },
  ];
  for (const c of cases) assert.deepEqual(missedDifferences(c.diffs, new Set(c.touched)).map((d) => d.path), c.missed, c.name);
});

test('buildVerifyArgs: the full sync as a dry run listing changes', () => {
  const args = buildVerifyArgs({
    root: '/src', remote: { host: 'h', port: 873, module: 'm', user: 'u', passwordFile: '/p' }, rsyncParams: ['-artz'],
    excludes: ['*.swp'], timeoutSec: 30, connectTimeoutSec: 10,
  }, ['*.php']);
  assert.ok(!args.includes('--info=progress2'));
  for (const a of ['--dry-run', '-8', '--out-format=%i %n', '-r', '--delete', '--exclude=*.swp', '--exclude=*.php', '--password-file=/p']) assert.ok(args.includes(a), a);
  assert.deepEqual(args.slice(-2), ['./', 'rsync://u@h:873/m/']);
});

test('checkRoot: same, missing, replaced (also when only the birth time differs: a reused inode)', () => {
  const id = { dev: 1n, ino: 2n, birthNs: 3n };
  assert.equal(checkRoot(id, { ...id }), 'same');
  assert.equal(checkRoot(id, null), 'missing');
  assert.equal(checkRoot(id, { ...id, ino: 9n }), 'replaced');
  assert.equal(checkRoot(id, { ...id, birthNs: 4n }), 'replaced');
});

test('status shows the watcher, overflows, replaced roots and what verification found missed', () => {
  const lines = formatDetection({
    watches: [{ path: '/srv/www', watching: false, lastEventAt: null, watcher: 'inotify', overflows: 2, rootReplaced: 1 }],
    verification: {
      t1: { runs: 3, lastRunAt: '2026-01-01T00:00:00.000Z', lastDurationMs: 10, lastResult: '1 differences', missedByWatcher: 1, lastMissedAt: '2026-01-01T00:00:00.000Z', lastMissedPaths: ['a/x'] },
      t2: { runs: 0, lastRunAt: null, lastDurationMs: null, lastResult: null, missedByWatcher: 0, lastMissedAt: null, lastMissedPaths: [] },
    },
  } as unknown as AgentState);
  assert.deepEqual(lines, [
    'watch /srv/www: watcher inotify, NOT WATCHING, 2 inotify overflows, root replaced 1x',
    'verify t1: 3 runs, last 2026-01-01T00:00:00.000Z (1 differences); MISSED BY THE WATCHER: 1 (last 2026-01-01T00:00:00.000Z: a/x)',
    'verify t2: 0 runs, last never; missed by the watcher: 0',
  ]);
});
