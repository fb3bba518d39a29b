import { classifyTransfer, TransferClassification } from './exit-codes';
import { AlertCondition, AlertRule, clip, maxSeverity, RecentSession } from './types';

/**
 * A transfer into (or out of) a module failed. One alert per module while it keeps failing: it counts further
 * failures instead of raising new alerts, and resolves at the next clean session of that module, or when no new
 * problem was seen for `clearAfterMinutes`. Severity follows rsync's exit code (see exit-codes.ts).
 */
export const transferFailedRule: AlertRule = {
  id: 'transfer-failed',
  title: 'Transfer failed',
  description: 'A session ended with an rsync error, a partial transfer (exit 23/24/25, as warnings) or an authentication failure.',
  fields: [
    { name: 'includeWarnings', label: 'Alert on partial transfers (exit 23, 24, 25)', type: 'boolean' },
    { name: 'clearAfterMinutes', label: 'Resolve after no new failure for', type: 'integer', min: 1, max: 10_080, unit: 'minutes', help: 'a clean session of the module resolves it sooner' },
  ],
  defaults: { enabled: true, includeWarnings: true, clearAfterMinutes: 60 },
  lookbackSeconds: (settings) => Number(settings.clearAfterMinutes) * 60,
  evaluate(inputs, settings) {
    if (!inputs.sessions || !inputs.modules) return null;
    const known = new Map(inputs.modules.map((m) => [m.toLowerCase(), m]));
    const clearAfter = Number(settings.clearAfterMinutes) * 60_000;
    const byModule = new Map<string, RecentSession[]>();
    for (const s of inputs.sessions) {
      if (s.status === 'active' || s.module === null) continue;
      const name = known.get(s.module.toLowerCase());
      if (!name) continue;
      const list = byModule.get(name) ?? [];
      list.push(s);
      byModule.set(name, list);
    }
    const out: AlertCondition[] = [];
    for (const [module, list] of byModule) {
      list.sort((a, b) => a.id - b.id);
      // The problems since the module's last clean session form the current episode.
      const episode: { s: RecentSession; c: TransferClassification }[] = [];
      for (const s of list) {
        const c = classifyTransfer(s);
        if (c === null) episode.length = 0;
        else if (c.severity !== 'warning' || settings.includeWarnings) episode.push({ s, c });
      }
      const last = episode[episode.length - 1];
      if (!last) continue;
      const lastAt = Date.parse(last.s.endedAt ?? last.s.startedAt);
      if (inputs.now - lastAt > clearAfter) continue;
      const severity = episode.reduce((acc, e) => maxSeverity(acc, e.c.severity), episode[0]!.c.severity);
      const who = `${last.s.user ? `${clip(last.s.user)}@` : ''}${last.s.clientIp || 'unknown client'}`;
      const verb = last.s.direction === 'pull' ? 'Pull from' : last.s.direction === 'push' ? 'Push into' : 'Session on';
      out.push({
        key: `transfer-failed:${module.toLowerCase()}`,
        severity,
        title: `${verb} module ${module} failed`,
        message: `${verb} module ${module} by ${who}: ${last.c.meaning}.` + (episode.length > 1 ? ` ${episode.length} failed sessions since the last clean one.` : ''),
        details: {
          module,
          sessionId: last.s.id,
          exitCode: last.s.exitCode,
          status: last.s.status,
          classification: last.c.severity,
          meaning: last.c.meaning,
          user: last.s.user === null ? null : clip(last.s.user),
          clientIp: last.s.clientIp,
          failures: episode.length,
        },
        occurrences: episode.length,
      });
    }
    return out;
  },
};
