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
  /** Calls allowed to wait (admitted and not yet running), per lane; past that the caller gets 429 at once. */
  queued: Record<PasswordWorkLane, number>;
  /**
   * Share of the time (0..1] the `suspect` lane may keep argon2 busy: after a suspect check that took d ms the next
   * one waits d * (1 - share) / share ms (other lanes do not wait). argon2id with parallelism 4 fills both cores of
   * a small machine on its own, so a flood that always has a suspect check running starves every other request.
   * Default 1 (no pause) when limits are given explicitly.
   */
  suspectShare?: number;
}

/**
 * One argon2 at a time per two cores (at least one): argon2id with parallelism 4 keeps two cores busy on its own, and
 * a free libuv thread must stay for SQLite so every other route keeps answering during a login flood. Addresses with
 * failures get argon2 half of the time at most.
 */
export function defaultPasswordWorkLimits(): PasswordWorkLimits {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return { concurrent: Math.max(1, Math.min(2, Math.floor(cores / 2))), queued: { trusted: 32, unknown: 16, suspect: 4 }, suspectShare: 0.5 };
}

/** 429 for a password check refused because the server is already checking as many as it will. */
export class PasswordWorkBusy extends HttpException {
  readonly retryAfterSeconds = 1;
  constructor() {
    super('too many logins in progress; try again in 1 seconds', HttpStatus.TOO_MANY_REQUESTS);
  }
}

/**
 * A place in a lane's queue, taken before any other work for the request (PasswordWorkGate.admit), so a refusal
 * costs nothing but a counter. Used by one `run`; `release` gives the place back if it was never used (idempotent).
 */
export interface PasswordWorkTicket {
  readonly lane: PasswordWorkLane;
  release(): void;
}

interface Waiter {
  start: () => void;
}

class Ticket implements PasswordWorkTicket {
  /** reserved: counted in the lane's pending places; used: handed to run(); released: given back unused. */
  state: 'reserved' | 'used' | 'released' = 'reserved';
  constructor(
    readonly lane: PasswordWorkLane,
    private readonly giveBack: (lane: PasswordWorkLane) => void,
  ) {}

  release(): void {
    if (this.state !== 'reserved') return;
    this.state = 'released';
    this.giveBack(this.lane);
  }
}

/**
 * Bounded concurrency for password hashing with three lanes served in order (see PasswordWorkLane), so a flood of
 * wrong passwords waits behind, or is turned away from, an admin's own login. A lane's bound counts the calls
 * waiting in it plus the tickets admitted for it that have not started yet.
 */
export class PasswordWorkGate {
  private running = 0;
  private readonly waiting: Record<PasswordWorkLane, Waiter[]> = { trusted: [], unknown: [], suspect: [] };
  /** Admitted and not yet running (reserved tickets plus waiters), per lane. */
  private readonly pending: Record<PasswordWorkLane, number> = { trusted: 0, unknown: 0, suspect: 0 };
  /** The suspect lane may start again from this time (see PasswordWorkLimits.suspectShare). */
  private suspectNotBefore = 0;
  private wakeTimer: NodeJS.Timeout | null = null;
  private readonly suspectShare: number;

  constructor(private readonly limits: PasswordWorkLimits = defaultPasswordWorkLimits()) {
    this.suspectShare = Math.min(1, Math.max(0.05, limits.suspectShare ?? 1));
  }

  /** True when `admit(lane)` would refuse now (a check that reserves nothing). */
  isFull(lane: PasswordWorkLane): boolean {
    // Free slots count too: many requests admitted in the same tick, before any reached run(), stay bounded.
    const freeSlots = Math.max(0, this.limits.concurrent - this.running);
    return this.pending[lane] >= this.limits.queued[lane] + freeSlots;
  }

  /** Takes a place in `lane` now, or throws PasswordWorkBusy at once when the lane is full. */
  admit(lane: PasswordWorkLane): PasswordWorkTicket {
    if (this.isFull(lane)) throw new PasswordWorkBusy();
    this.pending[lane]++;
    return new Ticket(lane, (l) => this.pending[l]--);
  }

  /**
   * Runs `work` when a slot is free. With a lane, admits first (PasswordWorkBusy at once when full); with a ticket
   * from `admit`, uses the place it holds (a ticket already used or released is admitted again).
   */
  async run<T>(laneOrTicket: PasswordWorkLane | PasswordWorkTicket, work: () => Promise<T>): Promise<T> {
    let ticket = typeof laneOrTicket === 'string' ? this.admit(laneOrTicket) : laneOrTicket;
    if (!(ticket instanceof Ticket) || ticket.state !== 'reserved') ticket = this.admit(ticket.lane);
    const own = ticket as Ticket;
    own.state = 'used';
    const lane = own.lane;
    await new Promise<void>((resolve) => {
      this.waiting[lane].push({ start: resolve });
      this.pump();
    });
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      this.running--;
      if (lane === 'suspect' && this.suspectShare < 1) {
        const took = performance.now() - t0;
        this.suspectNotBefore = Date.now() + (took * (1 - this.suspectShare)) / this.suspectShare;
      }
      this.pump();
    }
  }

  /** For tests and metrics: calls running and waiting. */
  load(): { running: number } & Record<PasswordWorkLane, number> {
    return { running: this.running, trusted: this.waiting.trusted.length, unknown: this.waiting.unknown.length, suspect: this.waiting.suspect.length };
  }

  /** Starts waiters in lane order while slots are free; the suspect lane only once its pause is over. */
  private pump(): void {
    const now = Date.now();
    while (this.running < this.limits.concurrent) {
      const lane = LANE_ORDER.find((l) => this.waiting[l].length > 0 && (l !== 'suspect' || now >= this.suspectNotBefore));
      if (!lane) break;
      const next = this.waiting[lane].shift()!;
      this.pending[lane]--;
      this.running++;
      next.start();
    }
    if (this.waiting.suspect.length > 0 && this.running < this.limits.concurrent && !this.wakeTimer) {
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = null;
        this.pump();
      }, Math.max(1, this.suspectNotBefore - now));
    }
  }
}
