/** Table-driven tests of the pieces that keep config changes flat at thousands of modules (issue 10). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonSettingsDto } from '@rsynchub/contracts';
import { PathOverlapIndex } from './path-index';
import { RenderCache, renderRsyncdConf, RsyncdConfigError, type RenderInput } from './render';
import { configToProve, splitConfigSections } from './sections';
import { baseModule } from './testing';
import { checkModulePathOverlap } from './validate';

const settings: DaemonSettingsDto = { port: 873, address: '127.0.0.1', motd: '', maxConnections: 0, timeout: 0, reverseLookup: false, hostsAllow: [], hostsDeny: [] };
const paths = { secretsFile: '/var/lib/rh/rsyncd.secrets', pidFile: '/run/rh/rsyncd.pid', lockDir: '/run/rh/locks', logFile: '/var/log/rh/rsyncd.log' };

describe('PathOverlapIndex', () => {
  const taken = [
    { name: 'a', path: '/data/a' },
    { name: 'deep', path: '/data/x/y/z' },
    { name: 'ab', path: '/data/ab' },
  ];
  const cases: [string, string | null][] = [
    ['/data/a', 'is already the path of module "a"'],
    ['/data/a/b', 'lies inside module "a" (/data/a)'],
    ['/data/a/b/c/d', 'lies inside module "a" (/data/a)'],
    ['/data/x', 'contains module "deep" (/data/x/y/z)'],
    ['/data/x/y', 'contains module "deep" (/data/x/y/z)'],
    ['/data/x/y/z2', null],
    ['/data/x/y/z/w', 'lies inside module "deep" (/data/x/y/z)'],
    ['/data/a-b', null], // shares a prefix, not a directory
    ['/data/a.', null],
    ['/data/b', null],
    ['/dat', null],
  ];
  for (const [p, expected] of cases) {
    test(`${p} -> ${expected ?? 'free'}`, () => {
      assert.equal(new PathOverlapIndex(taken).check(p), expected);
      // The same verdict (free or not) as the linear check it replaces.
      assert.equal(checkModulePathOverlap(p, taken) === null, expected === null);
    });
  }

  test('agrees with checkModulePathOverlap on random trees, adding as it goes', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const seg = ['a', 'b', 'a-b', 'a.b', 'ab', 'B', 'é'];
    const index = new PathOverlapIndex();
    const added: { name: string; path: string }[] = [];
    for (let i = 0; i < 2000; i++) {
      const depth = 1 + rnd(4);
      const p = '/r/' + Array.from({ length: depth }, () => seg[rnd(seg.length)]).join('/');
      const fast = index.check(p);
      const slow = checkModulePathOverlap(p, added);
      assert.equal(fast === null, slow === null, `${p}: ${fast} vs ${slow}`);
      if (fast === null) {
        index.add(`m${i}`, p);
        added.push({ name: `m${i}`, path: p });
      }
    }
    assert.equal(index.size, added.length);
  });
});

describe('splitConfigSections / configToProve', () => {
  const config = ['# header', 'pid file = /x', '', '[a]', '    path = /d/a', '', '[b]', '    path = /d/b', ''].join('\n');

  test('splits at section headers and joins back to the same text', () => {
    const { global, sections } = splitConfigSections(config);
    assert.equal(global, '# header\npid file = /x\n');
    assert.deepEqual(sections, ['[a]\n    path = /d/a\n', '[b]\n    path = /d/b\n']);
    assert.equal([global, ...sections].join('\n'), config);
  });

  test('a config without globals has an empty global part', () => {
    assert.deepEqual(splitConfigSections('[a]\npath = /x\n'), { global: '', sections: ['[a]\npath = /x\n'] });
  });

  const cases: [string, string, ReadonlySet<string> | null, { sections: number; skipped: number; has: string[]; lacks: string[] }][] = [
    ['nothing accepted yet: everything', config, null, { sections: 2, skipped: 0, has: ['[a]', '[b]', 'pid file'], lacks: [] }],
    ['all accepted: globals only', config, new Set(splitConfigSections(config).sections), { sections: 0, skipped: 2, has: ['pid file'], lacks: ['[a]', '[b]'] }],
    ['one changed', config.replace('/d/b', '/d/bb'), new Set(splitConfigSections(config).sections), { sections: 1, skipped: 1, has: ['[b]', '/d/bb', 'pid file'], lacks: ['[a]'] }],
    ['one added', config + '\n[c]\n    path = /d/c\n', new Set(splitConfigSections(config).sections), { sections: 1, skipped: 2, has: ['[c]'], lacks: ['[a]', '[b]'] }],
  ];
  for (const [name, next, accepted, want] of cases) {
    test(name, () => {
      const r = configToProve(next, accepted);
      assert.equal(r.sections, want.sections);
      assert.equal(r.skipped, want.skipped);
      for (const s of want.has) assert.ok(r.text.includes(s), `${s} in ${r.text}`);
      for (const s of want.lacks) assert.ok(!r.text.includes(s), `${s} not in ${r.text}`);
      assert.ok(r.text.endsWith('\n'));
    });
  }
});

describe('RenderCache', () => {
  const modules = Array.from({ length: 50 }, (_, i) =>
    baseModule({ name: `m${i}`, path: `/data/modules/m${i}`, users: [{ name: 'u', access: 'rw' }], hostsAllow: i % 3 ? ['10.0.0.0/8'] : [] }),
  );
  const input = (over: Partial<RenderInput> = {}): RenderInput => ({ settings, paths, runningAsRoot: false, modules, roots: ['/data/modules'], bans: ['10.1.2.3'], ...over });

  test('renders exactly what an uncached render does, across changes of modules, settings and bans', () => {
    const cache = new RenderCache();
    const steps: Partial<RenderInput>[] = [
      {},
      {},
      { modules: [...modules, baseModule({ name: 'new', path: '/data/modules/new' })] },
      { modules: modules.map((m, i) => (i === 7 ? { ...m, comment: 'changed' } : m)) },
      { bans: ['10.1.2.3', '10.9.9.9'] },
      { settings: { ...settings, maxConnections: 4 } },
      { runningAsRoot: true },
      {},
    ];
    for (const [i, over] of steps.entries()) {
      assert.deepEqual(renderRsyncdConf({ ...input(over), cache }), renderRsyncdConf(input(over)), `step ${i}`);
    }
  });

  test('reuses unchanged sections and re-renders only the changed one', () => {
    const cache = new RenderCache();
    renderRsyncdConf({ ...input(), cache });
    assert.equal(cache.misses, 50);
    renderRsyncdConf({ ...input({ modules: modules.map((m, i) => (i === 3 ? { ...m, comment: 'third' } : m)) }), cache });
    assert.equal(cache.misses, 1);
    assert.equal(cache.hits, 49);
    // A different context (bans) renders every section again: each depends on it.
    renderRsyncdConf({ ...input({ bans: [] }), cache });
    assert.equal(cache.misses, 50);
  });

  test('a cached module still fails validation with its index in the field name', () => {
    const cache = new RenderCache();
    const bad = baseModule({ name: 'bad', path: '/elsewhere/bad' });
    for (let round = 0; round < 2; round++) {
      assert.throws(
        () => renderRsyncdConf({ ...input({ modules: [modules[0]!, bad] }), cache }),
        (e: unknown) => e instanceof RsyncdConfigError && e.issues.some((x) => x.field === 'modules[1].path'),
      );
    }
  });
});
