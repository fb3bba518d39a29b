import type { AlertCondition, AlertRule, SourceInput } from './types';
import { clip } from './types';

function targetLabel(t: SourceInput['targets'][number]): string {
  return `${clip(t.host)}:${t.port}/${clip(t.module)}`;
}

/**
 * Replication from a source host silently stops when its agent dies or falls behind. One alert per source for its
 * state (stale: warning, offline: error), and per target for a lag or queue above the thresholds (warning) and for a
 * target the agent paused, e.g. its delete guard (error: nothing is replicated until someone resumes it).
 * Target conditions use the last heartbeat even when the source is no longer online: the last thing known about a
 * paused or backlogged target does not get better because the agent went quiet (the state alert says it went quiet).
 */
export const sourceRule: AlertRule = {
  id: 'source',
  title: 'Source stale, offline, behind or paused',
  description:
    'A source agent stopped sending heartbeats (stale after RSYNCHUB_SOURCE_STALE_SECONDS, offline after 10x), a target of it lags or queues more than the thresholds (0 turns one off), or the agent paused a target.',
  fields: [
    { name: 'alertOnStale', label: 'Alert when stale (not only offline)', type: 'boolean' },
    { name: 'maxLagSeconds', label: 'Maximum lag', type: 'integer', min: 0, max: 31_536_000, unit: 'seconds', help: '0 = no lag alert' },
    { name: 'maxQueueLength', label: 'Maximum queue', type: 'integer', min: 0, max: 1_000_000_000_000, unit: 'paths', help: '0 = no queue alert' },
    { name: 'alertOnPaused', label: 'Alert when a target is paused', type: 'boolean' },
  ],
  defaults: { enabled: true, alertOnStale: true, maxLagSeconds: 600, maxQueueLength: 10_000, alertOnPaused: true },
  evaluate(inputs, settings) {
    if (!inputs.sources) return null;
    const out: AlertCondition[] = [];
    const maxLag = Number(settings.maxLagSeconds);
    const maxQueue = Number(settings.maxQueueLength);
    for (const s of inputs.sources) {
      const key = s.name.toLowerCase();
      const name = clip(s.name);
      const seen = `last heartbeat ${s.lastSeenAt} (${s.secondsSinceSeen} s ago)`;
      if (s.state === 'offline' || (s.state === 'stale' && settings.alertOnStale !== false)) {
        out.push({
          key: `source-state:${key}`,
          severity: s.state === 'offline' ? 'error' : 'warning',
          title: `Source ${name} is ${s.state}`,
          message: `Source ${name} (${clip(s.hostname)}) is ${s.state}: ${seen}. Nothing it changes is replicated while its agent is down.` +
            (s.targets.length ? ` Targets: ${s.targets.map(targetLabel).join(', ')}.` : ''),
          details: { source: s.name, hostname: s.hostname, state: s.state, lastSeenAt: s.lastSeenAt, secondsSinceSeen: s.secondsSinceSeen },
          occurrences: 1,
        });
      }
      const asOf = s.state === 'online' ? '' : ` (as last reported, ${seen})`;
      for (const t of s.targets) {
        const tKey = `${key}:${t.host.toLowerCase()}:${t.port}/${t.module.toLowerCase()}`;
        const where = `${name} → ${targetLabel(t)}`;
        const base = { source: s.name, host: t.host, port: t.port, module: t.module, state: s.state };
        if (t.paused && settings.alertOnPaused !== false) {
          out.push({
            key: `source-paused:${tKey}`,
            severity: 'error',
            title: `Source ${where} is paused`,
            message: `The agent of ${name} paused pushing to ${targetLabel(t)}: ${clip(t.pauseReason ?? 'no reason given', 500)}. ` +
              `Nothing is replicated to this target until it is resumed (rsynchub-agent resume).${asOf}`,
            details: { ...base, pauseReason: t.pauseReason ?? null, queueLength: t.queueLength },
            occurrences: 1,
          });
        }
        if (maxLag > 0 && t.lagSeconds !== null && t.lagSeconds > maxLag) {
          out.push({
            key: `source-lag:${tKey}`,
            severity: 'warning',
            title: `Source ${where} lags ${t.lagSeconds} s`,
            message: `${where} is ${t.lagSeconds} s behind (threshold ${maxLag} s).${t.lastError ? ` Last error: ${clip(t.lastError, 500)}` : ''}${asOf}`,
            details: { ...base, lagSeconds: t.lagSeconds, maxLagSeconds: maxLag, lastError: t.lastError },
            occurrences: 1,
          });
        }
        if (maxQueue > 0 && t.queueLength > maxQueue) {
          out.push({
            key: `source-queue:${tKey}`,
            severity: 'warning',
            title: `Source ${where} has ${t.queueLength.toLocaleString('en-US')} paths queued`,
            message: `${where} has ${t.queueLength.toLocaleString('en-US')} paths waiting (threshold ${maxQueue.toLocaleString('en-US')}).` +
              `${t.lastError ? ` Last error: ${clip(t.lastError, 500)}` : ''}${asOf}`,
            details: { ...base, queueLength: t.queueLength, maxQueueLength: maxQueue, lastError: t.lastError },
            occurrences: 1,
          });
        }
      }
    }
    return out;
  },
};
