import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toCsv } from '../common/csv';
import { CSV_CHUNK_CHARS, csvStream, type CsvColumn } from './csv-stream';

interface Row {
  id: number;
  text: string;
}

const COLUMNS: CsvColumn<Row>[] = [
  { header: 'id', value: (r) => r.id },
  { header: 'text', value: (r) => r.text },
];

/** `pages` pages of `perPage` rows with `width`-character texts, some needing quotes or a formula guard. */
function rows(pages: number, perPage: number, width: number): Row[] {
  return Array.from({ length: pages * perPage }, (_, i) => ({ id: i + 1, text: (i % 3 === 0 ? '=x,"' : 'y').padEnd(width, String(i % 10)) }));
}

async function chunksOf(all: Row[], perPage: number): Promise<string[]> {
  const stream = csvStream(COLUMNS, async (last) => {
    const from = last ? last.id : 0;
    return all.slice(from, from + perPage);
  });
  const out: string[] = [];
  for await (const chunk of stream) out.push(chunk.toString('utf8'));
  return out;
}

for (const [name, pages, perPage, width] of [
  ['no rows', 0, 10, 10],
  ['one small page', 1, 3, 10],
  ['pages far larger than a chunk', 5, 1000, 200],
  ['rows longer than a chunk', 2, 3, CSV_CHUNK_CHARS + 10],
] as const) {
  test(`csvStream: ${name}: the same bytes as toCsv over every row, in pieces no larger than a chunk plus one row`, async () => {
    const all = rows(pages, perPage, width);
    const chunks = await chunksOf(all, perPage);
    assert.equal(chunks.join(''), toCsv(all, COLUMNS));
    const longestRow = Math.max(0, ...toCsv(all, COLUMNS).split('\r\n').map((l) => l.length + 2));
    for (const c of chunks) assert.ok(c.length < CSV_CHUNK_CHARS + longestRow, `a piece of ${c.length} characters`);
    if (pages * perPage * width > 4 * CSV_CHUNK_CHARS) assert.ok(chunks.length > pages, 'a page is split into pieces');
  });
}
