import type { TestConnectionProblem } from '@rsynchub/contracts';

export interface RsyncFailure {
  problem: TestConnectionProblem;
  message: string;
}

/**
 * What an rsync client run against a daemon failed on, from its exit code and stderr (the daemon's `@ERROR:` lines
 * are stable wording across rsync 3.x). Pure, so every wording is covered by a table test.
 */
export function classifyRsyncFailure(exitCode: number | null, stderr: string, ctx: { user: string | null; module: string; from: string }): RsyncFailure {
  const who = ctx.user ? `user "${ctx.user}"` : 'anonymous access';
  if (/@ERROR: auth failed/i.test(stderr)) {
    return { problem: 'auth_failed', message: `authentication failed for ${who} on module "${ctx.module}": wrong password, or the user is not granted on this module` };
  }
  if (/@ERROR: Unknown module/i.test(stderr)) {
    return { problem: 'unknown_module', message: `the daemon does not know module "${ctx.module}" (disabled, or not yet in the running configuration)` };
  }
  if (/@ERROR: access denied to .* from /i.test(stderr)) {
    return { problem: 'host_denied', message: `the module's hosts allow / hosts deny refused ${ctx.from}` };
  }
  if (/@ERROR: max connections/i.test(stderr)) {
    return { problem: 'other', message: 'the module is at its max connections limit; try again later' };
  }
  if (/Connection refused/i.test(stderr)) {
    return { problem: 'connection_refused', message: `nothing listens on the daemon's port (${ctx.from} got "connection refused")` };
  }
  if (exitCode === 30 || exitCode === 35 || /timed out|timeout/i.test(stderr)) {
    return { problem: 'timeout', message: 'the daemon did not answer in time' };
  }
  const firstError = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '');
  return { problem: 'other', message: firstError ? `rsync failed (exit ${exitCode ?? '?'}): ${firstError}` : `rsync failed with exit code ${exitCode ?? '?'}` };
}
