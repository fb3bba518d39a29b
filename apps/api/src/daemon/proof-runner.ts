import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { configDigest, type ProofAnswer, type ProofRequest } from './proof-protocol';

/** `unproven`: the helper failed (not rsync refusing the config): nothing was proven either way. */
export type ProofOutcome = { ok: true; modules: string[] } | { ok: false; error: string; unproven?: true };

export interface ProofRunnerOptions {
  /** The helper's script (default: proof-helper.js next to this file). Tests point it at misbehaving helpers. */
  script?: string;
  /** How long past a proof's own deadline the helper may take to answer before it is killed (default 5 s). */
  graceMs?: number;
}

interface Pending {
  sha256: string;
  resolve: (outcome: ProofOutcome) => void;
  timer: NodeJS.Timeout;
}

/**
 * Runs config proofs in the proof helper process (see proof-helper.ts) instead of forking rsync from the server.
 * A proof passes only on an answer that names the request's id, carries the SHA-256 of the very config sent and says
 * ok with a list of module names; everything else refuses it with an error that says what went wrong:
 *   - the helper dies (killed, crashed) before answering: every proof it had in flight is refused, and the next
 *     proof starts a new helper;
 *   - the helper does not answer within the proof's deadline plus `graceMs`: it is killed (SIGKILL) and the proof
 *     refused;
 *   - an answer that does not read as above (wrong digest, unknown id, malformed): the helper is killed as broken
 *     and its proofs refused.
 */
export class ProofRunner {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly script: string;
  private readonly graceMs: number;
  /** Helpers started so far (the first one included): for tests and logs. */
  started = 0;

  constructor(opts: ProofRunnerOptions = {}) {
    this.script = opts.script ?? path.join(__dirname, 'proof-helper.js');
    this.graceMs = opts.graceMs ?? 5_000;
  }

  /** The running helper's pid (starting one if none runs). */
  get pid(): number | undefined {
    return this.helper().pid;
  }

  /** Starts the helper now (at server start), so that the first config change does not wait for node to boot. */
  warmUp(): void {
    try {
      this.helper();
    } catch {
      /* reported by the first proof */
    }
  }

  prove(kind: ProofRequest['kind'], config: string, rsyncPath: string, timeoutMs: number): Promise<ProofOutcome> {
    return new Promise<ProofOutcome>((resolve) => {
      let child: ChildProcess;
      try {
        child = this.helper();
      } catch (err) {
        resolve({ ok: false, error: `cannot start the proof helper: ${(err as Error).message}`, unproven: true });
        return;
      }
      const id = this.nextId++;
      const deadline = timeoutMs + this.graceMs;
      const timer = setTimeout(() => {
        this.fail(child, `the proof helper did not answer within ${deadline} ms (killed; the next proof starts a new one)`);
      }, deadline);
      this.pending.set(id, { sha256: configDigest(config), resolve, timer });
      // Held only while a proof is in flight: an idle helper must not keep a process (or a test) alive.
      child.channel?.ref();
      const request: ProofRequest = { id, kind, config, rsyncPath, timeoutMs };
      try {
        child.send(request, (err) => {
          if (err) this.fail(child, `could not send the config to the proof helper: ${err.message}`);
        });
      } catch (err) {
        this.fail(child, `could not send the config to the proof helper: ${(err as Error).message}`);
      }
    });
  }

  /** Ends the helper (server shutdown). Proofs in flight are refused. */
  stop(): void {
    if (this.child) this.fail(this.child, 'the server is shutting down');
  }

  private helper(): ChildProcess {
    if (this.child) return this.child;
    // No --inspect, --cpu-prof, heap size or preloads (NODE_OPTIONS) of the server's: the helper loads only the proof
    // code, and stays small (cheap to fork rsync from). The rest of the environment is the server's, as before.
    const { NODE_OPTIONS: _preloads, ...env } = process.env;
    const child = fork(this.script, [], { execArgv: [], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.started++;
    this.child = child;
    child.on('message', (m: unknown) => this.onAnswer(child, m));
    child.on('error', (err) => this.fail(child, `the proof helper failed: ${err.message}`));
    child.on('exit', (code, signal) => {
      this.fail(child, `the proof helper ended mid-proof (${signal ? `signal ${signal}` : `exit code ${code}`}); the next proof starts a new one`);
    });
    child.unref();
    child.channel?.unref();
    return child;
  }

  private onAnswer(child: ChildProcess, m: unknown): void {
    if (child !== this.child) return;
    const a = m as ProofAnswer;
    const entry = typeof a === 'object' && a !== null && Number.isSafeInteger(a.id) ? this.pending.get(a.id) : undefined;
    if (!entry) {
      this.fail(child, 'the proof helper answered a proof nobody asked for (killed as broken)');
      return;
    }
    let outcome: ProofOutcome | null = null;
    if (a.sha256 !== entry.sha256) outcome = null;
    else if (a.ok === true && Array.isArray(a.modules) && a.modules.every((n) => typeof n === 'string')) outcome = { ok: true, modules: a.modules };
    else if (a.ok === false && typeof a.error === 'string') outcome = { ok: false, error: a.error };
    if (outcome === null) {
      this.fail(child, 'the proof helper gave an answer that does not read as a proof of this config (killed as broken)');
      return;
    }
    this.settle(a.id, outcome);
    if (this.pending.size === 0) child.channel?.unref();
  }

  private settle(id: number, outcome: ProofOutcome): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.resolve(outcome);
  }

  /** Refuses every proof in flight with `error` and kills the helper; the next proof starts another. */
  private fail(child: ChildProcess, error: string): void {
    if (child !== this.child) return;
    this.child = null;
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone already */
    }
    for (const id of [...this.pending.keys()]) this.settle(id, { ok: false, error, unproven: true });
  }
}
