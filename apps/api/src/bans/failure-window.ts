/**
 * Counts failures per address in a sliding window. Memory is bounded: at most `maxAddresses` addresses are tracked
 * (the least recently failing are forgotten first), and each keeps at most `threshold` timestamps.
 */
export class FailureWindow {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly threshold: number,
    private readonly windowMs: number,
    private readonly maxAddresses = 100_000,
  ) {}

  /** Records a failure at `now`; returns how many failures the address has within the window (this one included). */
  add(address: string, now: number): number {
    const kept = (this.failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
    kept.push(now);
    if (kept.length > this.threshold) kept.splice(0, kept.length - this.threshold);
    // Re-inserted at the end: Map order is then "least recently failing first".
    this.failures.delete(address);
    this.failures.set(address, kept);
    while (this.failures.size > this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
    return kept.length;
  }

  forget(address: string): void {
    this.failures.delete(address);
  }

  get size(): number {
    return this.failures.size;
  }
}
