import { HttpException, HttpStatus } from '@nestjs/common';
import * as os from 'node:os';

/**
 * Which queue a password check waits in, served in this order: `trusted` (admins acting on accounts, addresses that
 * logged in successfully lately), `unknown` (addresses without a record), `suspect` (addresses with recent failures).
 */
export type PasswordWorkLane = 'trusted' | 'unknown' | 'suspect';
const LANE_ORDER: PasswordWorkLane[] = ['trusted', 'unknown', 'suspect'];

export interface PasswordWorkLimits {
  /** argon2 calls running at once. Each one takes ~64 MiB and several threads of the libuv pool that SQLite needs too. */
  concurrent: number;
  /** Calls allowed to wait, per lane; past that the caller gets 429 at once instead of a growing queue. */
  queued: Record<PasswordWorkLane, number>;
}

/**
 * One argon2 at a time per two cores (at least one): argon2id with parallelism 4 keeps two cores busy on its own, and
 * a free libuv thread must stay for SQLite so every other route keeps answering during a login flood.
 */
export function defaultPasswordWorkLimits(): PasswordWorkLimits {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return { concurrent: Math.max(1, Math.min(2, Math.floor(cores / 2))), queued: { trusted: 32, unknown: 16, suspect: 4 } };
}

/** 429 for a password check refused because the server is already checking as many as it will. */
export class PasswordWorkBusy extends HttpException {
  readonly retryAfterSeconds = 1;
  constructor() {
    super('too many logins in progress; try again in 1 seconds', HttpStatus.TOO_MANY_REQUESTS);
  }
}

interface Waiter {
  start: () => void;
}

/**
 * Bounded concurrency for password hashing with three lanes served in order (see PasswordWorkLane), so a flood of
 * wrong passwords waits behind, or is turned away from, an admin's own login.
 */
export class PasswordWorkGate {
  private running = 0;
  private readonly waiting: Record<PasswordWorkLane, Waiter[]> = { trusted: [], unknown: [], suspect: [] };

  constructor(private readonly limits: PasswordWorkLimits = defaultPasswordWorkLimits()) {}

  /** Runs `work` when a slot is free; throws PasswordWorkBusy at once when the lane's queue is full. */
  async run<T>(lane: PasswordWorkLane, work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.concurrent) {
      const queue = this.waiting[lane];
      if (queue.length >= this.limits.queued[lane]) throw new PasswordWorkBusy();
      await new Promise<void>((resolve) => queue.push({ start: resolve }));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** For tests and metrics: calls running and waiting. */
  load(): { running: number } & Record<PasswordWorkLane, number> {
    return { running: this.running, trusted: this.waiting.trusted.length, unknown: this.waiting.unknown.length, suspect: this.waiting.suspect.length };
  }

  private release(): void {
    // The slot passes straight to the next waiter (running stays the same), in lane order.
    const lane = LANE_ORDER.find((l) => this.waiting[l].length > 0);
    const next = lane ? this.waiting[lane].shift() : undefined;
    if (next) next.start();
    else this.running--;
  }
}
