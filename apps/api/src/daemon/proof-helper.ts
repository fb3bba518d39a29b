/**
 * The proof helper: a small long-lived process (started by ProofRunner with `fork`) that runs the config proofs
 * (verifyConfigWithDaemon, verifyInetdConfig) for the server. Why a process of its own: starting rsync from the
 * server means forking the whole server process (hundreds of MB of heap at 10,000 modules), ~20-30 ms of the event
 * loop's CPU per proof, two proofs per config change. Forked from this small process, the same rsync costs the
 * server nothing but one IPC message each way.
 *
 * Protocol (node IPC, JSON): the server sends `ProofRequest`s, this answers each with one `ProofAnswer` carrying the
 * request's id and the SHA-256 of the config it proved. It holds no state between requests. When the server goes
 * (even kill -9) the IPC channel closes: this exits, and the rsync it may be running reads EOF on its pipe and ends.
 */
import { verifyConfigWithDaemon, verifyInetdConfig } from '@rsynchub/rsyncd';
import { configDigest, isRequest, type ProofAnswer, type ProofRequest } from './proof-protocol';

async function answer(req: ProofRequest): Promise<ProofAnswer> {
  const sha256 = configDigest(req.config);
  try {
    const out =
      req.kind === 'inetd'
        ? await verifyInetdConfig(req.config, { rsyncPath: req.rsyncPath, timeoutMs: req.timeoutMs })
        : await verifyConfigWithDaemon(req.config, '', { rsyncPath: req.rsyncPath, timeoutMs: req.timeoutMs });
    return out.ok ? { id: req.id, sha256, ok: true, modules: out.modules } : { id: req.id, sha256, ok: false, error: out.error };
  } catch (err) {
    return { id: req.id, sha256, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

if (!process.send) {
  process.stderr.write('proof-helper: must be started by the server (node IPC)\n');
  process.exit(2);
}
process.on('message', (m: unknown) => {
  if (!isRequest(m)) return; // nothing to answer to: the server's deadline refuses that proof
  void answer(m).then((a) => process.send?.(a));
});
// The server is gone (exit, crash, kill -9): nothing to prove for. Any rsync still running reads EOF and ends.
process.on('disconnect', () => process.exit(0));
