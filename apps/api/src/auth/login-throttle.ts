import * as net from 'node:net';
import type { PasswordWorkLane } from './password-work-gate';

/** Limits for failed logins. A success for (username, ip) clears that pair's failures. */
export interface LoginThrottleLimits {
  /** Failures allowed per (username, ip) within the window before further attempts are refused. */
  perUserAndIp: number;
  /** Failures allowed per ip (any usernames) within the window; stops one client spraying many usernames. */
  perIp: number;
  windowMs: number;
  /** Bound on tracked keys so a flood of distinct usernames cannot grow memory without limit. */
  maxKeys: number;
  /** From this many failures in the window an address's password checks wait behind everybody else's (known addresses excepted). */
  suspectAfter: number;
  /** How long an address that logged in successfully counts as known (its checks go first during a flood). */
  knownForMs: number;
}

export const DEFAULT_LOGIN_THROTTLE_LIMITS: LoginThrottleLimits = {
  perUserAndIp: 5,
  perIp: 20,
  windowMs: 15 * 60_000,
  maxKeys: 10_000,
  suspectAfter: 1,
  knownForMs: 24 * 60 * 60_000,
};

/**
 * Sliding-window counter of failed logins, in memory (one process serves the API; a restart forgets, which only
 * gives an attacker a fresh window per restart). Time is passed in, so the rules are testable without waiting.
 * Every key includes the client address: a lockout never reaches the same account logging in from another address,
 * and there is deliberately no account-wide lockout (it would let anyone lock the admins out).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  /** Addresses with a successful login, and when (insertion order = recency, bounded like `failures`). */
  private readonly knownAddresses = new Map<string, number>();
  private readonly limits: LoginThrottleLimits;

  constructor(limits: Partial<LoginThrottleLimits> = {}) {
    this.limits = { ...DEFAULT_LOGIN_THROTTLE_LIMITS, ...limits };
  }

  /** The queue this address's password checks wait in (PasswordWorkGate). */
  laneFor(ip: string, now: number): PasswordWorkLane {
    const knownAt = this.knownAddresses.get(ip);
    if (knownAt !== undefined && now - knownAt < this.limits.knownForMs) return 'trusted';
    return this.live(ipKey(ip), now).length >= this.limits.suspectAfter ? 'suspect' : 'unknown';
  }

  /** Seconds until the next attempt is allowed, or 0 when it is allowed now. */
  retryAfterSeconds(username: string, ip: string, now: number): number {
    const waits = [
      this.wait(pairKey(username, ip), this.limits.perUserAndIp, now),
      this.wait(ipKey(ip), this.limits.perIp, now),
    ];
    return Math.max(...waits);
  }

  /** Seconds until the address may try again whatever the username (its per-address limit), or 0. */
  addressRetryAfterSeconds(ip: string, now: number): number {
    return this.wait(ipKey(ip), this.limits.perIp, now);
  }

  recordFailure(username: string, ip: string, now: number): void {
    this.push(pairKey(username, ip), now);
    this.push(ipKey(ip), now);
  }

  recordSuccess(username: string, ip: string, now = Date.now()): void {
    this.failures.delete(pairKey(username, ip));
    this.knownAddresses.delete(ip);
    this.knownAddresses.set(ip, now);
    while (this.knownAddresses.size > this.limits.maxKeys) {
      const oldest = this.knownAddresses.keys().next().value;
      if (oldest === undefined) break;
      this.knownAddresses.delete(oldest);
    }
  }

  /** Forget everything (tests, or an operator clearing lockouts). */
  clear(): void {
    this.failures.clear();
    this.knownAddresses.clear();
  }

  private wait(key: string, limit: number, now: number): number {
    const times = this.live(key, now);
    if (times.length < limit) return 0;
    // Blocked until enough of the failures have left the window that fewer than `limit` remain.
    const releaseAt = times[times.length - limit] + this.limits.windowMs;
    return Math.max(1, Math.ceil((releaseAt - now) / 1000));
  }

  private live(key: string, now: number): number[] {
    const times = this.failures.get(key);
    if (!times) return [];
    const cutoff = now - this.limits.windowMs;
    const kept = times.filter((t) => t > cutoff);
    if (kept.length === 0) this.failures.delete(key);
    else if (kept.length !== times.length) this.failures.set(key, kept);
    return kept;
  }

  private push(key: string, now: number): void {
    const times = this.live(key, now);
    times.push(now);
    // Keep no more entries than the largest limit needs.
    const keep = Math.max(this.limits.perUserAndIp, this.limits.perIp);
    if (times.length > keep) times.splice(0, times.length - keep);
    this.failures.delete(key); // re-insert: Map order then tracks recency for eviction
    this.failures.set(key, times);
    while (this.failures.size > this.limits.maxKeys) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
  }
}

function pairKey(username: string, ip: string): string {
  return `u\u0000${username.toLowerCase()}\u0000${throttleAddress(ip)}`;
}

function ipKey(ip: string): string {
  return `i\u0000${throttleAddress(ip)}`;
}

/**
 * The address failures are counted against: IPv4 as it is (an IPv4-mapped IPv6 address as its IPv4 one, so a
 * dual-stack socket does not give one client two budgets), IPv6 by its /64. One host is routinely given a whole /64
 * and may pick a new address for every attempt; counted per address, each would start with a fresh budget.
 */
export function throttleAddress(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const bare = ip.replace(/%.*$/, '');
  if (!net.isIPv6(bare)) return ip;
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const full = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${full.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
