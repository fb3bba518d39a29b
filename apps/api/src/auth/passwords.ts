import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import * as argon2 from 'argon2';
import { randomBytes } from 'node:crypto';
import { Argon2Worker } from './argon2-worker';
import { PasswordWorkGate, PasswordWorkLane, PasswordWorkTicket } from './password-work-gate';

export const MIN_PASSWORD_LENGTH = 12;
/** argon2 cost grows with input; an upper bound keeps a huge "password" from being a cheap DoS. */
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * argon2id hashing, plus a dummy verification so unknown usernames cost as much time as known ones. Every call goes
 * through the PasswordWorkGate: bounded concurrency, trusted callers first, 429 at once when the queue is full. The
 * work itself runs in a lower-priority child process (Argon2Worker), in this process only if that one fails.
 */
@Injectable()
export class PasswordHasher implements OnApplicationShutdown {
  private dummyHash: Promise<string> | undefined;
  private readonly worker = new Argon2Worker();

  constructor(private readonly gate: PasswordWorkGate) {}

  hash(password: string): Promise<string> {
    return this.gate.run('trusted', () => this.hashNow(password));
  }

  /** A place in `lane` taken now (PasswordWorkBusy at once when full), for a `verify` after other work. */
  admit(lane: PasswordWorkLane): PasswordWorkTicket {
    return this.gate.admit(lane);
  }

  verify(hash: string, password: string, lane: PasswordWorkLane | PasswordWorkTicket = 'trusted'): Promise<boolean> {
    return this.gate.run(lane, () => this.verifyNow(hash, password));
  }

  /** Spends the same work as `verify` on a real hash and always answers false. */
  async verifyDummy(password: string, lane: PasswordWorkLane | PasswordWorkTicket = 'trusted'): Promise<false> {
    this.dummyHash ??= this.hashNow(randomBytes(16).toString('base64url'));
    const dummy = await this.dummyHash;
    await this.gate.run(lane, () => this.verifyNow(dummy, password));
    return false;
  }

  onApplicationShutdown(): void {
    this.worker.stop();
  }

  private async hashNow(password: string): Promise<string> {
    try {
      return await this.worker.hash(password);
    } catch {
      return argon2.hash(password, { type: argon2.argon2id }); // the worker is gone: never leave a login unanswered
    }
  }

  private async verifyNow(hash: string, password: string): Promise<boolean> {
    try {
      return await this.worker.verify(hash, password);
    } catch {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false; // malformed stored hash: treat as a mismatch, never as a match
      }
    }
  }
}
