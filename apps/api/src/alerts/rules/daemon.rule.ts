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
  description: 'The daemon is stopped or crashed, restarts in a loop, or its config files were changed outside RsyncHub (drift).',
  fields: [
    { name: 'downForSeconds', label: 'Down for at least', type: 'integer', min: 0, max: 86_400, unit: 'seconds', help: '0 = alert at the first evaluation that sees it down' },
    { name: 'restartLoopCount', label: 'Restart loop: restarts', type: 'integer', min: 2, max: 1000 },
    { name: 'restartLoopWindowSeconds', label: 'Restart loop: window', type: 'integer', min: 10, max: 86_400, unit: 'seconds' },
    {
      name: 'driftHoldMinutes', label: 'Config changed outside RsyncHub: keep the alert for', type: 'integer', min: 0, max: 10_080, unit: 'minutes',
      help: 'after RsyncHub restored the files; 0 = alert only while they are still wrong',
    },
  ],
  defaults: { enabled: true, downForSeconds: 10, restartLoopCount: 3, restartLoopWindowSeconds: 600, driftHoldMinutes: 60 },
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
    // Drift: someone changed rsyncd.conf / the secrets file outside RsyncHub. RsyncHub restores the files within
    // about a second, so "still wrong" alone would almost never be seen; but a changed config (an added module, a
    // readable secrets file) is worth knowing about even after the repair: it may be an intrusion or a colleague's
    // hand edit that will be lost. So the alert holds while the files are wrong (error) and for driftHoldMinutes
    // after the latest drift (warning, "restored"), then resolves by itself.
    const hold = Number(settings.driftHoldMinutes ?? 60) * 60_000;
    const last = d.lastDrift ?? null;
    const driftRecent = last !== null && inputs.now - last.at <= hold;
    if (d.drift || driftRecent) {
      const when = last ? new Date(last.at).toISOString() : null;
      out.push({
        key: 'daemon-config-drift',
        severity: d.drift ? 'error' : 'warning',
        title: d.drift ? 'rsync daemon config changed outside RsyncHub (not restored yet)' : 'rsync daemon config was changed outside RsyncHub and restored',
        message: d.drift
          ? `The daemon's files differ from what RsyncHub wrote and could not be restored yet: ${d.drift}`
          : `The daemon's files were changed outside RsyncHub${when ? ` at ${when}` : ''} (${(last?.problems ?? []).join('; ')}); RsyncHub restored them from its database. ` +
            'Make changes through RsyncHub: hand edits are undone.',
        details: { drift: d.drift, repaired: !d.drift, detectedAt: when, problems: last?.problems ?? (d.drift ? [d.drift] : []), driftsSinceStart: last?.count ?? null },
        occurrences: 1,
      });
    }
    return out;
  },
};
