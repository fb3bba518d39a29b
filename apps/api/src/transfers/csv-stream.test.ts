import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvCell } from '../common/csv';
import { CSV_CHUNK_CHARS, csvStream, type CsvLine } from './csv-stream';

/** `pages` pages of `perPage` lines of `width` characters. */
function lines(pages: number, perPage: number, width: number): CsvLine[] {
  return Array.from({ length: pages * perPage }, (_, i) => ({ id: (i + 1) * 3, line: `${(i + 1) * 3},`.padEnd(width, String(i % 10)) }));
}

async function exportOf(all: CsvLine[], perPage: number): Promise<{ chunks: string[]; asked: (number | null)[] }> {
  const asked: (number | null)[] = [];
  const stream = csvStream([{ header: 'id', sql: 'x.id' }, { header: 'te,xt', sql: 'x.text' }], async (lastId) => {
    asked.push(lastId);
    const from = lastId === null ? 0 : all.findIndex((l) => l.id === lastId) + 1;
    return all.slice(from, from + perPage);
  });
  const chunks: string[] = [];
  for await (const chunk of stream) chunks.push(chunk.toString('utf8'));
  return { chunks, asked };
}

for (const [name, pages, perPage, width] of [
  ['no rows', 0, 10, 10],
  ['one small page', 1, 3, 10],
  ['pages far larger than a chunk', 5, 1000, 200],
  ['lines longer than a chunk', 2, 3, CSV_CHUNK_CHARS + 10],
] as const) {
  test(`csvStream: ${name}: the header, then every line with CRLF, in pieces no larger than a chunk plus one line`, async () => {
    const all = lines(pages, perPage, width);
    const { chunks, asked } = await exportOf(all, perPage);
    assert.equal(chunks.join(''), `id,${csvCell('te,xt')}\r\n` + all.map((l) => l.line + '\r\n').join(''));
    for (const c of chunks) assert.ok(c.length < CSV_CHUNK_CHARS + width + 2, `a piece of ${c.length} characters`);
    if (pages * perPage * width > 4 * CSV_CHUNK_CHARS) assert.ok(chunks.length > pages + 1, 'a page is split into pieces');
    // each page after the last id of the one before, until an empty page
    assert.deepEqual(asked, [null, ...Array.from({ length: pages }, (_, p) => all[(p + 1) * perPage - 1]!.id)]);
  });
}
