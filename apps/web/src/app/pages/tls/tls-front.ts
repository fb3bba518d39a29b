import type { TlsStatusDto } from '@rsynchub/contracts';

/**
 * What terminates TLS, said for an admin: the native front is the fast path; the Node front is a fallback whose
 * reason matters (it is slower, and `why` says how to get the native one back), and front restarts mean crashes.
 */
export function tlsFrontText(front: TlsStatusDto['front']): string {
  const restarts = front.restarts === 0 ? '' : ` · restarted ${front.restarts} time${front.restarts === 1 ? '' : 's'} after a crash`;
  if (front.kind === 'native') return `native (rsynchub-tls-front)${restarts}`;
  return `Node.js fallback${front.why ? ` — ${front.why}` : ''}${restarts}`;
}
