import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { coalesce } from './change-set';
import { collectRegexExcludes, exactRsyncPattern, isRegexExcluded, sersyncExcludeMatchers } from './regex-excludes';

// sersync's stock filter expressions; boost::regex_match is a full match.
const stock = sersyncExcludeMatchers(['(.*)\\.svn', '(.*)\\.gz', '^info/*', '^static/*']);

test('sersync filters match in full, like boost::regex_match (not a search)', () => {
  const cases: [string, boolean][] = [
    ['statics/x.gz.txt', false], ['information/doc.txt', false], ['static2', false], ['a/b.gzip', false],
    ['x.gz', true], ['a/b/c.gz', true], ['a.svn', true], ['a.svn/inner/file', true], ['info', true], ['info/doc.txt', true],
    ['static/css/x.css', true], ['top.txt', false],
  ];
  for (const [rel, want] of cases) assert.equal(isRegexExcluded(rel, stock), want, rel);
});

test('events are filtered with the same rule', () => {
  const events = ['statics/x.gz.txt', 'information/doc.txt', 'x.gz', 'info/a'].map((p) => ({ type: 'update' as const, path: `/r/${p}` }));
  assert.deepEqual(coalesce('/r', events, { excludeRegex: stock }).map((c) => c.path), ['information/doc.txt', 'statics/x.gz.txt']);
});

test('collectRegexExcludes: shallowest excluded paths of a subtree, as exact rsync patterns', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-'));
  for (const f of ['info/a.txt', 'information/doc.txt', 'statics/x.gz.txt', 'statics/y.gz', 'a.svn/z', 'top.gz', 'odd[*]?.gz', 'new\nline.gz']) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), 'x');
  }
  assert.deepEqual(collectRegexExcludes(root, ['.'], stock).sort(), ['a.svn', 'info', 'new\nline.gz', 'odd[*]?.gz', 'statics/y.gz', 'top.gz']);
  assert.deepEqual(collectRegexExcludes(root, ['statics'], stock), ['statics/y.gz']);
  assert.deepEqual(collectRegexExcludes(root, ['info'], stock), [], 'an excluded base is not walked');
  assert.equal(exactRsyncPattern('odd[*]?.gz'), '/odd\\[\\*]\\?.gz');
  assert.equal(exactRsyncPattern('a b/c'), '/a b/c');
  fs.rmSync(root, { recursive: true });
});
