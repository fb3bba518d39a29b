/**
 * The argon2 worker process (see argon2-worker.ts). It lowers its own CPU priority before anything starts a thread:
 * libuv's pool and argon2's lanes are created later and inherit it, so password hashing only gets the CPU that
 * answering requests leaves (on an idle machine, all of it).
 */
import * as os from 'node:os';

const nice = Number(process.env.RSYNCHUB_ARGON2_WORKER_NICE ?? '10');
try {
  os.setPriority(Math.max(-20, Math.min(19, nice)));
} catch {
  // not allowed (e.g. a negative value without privileges): keep the inherited priority
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const argon2 = require('argon2') as typeof import('argon2');

interface Request {
  id: number;
  op: 'hash' | 'verify';
  password: string;
  hash?: string;
}

process.on('message', (msg: Request) => {
  const done = (reply: { ok: boolean; value?: string | boolean; error?: string }) => process.send?.({ id: msg.id, ...reply });
  const work: Promise<string | boolean> =
    msg.op === 'hash'
      ? argon2.hash(msg.password, { type: argon2.argon2id })
      : argon2.verify(msg.hash ?? '', msg.password).catch(() => false); // malformed stored hash: a mismatch, never a match
  work.then(
    (value) => done({ ok: true, value }),
    // Never echo the input: only the error's kind.
    (err: unknown) => done({ ok: false, error: err instanceof Error ? err.name : 'error' }),
  );
});
// The server went away (crash, kill -9): nothing left to hash for.
process.on('disconnect', () => process.exit(0));
