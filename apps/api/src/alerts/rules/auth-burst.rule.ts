import { AlertRule, clip } from './types';

/** Many failed rsync logins in a short time: a guessing attack, or a source with a stale password file. */
export const authBurstRule: AlertRule = {
  id: 'auth-burst',
  title: 'Burst of authentication failures',
  description: 'At least N rsync authentication failures (any module, any client) within the window.',
  fields: [
    { name: 'threshold', label: 'Failures', type: 'integer', min: 1, max: 1_000_000 },
    { name: 'windowSeconds', label: 'Within', type: 'integer', min: 10, max: 86_400, unit: 'seconds' },
  ],
  defaults: { enabled: true, threshold: 10, windowSeconds: 300 },
  lookbackSeconds: (settings) => Number(settings.windowSeconds),
  evaluate(inputs, settings) {
    if (!inputs.sessions) return null;
    const window = Number(settings.windowSeconds) * 1000;
    const failures = inputs.sessions.filter((s) => s.status === 'auth_failed' && inputs.now - Date.parse(s.startedAt) <= window);
    if (failures.length < Number(settings.threshold)) return [];
    const top = (values: string[]) => {
      const counts = new Map<string, number>();
      for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
      return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([value, count]) => ({ value, count }));
    };
    const ips = top(failures.map((s) => s.clientIp));
    const users = top(failures.map((s) => clip(s.user ?? '')));
    return [
      {
        key: 'auth-burst',
        severity: 'error',
        title: 'Burst of rsync authentication failures',
        message: `${failures.length} rsync authentication failures in the last ${settings.windowSeconds} s, most from ${ips.map((i) => `${i.value} (${i.count})`).join(', ')}.`,
        details: { failures: failures.length, windowSeconds: settings.windowSeconds, clientIps: ips, users },
        occurrences: failures.length,
      },
    ];
  },
};
