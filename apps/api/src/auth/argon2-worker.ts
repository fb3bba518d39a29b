import { type ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';

/**
 * argon2id in a child process at a lower CPU priority (nice 10 by default, RSYNCHUB_ARGON2_WORKER_NICE). argon2id
 * with parallelism 4 keeps both cores of a small machine busy for each check; in the server's own process it competed
 * on equal terms with answering requests, so a login flood (even bounded by PasswordWorkGate) made every admin request
 * wait. In a niced process the kernel gives requests the CPU first and argon2 the rest, which on an idle machine is
 * all of it: a single login costs the same.
 * The worker starts on first use and again after a crash (its pending calls fail; the next call starts a new one).
 */
export class Argon2Worker {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: string | boolean) => void; reject: (e: Error) => void }>();

  constructor(private readonly script = path.join(__dirname, 'argon2-worker-main.js')) {}

  hash(password: string): Promise<string> {
    return this.call({ op: 'hash', password }) as Promise<string>;
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.call({ op: 'verify', password, hash }) as Promise<boolean>;
  }

  /** The worker's pid while it runs (tests, diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  stop(): void {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null) child.kill('SIGTERM');
    this.failPending(new Error('argon2 worker stopped'));
  }

  private call(req: { op: 'hash' | 'verify'; password: string; hash?: string }): Promise<string | boolean> {
    const child = this.ensure();
    const id = this.nextId++;
    // The worker keeps the process alive only while calls are pending.
    if (this.pending.size === 0) this.hold(child, true);
    return new Promise<string | boolean>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send({ id, ...req }, (err) => {
        if (err && this.pending.delete(id)) reject(new Error(`argon2 worker unreachable: ${err.message}`));
      });
    });
  }

  private ensure(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    // No inherited --inspect or --require: the worker is plain node running one file.
    const child = fork(this.script, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    child.on('message', (msg: { id: number; ok: boolean; value?: string | boolean; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.hold(child, false);
      if (msg.ok) p.resolve(msg.value as string | boolean);
      else p.reject(new Error(`argon2 failed (${msg.error ?? 'error'})`));
    });
    const gone = () => {
      if (this.child === child) this.child = null;
      this.failPending(new Error('argon2 worker exited'));
    };
    child.on('exit', gone);
    child.on('error', gone);
    this.hold(child, false);
    this.child = child;
    return child;
  }

  private hold(child: ChildProcess, on: boolean): void {
    if (on) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  }

  private failPending(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
