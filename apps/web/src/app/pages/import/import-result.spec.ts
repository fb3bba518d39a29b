import type { ImportResponse } from '@rsynchub/contracts';
import { importSummary, importSummaryClass } from './import-result';

const res = (createdModules: string[], createdUsers: string[], skipped = 0): ImportResponse => ({
  createdModules,
  createdUsers,
  usersWithoutSecret: [],
  skipped: Array.from({ length: skipped }, (_, i) => ({ kind: 'parameter' as const, name: `p${i}`, reason: 'r' })),
});

describe('importSummary', () => {
  const cases: [ImportResponse, string][] = [
    [res(['a'], ['u']), 'Created 1 module and 1 rsync user.'],
    [res(['a', 'b'], [], 1), 'Created 2 modules and 0 rsync users; 1 item not imported, see below.'],
    [res([], [], 3), 'Nothing was created: 3 items not imported, see below.'],
    [res([], []), 'Nothing was created: the config defines no modules.'],
  ];
  for (const [input, expected] of cases) it(expected, () => expect(importSummary(input)).toBe(expected));
});

describe('importSummaryClass', () => {
  // Issue 14: anything skipped makes the banner a warning, even when modules were created.
  const cases: [ImportResponse, string][] = [
    [res(['a'], ['u']), 'rh-success'],
    [res(['a', 'b'], [], 1), 'rh-warn'],
    [res([], [], 3), 'rh-warn'],
    [res([], []), 'rh-warn'],
  ];
  for (const [input, expected] of cases) it(`${JSON.stringify(input.createdModules)} + ${input.skipped.length} skipped -> ${expected}`, () => expect(importSummaryClass(input)).toBe(expected));
});
