import type { AlertSeverity, TransferStatus } from '@rsynchub/contracts';
import { clip } from './types';

/** rsync(1) "EXIT VALUES", word for word where short enough. */
export const RSYNC_EXIT_MEANINGS: Record<number, string> = {
  0: 'success',
  1: 'syntax or usage error',
  2: 'protocol incompatibility',
  3: 'errors selecting input/output files, dirs',
  4: 'requested action not supported',
  5: 'error starting client-server protocol',
  6: 'daemon unable to append to log-file',
  10: 'error in socket I/O',
  11: 'error in file I/O',
  12: 'error in rsync protocol data stream',
  13: 'errors with program diagnostics',
  14: 'error in IPC code',
  20: 'received SIGUSR1 or SIGINT',
  21: 'some error returned by waitpid()',
  22: 'error allocating core memory buffers',
  23: 'partial transfer due to error',
  24: 'partial transfer due to vanished source files',
  25: 'the --max-delete limit stopped deletions',
  30: 'timeout in data send/receive',
  35: 'timeout waiting for daemon connection',
};

/** Exit codes that mean "mostly done, something was skipped": a warning, not a failure of the whole transfer. */
const WARNING_CODES = new Set([23, 24, 25]);

export interface TransferClassification {
  severity: AlertSeverity;
  /** Short words for the kind of problem, e.g. "partial transfer due to vanished source files (exit 24)". */
  meaning: string;
}

/**
 * What a finished session means for replication, or null when it is a clean success. A session recorded as
 * `success` with a non-zero exit code (rsync logs code 24 as a warning) is NOT clean: there is no false success.
 * Authentication failures are errors (the client exits with 5); refusals by host rules are errors, a full
 * server (max connections) a warning; unknown modules are left to the caller (client-chosen names).
 */
export function classifyTransfer(session: { status: TransferStatus; exitCode: number | null; error: string | null }): TransferClassification | null {
  // The error text can quote client-chosen names (paths, users): kept short and free of control characters.
  const s = { ...session, error: session.error === null ? null : clip(session.error, 200) };
  switch (s.status) {
    case 'active':
      return null;
    case 'auth_failed':
      return { severity: 'error', meaning: `authentication failed${s.error ? `: ${s.error}` : ''} (the client exits with 5)` };
    case 'refused':
      if (s.error && s.error.startsWith('max connections')) return { severity: 'warning', meaning: `refused: ${s.error}` };
      return { severity: 'error', meaning: `refused: ${s.error ?? 'access denied'}` };
    case 'success':
    case 'error': {
      const code = s.exitCode;
      if (code === null || code === 0) {
        if (s.status === 'success') return null;
        // Ended without an exit code: the connection dropped (client killed, network gone) or it failed before starting.
        return { severity: 'warning', meaning: s.error ? `ended without a summary: ${s.error}` : 'ended without a summary' };
      }
      const words = RSYNC_EXIT_MEANINGS[code] ?? 'unknown rsync exit code';
      return { severity: WARNING_CODES.has(code) ? 'warning' : 'error', meaning: `${words} (exit ${code})` };
    }
  }
}
