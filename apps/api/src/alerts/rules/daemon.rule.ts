import type { AlertCondition, AlertRule } from './types';

/**
 * The rsync daemon is the replication target: when it is not running nothing arrives. Fires when it has been
 * stopped or crashed for `downForSeconds`, when the supervisor restarted it `restartLoopCount` times within
 * `restartLoopWindowSeconds` (a restart loop looks "running" most of the time), or when the health check reports
 * config drift.
 */
export const daemonRule: AlertRule = {
  id: 'daemon',
  title: 'rsync daemon not running',
  description: 'The daemon is stopped or crashed, or restarts in a loop.',
  fields: [
    { name: 'downForSeconds', label: 'Down for at least', type: 'integer', min: 0, max: 86_400, unit: 'seconds', help: '0 = alert at the first evaluation that sees it down' },
    { name: 'restartLoopCount', label: 'Restart loop: restarts', type: 'integer', min: 2, max: 1000 },
    { name: 'restartLoopWindowSeconds', label: 'Restart loop: window', type: 'integer', min: 10, max: 86_400, unit: 'seconds' },
  ],
  defaults: { enabled: true, downForSeconds: 10, restartLoopCount: 3, restartLoopWindowSeconds: 600 },
  evaluate(inputs, settings) {
    const d = inputs.daemon;
    if (!d) return null;
    const out: AlertCondition[] = [];
    const downFor = Number(settings.downForSeconds) * 1000;
    if ((d.state === 'stopped' || d.state === 'crashed') && d.notRunningSince !== null && inputs.now - d.notRunningSince >= downFor) {
      const exit = d.lastExit ? (d.lastExit.signal ? `killed by ${d.lastExit.signal}` : `exit code ${d.lastExit.code}`) : null;
      out.push({
        key: 'daemon-down',
        severity: 'critical',
        title: `rsync daemon is ${d.state}`,
        message: `The rsync daemon is ${d.state} since ${new Date(d.notRunningSince).toISOString()}: no source can replicate to this server.` +
          (d.lastError ? ` Last error: ${d.lastError}` : exit ? ` Last exit: ${exit}.` : ''),
        details: { state: d.state, since: new Date(d.notRunningSince).toISOString(), lastError: d.lastError, lastExit: d.lastExit },
        occurrences: 1,
      });
    }
    const window = Number(settings.restartLoopWindowSeconds) * 1000;
    const recent = d.restartTimes.filter((t) => inputs.now - t <= window);
    if (recent.length >= Number(settings.restartLoopCount)) {
      out.push({
        key: 'daemon-restart-loop',
        severity: 'error',
        title: 'rsync daemon restarts in a loop',
        message: `The supervisor restarted the rsync daemon ${recent.length} times in the last ${settings.restartLoopWindowSeconds} s.` +
          (d.lastError ? ` Last error: ${d.lastError}` : ''),
        details: { restarts: recent.length, windowSeconds: settings.restartLoopWindowSeconds, lastError: d.lastError },
        occurrences: recent.length,
      });
    }
    if (d.drift) {
      out.push({
        key: 'daemon-config-drift',
        severity: 'error',
        title: 'rsync daemon config drifted',
        message: `The daemon's files differ from what RsyncHub wrote: ${d.drift}`,
        details: { drift: d.drift },
        occurrences: 1,
      });
    }
    return out;
  },
};
