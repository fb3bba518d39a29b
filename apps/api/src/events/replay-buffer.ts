/**
 * The newest events of the live stream, kept so a client that reconnects with the last id it saw gets exactly what
 * it missed. Bounded by weight (an event counts its array length, at least 1), not by time: a file flood evicts
 * older events, and a client that asks for an evicted id is told to re-fetch instead of being handed a gap.
 * Pure: no timers, no I/O.
 */
export interface Identified {
  id: number;
}

export type ReplayAnswer<T> = { ok: true; events: T[] } | { ok: false; reason: string };

export class ReplayBuffer<T extends Identified> {
  private readonly items: { event: T; weight: number }[] = [];
  private head = 0;
  private weight = 0;
  /** The id of the oldest event this buffer can still answer "after" for (i.e. everything newer is here). */
  private horizon: number;

  /** `lastId`: the id just before this buffer's first event (nothing older can be replayed). */
  constructor(
    private readonly maxWeight: number,
    private lastId: number,
  ) {
    this.horizon = lastId;
  }

  get newestId(): number {
    return this.lastId;
  }

  push(event: T, weight: number): void {
    this.lastId = event.id;
    this.items.push({ event, weight });
    this.weight += weight;
    while (this.weight > this.maxWeight && this.head < this.items.length) {
      const dropped = this.items[this.head++]!;
      this.weight -= dropped.weight;
      this.horizon = dropped.event.id;
    }
    // Compact now and then so the array does not grow with evicted slots.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Events with id > `afterId`, or why they cannot be given (the client must re-fetch). */
  after(afterId: number): ReplayAnswer<T> {
    if (!Number.isSafeInteger(afterId)) return { ok: false, reason: 'lastEventId is not an integer' };
    if (afterId > this.lastId) return { ok: false, reason: 'lastEventId is from another server run' };
    if (afterId < this.horizon) return { ok: false, reason: 'events since lastEventId are no longer kept' };
    const out: T[] = [];
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]!.event.id > afterId) out.push(this.items[i]!.event);
    return { ok: true, events: out };
  }
}
