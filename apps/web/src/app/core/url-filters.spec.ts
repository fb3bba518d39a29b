import { activeFilters, formFromQuery, isoToLocal, queryFromParams, type FilterSpec } from './url-filters';
import { localToIso } from './cursor-list';

const params = (o: Record<string, string>) => ({ get: (k: string) => (k in o ? o[k] : null) });
const SPEC: FilterSpec = { text: ['module', 'user'], choice: { status: ['success', 'error'] } };

describe('queryFromParams', () => {
  const cases: { name: string; url: Record<string, string>; want: Record<string, string> }[] = [
    { name: 'nothing set', url: {}, want: {} },
    { name: 'text filters are trimmed, empty ones left out', url: { module: ' web ', user: '  ' }, want: { module: 'web' } },
    { name: 'a known choice is kept', url: { status: 'error' }, want: { status: 'error' } },
    { name: 'an unknown choice is ignored', url: { status: 'bogus' }, want: {} },
    { name: 'unknown parameters are ignored', url: { module: 'a', cursor: 'x', limit: '5', evil: '1' }, want: { module: 'a' } },
    { name: 'times become ISO; garbage times are dropped', url: { from: '2026-03-04T05:06:07Z', to: 'yesterday' }, want: { from: '2026-03-04T05:06:07.000Z' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(queryFromParams(params(c.url), SPEC)).toEqual(c.want);
    });
  }
});

describe('isoToLocal and formFromQuery', () => {
  it('round-trips a local minute through the URL', () => {
    const local = '2026-03-04T05:06';
    expect(isoToLocal(localToIso(local))).toBe(local);
  });
  it('keeps seconds when there are any, and gives "" for empty or invalid times', () => {
    expect(isoToLocal(localToIso('2026-03-04T05:06:07'))).toBe('2026-03-04T05:06:07');
    expect(isoToLocal('')).toBe('');
    expect(isoToLocal(null)).toBe('');
    expect(isoToLocal('not a time')).toBe('');
  });
  it('fills every field of the form, unset ones empty', () => {
    expect(formFromQuery({ module: 'web', status: 'error' }, SPEC)).toEqual({ module: 'web', user: '', status: 'error', from: '', to: '' });
  });
  it('counts the filters set', () => {
    expect(activeFilters({})).toBe(0);
    expect(activeFilters({ module: 'a', status: 'error', user: undefined })).toBe(2);
  });
});
