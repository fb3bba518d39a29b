import type { StorageUsageEntry } from '@rsynchub/contracts';
import type { AlertCondition, AlertRule } from './types';

export interface StorageThresholds {
  minFreePercent: number;
  minFreeBytes: number;
}

/** Below either threshold (a threshold of 0 is off). Unknown figures are never "low". */
export function isLow(e: Pick<StorageUsageEntry, 'freeBytes' | 'freePercent'>, t: StorageThresholds): boolean {
  if (e.freeBytes === null || e.freePercent === null) return false;
  return (t.minFreePercent > 0 && e.freePercent < t.minFreePercent) || (t.minFreeBytes > 0 && e.freeBytes < t.minFreeBytes);
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * A filesystem that holds a storage root or a module is running out of space: one alert per filesystem (roots and
 * modules on the same device share it), naming every root and module on it.
 */
export const storageLowRule: AlertRule = {
  id: 'storage-low',
  title: 'Storage low on free space',
  description: 'The filesystem of a storage root or module has less free space than the percentage or the byte threshold (0 turns a threshold off).',
  fields: [
    { name: 'minFreePercent', label: 'Minimum free', type: 'integer', min: 0, max: 100, unit: '%' },
    { name: 'minFreeBytes', label: 'Minimum free', type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' },
  ],
  defaults: { enabled: true, minFreePercent: 10, minFreeBytes: 5 * 1024 ** 3 },
  evaluate(inputs, settings) {
    if (!inputs.storage) return null;
    const t: StorageThresholds = { minFreePercent: Number(settings.minFreePercent), minFreeBytes: Number(settings.minFreeBytes) };
    const groups = new Map<string, StorageUsageEntry[]>();
    for (const e of inputs.storage) {
      if (e.filesystem === null || !isLow(e, t)) continue;
      const list = groups.get(e.filesystem) ?? [];
      list.push(e);
      groups.set(e.filesystem, list);
    }
    const out: AlertCondition[] = [];
    for (const [fsId, entries] of groups) {
      const first = entries[0]!;
      const roots = entries.filter((e) => e.kind === 'root').map((e) => e.path);
      const modules = entries.filter((e) => e.kind === 'module').map((e) => e.name);
      const where = roots.length ? roots.join(', ') : first.path;
      const percent = first.freePercent!.toFixed(1);
      out.push({
        key: `storage-low:${fsId}`,
        severity: first.freeBytes! === 0 ? 'critical' : 'error',
        title: `Low free space on ${where}`,
        message: `${formatBytes(first.freeBytes!)} (${percent} %) free of ${formatBytes(first.totalBytes!)} on the filesystem of ${where}` +
          (modules.length ? ` (modules ${modules.join(', ')})` : '') +
          `; thresholds: ${t.minFreePercent} %, ${formatBytes(t.minFreeBytes)}.`,
        details: { filesystem: fsId, freeBytes: first.freeBytes, totalBytes: first.totalBytes, freePercent: first.freePercent, roots, modules, ...t },
        occurrences: 1,
      });
    }
    return out;
  },
};
