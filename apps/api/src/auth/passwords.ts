import { Injectable } from '@nestjs/common';
import * as argon2 from 'argon2';
import { randomBytes } from 'node:crypto';

export const MIN_PASSWORD_LENGTH = 12;
/** argon2 cost grows with input; an upper bound keeps a huge "password" from being a cheap DoS. */
export const MAX_PASSWORD_LENGTH = 1024;

/** argon2id hashing, plus a dummy verification so unknown usernames cost as much time as known ones. */
@Injectable()
export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id });
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false; // malformed stored hash: treat as a mismatch, never as a match
    }
  }

  /** Spends the same work as `verify` on a real hash and always answers false. */
  async verifyDummy(password: string): Promise<false> {
    this.dummyHash ??= this.hash(randomBytes(16).toString('base64url'));
    await this.verify(await this.dummyHash, password);
    return false;
  }
}
