import type { Page } from '@rsynchub/contracts';
import { CursorList, filterQuery } from './cursor-list';
import type { ApiError } from './api-error';

describe('CursorList', () => {
  it('pages with the cursor, appends on more(), and starts over on search()', async () => {
    const calls: Record<string, unknown>[] = [];
    const pages: Record<string, Page<number>> = { first: { items: [3, 2], nextCursor: 'c1' }, c1: { items: [1], nextCursor: null } };
    const list = new CursorList<number, { module?: string }>(async (q) => {
      calls.push(q);
      return pages[(q.cursor as string | undefined) ?? 'first']!;
    }, 'n/a', 2);
    await list.search({ module: 'm' });
    expect(list.items()).toEqual([3, 2]);
    await list.more();
    expect(list.items()).toEqual([3, 2, 1]);
    expect(list.nextCursor()).toBeNull();
    expect(calls).toEqual([{ module: 'm', limit: 2 }, { module: 'm', limit: 2, cursor: 'c1' }]);
    await list.search({});
    expect(list.items()).toEqual([3, 2]);
    expect(calls[2]).toEqual({ limit: 2 });
  });

  it('says the history is unavailable on a 404 and keeps other errors as they are', async () => {
    const notFound: ApiError = { status: 404, kind: 'not_found', message: 'Cannot GET', details: [] } as unknown as ApiError;
    const list = new CursorList<number, object>(() => Promise.reject(notFound), 'No history here.');
    await list.reload();
    expect(list.error()?.message).toBe('No history here.');
    expect(list.items()).toEqual([]);
    expect(list.loading()).toBe(false);
    const denied = { status: 403, kind: 'forbidden', message: 'auditor accounts are read-only', details: [] } as unknown as ApiError;
    const other = new CursorList<number, object>(() => Promise.reject(denied), 'No history here.');
    await other.reload();
    expect(other.error()?.message).toBe('auditor accounts are read-only');
  });
});

describe('filterQuery', () => {
  it('trims text fields, leaves out empty ones, and turns local times into ISO', () => {
    const q = filterQuery({ actor: '  alice ', action: '', from: '2026-01-02T03:04', to: '' }, ['actor', 'action'] as const);
    expect(q).toEqual({ actor: 'alice', from: new Date('2026-01-02T03:04').toISOString() });
  });
});

describe('CursorList.mergeNewest (live updates)', () => {
  const byId = (n: number) => n;
  it('puts new matches on top and replaces the first page, without a spinner', async () => {
    let first: Page<number> = { items: [3, 2], nextCursor: null };
    const list = new CursorList<number, object>(async () => first, 'n/a', 2);
    await list.reload();
    first = { items: [5, 4], nextCursor: 'c' };
    const loading: boolean[] = [];
    const done = list.mergeNewest(byId);
    loading.push(list.loading());
    await done;
    expect(loading).toEqual([false]);
    expect(list.items()).toEqual([5, 4]);
    expect(list.nextCursor()).toBe('c');
  });
  it('keeps older pages already loaded, drops items of the first page that no longer match', async () => {
    const pages: Record<string, Page<number>> = { first: { items: [9, 8], nextCursor: 'c1' }, c1: { items: [7, 6], nextCursor: 'c2' } };
    const list = new CursorList<number, object>(async (q) => pages[(q.cursor as string | undefined) ?? 'first']!, 'n/a', 2);
    await list.reload();
    await list.more();
    expect(list.items()).toEqual([9, 8, 7, 6]);
    // 10 is new, 9 no longer matches the filter: the first page now reads 10, 8.
    pages['first'] = { items: [10, 8], nextCursor: 'c1' };
    await list.mergeNewest(byId);
    expect(list.items()).toEqual([10, 8, 7, 6]);
    expect(list.nextCursor()).toBe('c2');
  });
  it('keeps the list when the refresh fails', async () => {
    let fail = false;
    const list = new CursorList<number, object>(async () => (fail ? Promise.reject(new Error('down')) : { items: [1], nextCursor: null }), 'n/a', 2);
    await list.reload();
    fail = true;
    await list.mergeNewest(byId);
    expect(list.items()).toEqual([1]);
  });
});

describe('CursorList.mergeNewest racing a new search', () => {
  it('drops a refresh that answers after the filters changed', async () => {
    let releaseOld!: (p: Page<number>) => void;
    const list = new CursorList<number, { module?: string }>((q) => (q.module === 'old' ? new Promise((r) => (releaseOld = r)) : Promise.resolve({ items: [42], nextCursor: null })), 'n/a', 2);
    list.query.set({ module: 'old' });
    const refresh = list.mergeNewest((n) => n);
    await list.search({ module: 'new' });
    releaseOld({ items: [1, 2], nextCursor: null });
    await refresh;
    expect(list.items()).toEqual([42]);
  });
});
