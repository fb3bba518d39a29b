/**
 * The render cache and the known rsync users (issue 10, module/user create at scale): a user create or delete must
 * not re-check and re-render every module (it did: the list of known users was part of the cache's context, and each
 * module's check built a Set of all users, so one render at 6,000 modules and users took ~30 s), yet a grant of an
 * unknown user must still be refused and a section must follow its users becoming known.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonSettingsDto } from '@rsynchub/contracts';
import { RenderCache, renderRsyncdConf, RsyncdConfigError, type RenderInput } from './render';
import { baseModule } from './testing';

const settings: DaemonSettingsDto = { port: 873, address: '127.0.0.1', motd: '', maxConnections: 0, timeout: 0, reverseLookup: false, hostsAllow: [], hostsDeny: [] };
const paths = { secretsFile: '/var/lib/rh/rsyncd.secrets', pidFile: '/run/rh/rsyncd.pid', lockDir: '/run/rh/locks', logFile: '/var/log/rh/rsyncd.log' };
const modules = Array.from({ length: 200 }, (_, i) => baseModule({ name: `m${i}`, path: `/data/modules/m${i}`, users: [{ name: `u${i}`, access: 'rw' }] }));
const users = modules.map((_, i) => `u${i}`);
const input = (over: Partial<RenderInput> = {}): RenderInput => ({ settings, paths, runningAsRoot: false, modules, roots: ['/data/modules'], knownUsers: users, ...over });

test('a new rsync user re-renders no module section, and the output equals an uncached render', () => {
  const cache = new RenderCache();
  renderRsyncdConf({ ...input(), cache });
  assert.equal(cache.misses, modules.length);
  const more = [...users, 'newcomer'];
  const cached = renderRsyncdConf({ ...input({ knownUsers: more }), cache });
  assert.equal(cache.misses, 0, 'every section came from the cache');
  assert.equal(cache.hits, modules.length);
  assert.deepEqual(cached, renderRsyncdConf(input({ knownUsers: more })));
});

test('a grant of an unknown user is refused, cached or not, and renders once the user exists', () => {
  const cache = new RenderCache();
  const withGhost = modules.map((m, i) => (i === 7 ? { ...m, users: [...m.users, { name: 'ghost', access: 'ro' as const }] } : m));
  renderRsyncdConf({ ...input(), cache });
  for (const c of [cache, undefined]) {
    assert.throws(
      () => renderRsyncdConf({ ...input({ modules: withGhost }), cache: c }),
      (e: unknown) => e instanceof RsyncdConfigError && e.issues.some((x) => x.field === 'modules[7].users[1].name' && /unknown rsync user 'ghost'/.test(x.message)),
    );
  }
  const known = [...users, 'ghost'];
  const cached = renderRsyncdConf({ ...input({ modules: withGhost, knownUsers: known }), cache });
  assert.match(cached.text, /\[m7\][^[]*ghost/);
  assert.deepEqual(cached, renderRsyncdConf(input({ modules: withGhost, knownUsers: known })));
  // And refused again once the user is gone, though the section was cached as valid.
  assert.throws(() => renderRsyncdConf({ ...input({ modules: withGhost }), cache }), RsyncdConfigError);
});
