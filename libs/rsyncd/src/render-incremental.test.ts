/**
 * The cached (incremental) render against a render from scratch (issue 10, module/user create at scale): after every
 * step of random sequences of creates, updates, deletes, renames, grants of known and unknown users, disabled and
 * invalid modules, settings, bans and transport changes, the render through a long-lived RenderCache must be the
 * same, byte for byte (text, parts and warnings, or the same refusal), as a render without any cache. The cache is
 * keyed by module name and compares fields, so the sequences also rename modules, reuse names with other fields,
 * change only the case of a name, hand the modules over in any order, and mutate objects the cache has seen.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonSettingsDto, ModuleFields } from '@rsynchub/contracts';
import { deepFrozen, RenderCache, renderRsyncdConf, RsyncdConfigError, type RenderInput, type RenderResult } from './render';
import { configToProve, joinConfigSections, splitConfigSections } from './sections';
import { baseModule } from './testing';

const settings: DaemonSettingsDto = { port: 873, address: '127.0.0.1', motd: '', maxConnections: 0, timeout: 0, reverseLookup: false, hostsAllow: [], hostsDeny: [] };
const paths = { secretsFile: '/var/lib/rh/rsyncd.secrets', pidFile: '/run/rh/rsyncd.pid', lockDir: '/run/rh/locks', logFile: '/var/log/rh/rsyncd.log' };

/** mulberry32: a small seeded generator, so a failing sequence can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { ok: true; result: RenderResult } | { ok: false; issues: unknown };

function outcome(input: RenderInput): Outcome {
  try {
    return { ok: true, result: renderRsyncdConf(input) };
  } catch (err) {
    if (!(err instanceof RsyncdConfigError)) throw err;
    return { ok: false, issues: err.issues };
  }
}

/** A deep-frozen copy of plain data (what the API's module mirror hands to the render). */
function frozenCopy<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  const copy = (Array.isArray(value) ? value.map(frozenCopy) : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, frozenCopy(v)]))) as T;
  return Object.freeze(copy);
}

describe('cached render equals a render from scratch', () => {
  // frozen: the modules are handed over as deep-frozen objects, the same object again while a module is unchanged
  // (sometimes a new, equal one), as the API's mirror does: the cache's identity shortcut must not change a byte.
  for (const frozen of [false, true])
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    test(`random sequence ${seed}${frozen ? ' (frozen modules, same object while unchanged)' : ''}: every step byte-identical, parts consistent with the text`, () => {
      const mirror = new Map<string, { json: string; frozen: ModuleFields }>();
      const rnd = random(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
      const users = ['alice', 'bob', 'carol', 'dave'];
      let known = [...users];
      let modules: ModuleFields[] = [];
      let next = 0;
      let context: Partial<RenderInput> = {};
      const plain = new RenderCache();
      const tls = new RenderCache();
      const fresh = (): ModuleFields => {
        const name = `${pick(['m', 'M', 'data', 'Data'])}${next++}`;
        const granted = rnd() < 0.7 ? [{ name: pick(users), access: pick(['rw', 'ro'] as const) }] : [];
        return baseModule({ name, path: `/data/modules/${name.toLowerCase()}`, users: granted, readOnly: granted.some((g) => g.access === 'ro') || rnd() < 0.3 });
      };
      for (let step = 0; step < 120; step++) {
        const r = rnd();
        if (r < 0.3 || modules.length === 0) modules.push(fresh());
        else if (r < 0.45) modules.splice(Math.floor(rnd() * modules.length), 1);
        else if (r < 0.6) {
          // Update: a new object, or the same object changed in place (a caller reusing what it passed before).
          const i = Math.floor(rnd() * modules.length);
          const change: Partial<ModuleFields> = pick<Partial<ModuleFields>>([
            { comment: `c${step}` },
            { hostsAllow: ['10.0.0.0/8'] },
            { hostsDeny: ['192.0.2.1'] },
            { maxConnections: 3 },
            { timeout: 60 },
            { excludes: ['*.tmp'] },
            { refuseOptions: ['delete'] },
            { tlsOnly: true },
            { enabled: false },
            { enabled: true },
            { list: false },
          ]);
          if (rnd() < 0.5) modules[i] = { ...modules[i]!, ...change };
          else Object.assign(modules[i]!, change);
        } else if (r < 0.68) {
          // Rename: the same fields under another name, or a case-only change of the same name.
          const i = Math.floor(rnd() * modules.length);
          const m = modules[i]!;
          modules[i] = { ...m, name: rnd() < 0.5 ? m.name.toUpperCase() : `r${next++}` };
        } else if (r < 0.72) {
          // A name reused by another module with other fields (delete + create of the same name).
          const i = Math.floor(rnd() * modules.length);
          modules[i] = { ...fresh(), name: modules[i]!.name };
        } else if (r < 0.75) {
          // Grants in place: a user added to the same array object the cache saw.
          const m = modules[Math.floor(rnd() * modules.length)]!;
          if (m.users.length > 0) m.users.push({ name: pick([...users, 'ghost']), access: 'ro' });
        } else if (r < 0.78) {
          modules.push({ ...fresh(), path: 'relative/path' }); // invalid: refused with its index, cached or not
        } else if (r < 0.8) {
          modules = modules.filter((m) => m.path !== 'relative/path');
        } else if (r < 0.84) known = rnd() < 0.5 ? [...users, 'ghost'] : [...users];
        else if (r < 0.88) context = { ...context, bans: rnd() < 0.5 ? ['10.1.2.3'] : [] };
        else if (r < 0.91) context = { ...context, settings: { ...settings, maxConnections: rnd() < 0.5 ? 2 : 0, hostsAllow: rnd() < 0.5 ? ['10.0.0.0/8'] : [] } };
        else if (r < 0.93) context = { ...context, runningAsRoot: rnd() < 0.5 };
        else if (r < 0.96) {
          // Any order: the database hands them over sorted, other callers may not.
          modules = [...modules].sort(() => rnd() - 0.5);
        }
        let list = modules;
        if (frozen) {
          list = modules.map((m) => {
            const json = JSON.stringify(m);
            const kept = mirror.get(m.name);
            if (kept && kept.json === json && rnd() < 0.9) return kept.frozen;
            const copy = frozenCopy(m);
            mirror.set(m.name, { json, frozen: copy });
            return copy;
          });
          assert.ok(list.every((m) => deepFrozen(m)));
        }
        const base: RenderInput = { settings, paths, runningAsRoot: false, modules: list, roots: ['/data/modules'], knownUsers: known, ...context };
        const tlsInput: RenderInput = { ...base, transport: 'tls', proxyProtocolHosts: ['127.0.0.1'] };
        // From scratch first: a deep copy, so nothing the cached render keeps can be shared with it.
        const expectPlain = outcome(structuredClone(base));
        const expectTls = outcome(structuredClone(tlsInput));
        const gotPlain = outcome({ ...base, cache: plain });
        const gotTls = outcome({ ...tlsInput, cache: tls });
        assert.deepEqual(gotPlain, expectPlain, `seed ${seed} step ${step} (plain)`);
        assert.deepEqual(gotTls, expectTls, `seed ${seed} step ${step} (tls)`);
        for (const got of [gotPlain, gotTls]) {
          if (!got.ok) continue;
          const { text, parts } = got.result;
          assert.deepEqual(parts, splitConfigSections(text), `seed ${seed} step ${step}: parts are the text's sections`);
          assert.equal(joinConfigSections(parts), text);
          assert.deepEqual(configToProve(parts, new Set(parts.sections.slice(1))), configToProve(text, new Set(parts.sections.slice(1))));
        }
      }
    });
  }

  // The API's way (no known users; the modules in render order, deep-frozen, the same object while unchanged): most
  // renders take the quick path (RenderCache.quick). It must not change a byte either, whatever the step.
  for (const seed of [11, 12, 13, 14, 15, 16]) {
    test(`quick path, random sequence ${seed}: creates, updates, deletes, refusals, disabled modules, new equal objects, settings: byte-identical`, () => {
      const rnd = random(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
      const plain = new RenderCache();
      const tls = new RenderCache();
      let next = 0;
      let context: Partial<RenderInput> = {};
      /** By lower-cased name: the module as frozen data. */
      let byName = new Map<string, ModuleFields>();
      const fresh = (): ModuleFields => {
        const name = `${pick(['m', 'M', 'data', 'Data', 'x_', 'X-'])}${next++}`;
        const granted = rnd() < 0.7 ? [{ name: pick(['alice', 'bob']), access: pick(['rw', 'ro'] as const) }] : [];
        return frozenCopy(baseModule({ name, path: `/data/modules/${name.toLowerCase()}`, users: granted, anonymous: granted.length > 0 ? 'none' : 'read', readOnly: granted.length === 0 || granted.every((g) => g.access === 'ro') }));
      };
      for (let i = 0; i < 30; i++) {
        const m = fresh();
        byName.set(m.name.toLowerCase(), m);
      }
      let quick = 0;
      for (let step = 0; step < 150; step++) {
        const r = rnd();
        const names = [...byName.keys()];
        let bad: ModuleFields | null = null;
        if (r < 0.3 || names.length === 0) {
          const m = fresh();
          byName.set(m.name.toLowerCase(), m);
        } else if (r < 0.45) byName.delete(pick(names));
        else if (r < 0.65) {
          const key = pick(names);
          const change = pick<Partial<ModuleFields>>([{ comment: `c${step}` }, { enabled: false }, { enabled: true }, { tlsOnly: true }, { hostsDeny: ['192.0.2.1'] }, { maxConnections: 2 }]);
          byName.set(key, frozenCopy({ ...byName.get(key)!, ...change }));
        } else if (r < 0.7) {
          // The same fields as a new object (a row read again): equal, not the same object.
          const key = pick(names);
          byName.set(key, frozenCopy({ ...byName.get(key)! }));
        } else if (r < 0.74) {
          // A change the render refuses (a path outside the roots): the cache must stay as it was.
          const key = pick(names);
          bad = frozenCopy({ ...byName.get(key)!, path: '/elsewhere/x' });
        } else if (r < 0.77) {
          // A duplicate of another module's name in another case: refused as a duplicate.
          const m = byName.get(pick(names))!;
          bad = frozenCopy({ ...m, name: m.name === m.name.toUpperCase() ? m.name.toLowerCase() : m.name.toUpperCase(), path: `${m.path}-dup` });
        } else if (r < 0.8) {
          // Many at once (an import): more than the quick path takes.
          for (let i = 0; i < 80; i++) {
            const m = fresh();
            byName.set(m.name.toLowerCase(), m);
          }
        } else if (r < 0.84) byName = new Map([...byName].filter(() => rnd() < 0.7));
        else if (r < 0.88) context = { ...context, bans: rnd() < 0.5 ? ['10.1.2.3'] : [] };
        else if (r < 0.9) context = { ...context, transferLogFormat: rnd() < 0.5 ? '%o %f' : undefined };
        else if (r < 0.92) context = { ...context, settings: { ...settings, maxConnections: rnd() < 0.5 ? 2 : 0 } };
        const sorted = [...byName.keys()].sort().map((k) => byName.get(k)!);
        let list = sorted;
        if (bad) {
          const lower = bad.name.toLowerCase();
          list = [...sorted.filter((m) => m.name.toLowerCase() !== lower || bad!.path.endsWith('-dup')), bad].sort((x, y) => (x.name.toLowerCase() < y.name.toLowerCase() ? -1 : 1));
        }
        const base: RenderInput = { settings, paths, runningAsRoot: false, modules: list, roots: ['/data/modules'], ...context };
        const tlsInput: RenderInput = { ...base, transport: 'tls', proxyProtocolHosts: ['127.0.0.1'] };
        const expectPlain = outcome(structuredClone(base));
        const expectTls = outcome(structuredClone(tlsInput));
        const before = plain.quickRenders;
        const gotPlain = outcome({ ...base, cache: plain });
        const gotTls = outcome({ ...tlsInput, cache: tls });
        if (plain.quickRenders > before) quick++;
        assert.deepEqual(gotPlain, expectPlain, `seed ${seed} step ${step} (plain)`);
        assert.deepEqual(gotTls, expectTls, `seed ${seed} step ${step} (tls)`);
        if (bad) assert.equal(gotPlain.ok, false, `seed ${seed} step ${step}: refused`);
        else assert.equal(gotPlain.ok, true, `seed ${seed} step ${step}: rendered (${gotPlain.ok ? '' : JSON.stringify(gotPlain.issues)})`);
      }
      assert.ok(quick > 60, `most renders took the quick path (${quick} of 150)`);
    });
  }

  test('the quick path renders only the module that changed among many', () => {
    const cache = new RenderCache();
    const modules = Array.from({ length: 500 }, (_, i) => frozenCopy(baseModule({ name: `m${String(i).padStart(3, '0')}`, path: `/data/modules/m${i}` })));
    const input = (list: ModuleFields[]): RenderInput => ({ settings, paths, runningAsRoot: false, modules: list, roots: ['/data/modules'], cache });
    renderRsyncdConf(input(modules));
    assert.equal(cache.quickRenders, 0, 'the first render is a full one');
    const added = frozenCopy(baseModule({ name: 'm2500', path: '/data/modules/m2500' }));
    const next = [...modules.slice(0, 251), added, ...modules.slice(251)];
    const out = renderRsyncdConf(input(next));
    assert.deepEqual([cache.quickRenders, cache.misses, cache.hits], [1, 1, 500]);
    assert.deepEqual(out, renderRsyncdConf({ ...input(next), cache: undefined }));
    // Out of order: the full render decides (and sorts), with the same result.
    const shuffled = [added, ...modules];
    assert.deepEqual(renderRsyncdConf(input(shuffled)), renderRsyncdConf({ ...input(shuffled), cache: undefined }));
    assert.equal(cache.quickRenders, 1);
  });

  test('a render that is refused leaves the cache as it was: the next render still equals one from scratch', () => {
    const cache = new RenderCache();
    const modules = Array.from({ length: 20 }, (_, i) => baseModule({ name: `m${i}`, path: `/data/modules/m${i}` }));
    const input = (list: ModuleFields[]): RenderInput => ({ settings, paths, runningAsRoot: false, modules: list, roots: ['/data/modules'] });
    renderRsyncdConf({ ...input(modules), cache });
    // A refused change (a bad path): nothing of it may be served later as a valid section.
    const bad = modules.map((m, i) => (i === 5 ? { ...m, path: '/elsewhere/m5' } : m));
    assert.throws(() => renderRsyncdConf({ ...input(bad), cache }), RsyncdConfigError);
    assert.deepEqual(renderRsyncdConf({ ...input(modules), cache }), renderRsyncdConf(input(modules)));
    assert.throws(() => renderRsyncdConf({ ...input(bad), cache }), RsyncdConfigError);
    assert.equal(cache.misses, 1, 'only the changed module was checked again');
  });

  test('deepFrozen: only plain data that can never change counts', () => {
    const withGetter = Object.freeze(Object.defineProperty({}, 'name', { get: () => String(Math.random()), enumerable: true }));
    class Box {
      constructor(readonly v: number) {}
    }
    const cases: [string, unknown, boolean][] = [
      ['primitive', 'x', true],
      ['frozen object of primitives', Object.freeze({ a: 1, b: 'x', c: null }), true],
      ['frozen object holding a frozen array of frozen objects', Object.freeze({ users: Object.freeze([Object.freeze({ name: 'a' })]) }), true],
      ['not frozen', { a: 1 }, false],
      ['frozen, but holding an array that is not', Object.freeze({ users: [] }), false],
      ['frozen, but a nested object is not', Object.freeze({ users: Object.freeze([{ name: 'a' }]) }), false],
      ['a getter (could answer differently each time)', withGetter, false],
      ['a frozen class instance', Object.freeze(new Box(1)), false],
      ['a function', Object.freeze(() => 1), false],
    ];
    for (const [what, value, expected] of cases) assert.equal(deepFrozen(value), expected, what);
  });

  test('the same frozen module object again is a hit without comparing; a new object with other fields is not', () => {
    const cache = new RenderCache();
    const a = frozenCopy(baseModule({ name: 'a', path: '/data/modules/a' }));
    const input = (list: ModuleFields[]): RenderInput => ({ settings, paths, runningAsRoot: false, modules: list, roots: ['/data/modules'], cache });
    renderRsyncdConf(input([a]));
    renderRsyncdConf(input([a]));
    assert.deepEqual([cache.hits, cache.misses], [1, 0]);
    const changed = frozenCopy({ ...a, comment: 'changed' });
    const out = renderRsyncdConf(input([changed]));
    assert.deepEqual([cache.hits, cache.misses], [0, 1]);
    assert.match(out.text, /comment = changed/);
  });

  test('joinConfigSections is the inverse of splitConfigSections', () => {
    for (const text of ['# g\nport = 873\n', '# g\n\n[a]\n    path = /x\n\n[b]\n    path = /y\n', '[a]\n    path = /x\n\n[b]\n    path = /y\n', '']) {
      assert.equal(joinConfigSections(splitConfigSections(text)), text);
    }
  });
});
