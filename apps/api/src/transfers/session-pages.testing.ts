import assert from 'node:assert/strict';
import type { TransferQuery } from '@rsynchub/contracts';
import type { TransfersService } from './transfers.service';

/*
 * What the sessions-list filter tests read back through the service: every page of the JSON list, and the CSV's ids,
 * to compare with a full scan. Shared by session-filters and session-time-filters.
 */

/** Every id of the list for `q`, page by page through the cursor; each page full but the last. */
export async function listAll(service: TransfersService, q: TransferQuery, limit: number): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await service.list({ ...q, limit, cursor });
    assert.ok(page.items.length <= limit);
    ids.push(...page.items.map((s) => s.id));
    if (!page.nextCursor) return ids;
    assert.equal(page.items.length, limit, 'only the last page is short');
    cursor = page.nextCursor;
  }
  throw new Error('the cursor never ended');
}

/** The ids of the CSV for `q`, in its order. */
export async function csvIds(service: TransfersService, q: TransferQuery): Promise<number[]> {
  let text = '';
  for await (const chunk of service.csv(q)) text += chunk.toString();
  return text
    .split('\r\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => Number(line.split(',')[0]));
}
