import type { AlertDto } from '@rsynchub/contracts';

/** Applies a live `alert.changed` to a newest-first list: replaces the alert with the same id or adds it on top. */
export function upsertAlert(list: AlertDto[], changed: AlertDto, max = 200): AlertDto[] {
  const i = list.findIndex((a) => a.id === changed.id);
  if (i >= 0) {
    const copy = [...list];
    copy[i] = changed;
    return copy;
  }
  return [changed, ...list].sort((a, b) => b.id - a.id).slice(0, max);
}

export function formatFree(bytes: number | null, percent: number | null): string {
  if (bytes === null || percent === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]} (${percent.toFixed(1)} %)`;
}
