import type { ModuleDto } from '@rsynchub/contracts';
import { moduleExtras, moduleSettings } from './module-summary';

const base: ModuleDto = {
  name: 'web', path: '/srv/web', comment: '', readOnly: false, writeOnly: false, list: false, ignoreErrors: false, maxConnections: 0, timeout: 0,
  hostsAllow: [], hostsDeny: [], users: [{ name: 'alice', access: 'rw' }], anonymous: 'none', refuseOptions: [], excludes: [], enabled: true,
  uid: null, gid: null, useChroot: null, allowRootIds: false, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', warnings: [],
};

describe('moduleSettings', () => {
  it('names every field of an imported module, uid/gid/chroot included', () => {
    const rows = moduleSettings({ ...base, uid: 'backup', gid: 'users', useChroot: false, excludes: ['*.tmp'], refuseOptions: ['delete'] });
    const value = (k: keyof ModuleDto) => rows.find((r) => r.key === k)?.value;
    expect(value('uid')).toBe('backup');
    expect(value('gid')).toBe('users');
    expect(value('useChroot')).toBe('no');
    expect(value('excludes')).toBe('*.tmp');
    expect(value('refuseOptions')).toBe('delete');
  });

  it.each([
    ['uid', null, 'daemon default'],
    ['useChroot', null, 'daemon default'],
    ['useChroot', true, 'yes'],
    ['maxConnections', 0, 'unlimited'],
    ['timeout', 300, '300 s'],
    ['hostsAllow', [], 'all'],
  ] as const)('%s = %j reads %s', (key, v, text) => {
    expect(moduleSettings({ ...base, [key]: v } as ModuleDto).find((r) => r.key === key)?.value).toBe(text);
  });
});

describe('moduleExtras', () => {
  it('is empty for a plain module', () => expect(moduleExtras(base)).toEqual([]));
  it('lists what an import brought along', () =>
    expect(moduleExtras({ ...base, uid: 'backup', gid: 'backup', useChroot: true, excludes: ['a', 'b'], list: true })).toEqual([
      'listed', 'uid backup', 'gid backup', 'chroot on', '2 excludes',
    ]));
});
