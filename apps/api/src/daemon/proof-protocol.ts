/** The messages between the server (ProofRunner) and the proof helper (proof-helper.ts) over node IPC. */
import { createHash } from 'node:crypto';

export interface ProofRequest {
  id: number;
  /** `daemon`: the plain daemon's config (rsync --server --daemon over a pipe); `inetd`: the TLS daemon's. */
  kind: 'daemon' | 'inetd';
  config: string;
  rsyncPath: string;
  timeoutMs: number;
}

export interface ProofAnswer {
  id: number;
  /** SHA-256 (hex) of the config text this answer is about: the server checks it is the one it sent. */
  sha256: string;
  ok: boolean;
  error?: string;
  modules?: string[];
}

export function configDigest(config: string): string {
  return createHash('sha256').update(config).digest('hex');
}

export function isRequest(m: unknown): m is ProofRequest {
  const r = m as ProofRequest;
  return (
    typeof r === 'object' && r !== null && Number.isSafeInteger(r.id) && (r.kind === 'daemon' || r.kind === 'inetd') &&
    typeof r.config === 'string' && typeof r.rsyncPath === 'string' && typeof r.timeoutMs === 'number'
  );
}
