import type { ImportResponse } from '@rsynchub/contracts';

function count(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** One line saying what an import did, for the result banner. */
export function importSummary(res: ImportResponse): string {
  const notImported = res.skipped.length ? `${count(res.skipped.length, 'item')} not imported, see below` : '';
  if (res.createdModules.length + res.createdUsers.length === 0) {
    return `Nothing was created: ${notImported || 'the config defines no modules'}.`;
  }
  const created = `Created ${count(res.createdModules.length, 'module')} and ${count(res.createdUsers.length, 'rsync user')}`;
  return notImported ? `${created}; ${notImported}.` : `${created}.`;
}

/** The banner's colour: success only when everything was imported; anything skipped is a warning to read. */
export function importSummaryClass(res: ImportResponse): 'rh-success' | 'rh-warn' {
  return res.skipped.length === 0 && res.createdModules.length + res.createdUsers.length > 0 ? 'rh-success' : 'rh-warn';
}

/** Skipped kinds, as words for the table. */
export const SKIP_KIND_LABELS: Record<ImportResponse['skipped'][number]['kind'], string> = {
  module: 'Module',
  user: 'User',
  global: 'Global setting',
  parameter: 'Parameter',
};
