import { storageRootsHint, suggestModulePath } from './path-suggestion';

describe('suggestModulePath', () => {
  const cases: [roots: string[], name: string, expected: string][] = [
    [['/srv/hub'], 'web', '/srv/hub/web'],
    [['/srv/hub/', '/data'], 'web', '/srv/hub/web'], // first root, without doubling the slash
    [['/'], 'web', '/web'],
    [['/srv/hub'], '  web  ', '/srv/hub/web'],
    [['/srv/hub'], '', ''], // no name yet: nothing to suggest
    [[], 'web', ''], // roots unknown
  ];
  for (const [roots, name, expected] of cases) {
    it(`${JSON.stringify(roots)} + ${JSON.stringify(name)} -> ${JSON.stringify(expected)}`, () => expect(suggestModulePath(roots, name)).toBe(expected));
  }
});

describe('storageRootsHint', () => {
  it('names every root', () => expect(storageRootsHint(['/srv/a', '/srv/b'])).toBe('Must be inside: /srv/a, /srv/b. Created if missing.'));
  it('is null when the roots are unknown', () => expect(storageRootsHint([])).toBeNull());
});
