import { diffValues } from './diff';

describe('audit diff', () => {
  it('lists changed, added and removed leaves with dotted paths', () => {
    const before = { path: '/srv/a', readOnly: false, users: [{ name: 'u', access: 'rw' }], hostsAllow: ['10.0.0.1'], comment: 'x' };
    const after = { path: '/srv/a', readOnly: true, users: [{ name: 'u', access: 'ro' }, { name: 'v', access: 'rw' }], hostsAllow: ['10.0.0.2'] };
    expect(diffValues(before, after)).toEqual([
      { path: 'comment', kind: 'removed', before: '"x"' },
      { path: 'hostsAllow', kind: 'changed', before: '["10.0.0.1"]', after: '["10.0.0.2"]' },
      { path: 'readOnly', kind: 'changed', before: 'false', after: 'true' },
      { path: 'users[0].access', kind: 'changed', before: '"rw"', after: '"ro"' },
      { path: 'users[1].access', kind: 'added', after: '"rw"' },
      { path: 'users[1].name', kind: 'added', after: '"v"' },
    ]);
  });

  it('handles a create (no before) and a delete (no after)', () => {
    expect(diffValues(null, { name: 'm' })).toEqual([{ path: 'name', kind: 'added', after: '"m"' }]);
    expect(diffValues({ name: 'm' }, null)).toEqual([{ path: 'name', kind: 'removed', before: '"m"' }]);
  });

  it('shows redacted secrets as plain values and unchanged fields only on request', () => {
    expect(diffValues({ password: '[redacted]' }, { password: '[redacted]' })).toEqual([]);
    expect(diffValues({ a: 1 }, { a: 1 }, true)).toEqual([{ path: 'a', kind: 'same', before: '1', after: '1' }]);
  });
});
