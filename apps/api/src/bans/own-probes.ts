import { Injectable } from '@nestjs/common';

/** How long after a probe ended its auth failure may still arrive from the daemon log. */
const LOG_LAG_MS = 60_000;
/** Bound on announced probes (connection tests run at most a few at a time). */
const MAX_PROBES = 256;

interface Probe {
  address: string;
  module: string;
  user: string | null;
  /** Until then the probe may still fail; Infinity while it runs. */
  until: number;
}

/**
 * Connections the server makes to its own daemon ("Test connection"): each may fail authentication once, and that
 * failure is the admin's test, not password guessing, so it must never count toward a ban of the server's own
 * address. A probe is announced before it runs (address, module, user), and the first matching `auth failed` from
 * the daemon log within a minute of its end is taken as its own (consumed, one per probe), nothing else.
 */
@Injectable()
export class OwnProbes {
  private readonly probes: Probe[] = [];

  /** Announces a probe about to run (`user`: the login name the client sends); call the returned function when it has ended. */
  expect(address: string, module: string, user: string | null): () => void {
    const probe: Probe = { address, module, user, until: Number.POSITIVE_INFINITY };
    this.probes.push(probe);
    if (this.probes.length > MAX_PROBES) this.probes.shift();
    return () => {
      probe.until = Date.now() + LOG_LAG_MS;
    };
  }

  /** True, once per probe, when this auth failure is one of the server's own probes. */
  consume(address: string, module: string | null, user: string | null, now = Date.now()): boolean {
    for (let i = this.probes.length - 1; i >= 0; i--) if (this.probes[i]!.until < now) this.probes.splice(i, 1);
    // Older daemons log no user: then address and module must do.
    const i = this.probes.findIndex((p) => p.address === address && p.module === module && (user === null || p.user === user));
    if (i < 0) return false;
    this.probes.splice(i, 1);
    return true;
  }
}
