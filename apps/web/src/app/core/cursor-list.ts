import { signal } from '@angular/core';
import type { Page } from '@rsynchub/contracts';
import type { ApiError } from './api-error';

/** datetime-local value (local time) -> ISO 8601, or undefined when empty/invalid. */
export function localToIso(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * Builds an API query from a filter form: the given text fields trimmed (left out when empty), and the
 * datetime-local fields `from`/`to` as ISO times.
 */
export function filterQuery<K extends string>(values: Record<K | 'from' | 'to', string>, textFields: readonly K[]): Partial<Record<K | 'from' | 'to', string>> {
  const q: Partial<Record<K | 'from' | 'to', string>> = {};
  for (const k of textFields) if (values[k].trim()) q[k] = values[k].trim();
  const from = localToIso(values.from);
  const to = localToIso(values.to);
  if (from) q.from = from;
  if (to) q.to = to;
  return q;
}

/**
 * A newest-first list read page by page with the API's cursors (history, audit log): the current query, the items
 * so far, "load more", loading and error state. A 404 means the server has no such history, said in `unavailable`.
 */
export class CursorList<T, Q extends object> {
  readonly items = signal<T[]>([]);
  readonly nextCursor = signal<string | null>(null);
  readonly loading = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly query = signal<Q>({} as Q);

  constructor(
    private readonly load: (q: Q & { limit: number; cursor?: string }) => Promise<Page<T>>,
    private readonly unavailable: string,
    private readonly pageSize = 50,
  ) {}

  /** Starts over with a new query. */
  search(q: Q): Promise<void> {
    this.query.set(q);
    return this.fetch(false);
  }

  reload(): Promise<void> {
    return this.fetch(false);
  }

  more(): Promise<void> {
    return this.fetch(true);
  }

  /**
   * Something new may match (a live event): reads the first page again and merges it in without a spinner, keeping
   * the older pages already loaded. `id` orders items newest first (larger = newer). An item within the new first
   * page's range that no longer matches (a running session that ended, under a status filter) goes; a failure keeps
   * the list.
   */
  async mergeNewest(id: (item: T) => number): Promise<void> {
    if (this.loading()) return;
    const query = this.query();
    let page: Page<T>;
    try {
      page = await this.load({ ...query, limit: this.pageSize });
    } catch {
      return;
    }
    // The filters changed (or a reload started) meanwhile: that answer is the one to show, not this one.
    if (this.query() !== query || this.loading()) return;
    const current = this.items();
    if (current.length <= this.pageSize || page.nextCursor === null) {
      this.items.set(page.items);
      this.nextCursor.set(page.nextCursor);
    } else {
      const oldest = Math.min(...page.items.map(id));
      this.items.set([...page.items, ...current.filter((item) => id(item) < oldest)]);
    }
    this.error.set(null);
  }

  private async fetch(append: boolean): Promise<void> {
    this.loading.set(true);
    try {
      const cursor = append ? this.nextCursor() : null;
      const page = await this.load({ ...this.query(), limit: this.pageSize, ...(cursor ? { cursor } : {}) });
      this.items.update((cur) => (append ? [...cur, ...page.items] : page.items));
      this.nextCursor.set(page.nextCursor);
      this.error.set(null);
    } catch (err) {
      const e = err as ApiError;
      this.error.set(e.status === 404 ? { ...e, message: this.unavailable } : e);
      if (!append) this.items.set([]);
    } finally {
      this.loading.set(false);
    }
  }
}
