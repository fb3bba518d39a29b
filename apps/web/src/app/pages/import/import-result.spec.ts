import type { ImportResponse } from '@rsynchub/contracts';
import { importSummary } from './import-result';

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
