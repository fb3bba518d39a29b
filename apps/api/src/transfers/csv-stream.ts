import { Readable } from 'node:stream';
import { csvCell } from '../common/csv';
import { csvLineSql } from './csv-sql';

/** A column of an export: its header, and the SQL expression (over the page query's alias) of its value. */
export interface CsvColumn {
  header: string;
  sql: string;
}

/** A row of an export page: its id (the next page starts after it) and its CSV line, rendered by SQLite. */
export interface CsvLine {
  id: number;
  line: string;
}

/** The select list a page query uses to read `columns` as `CsvLine`s (`id` is the query's id column). */
export function csvLineSelect(id: string, columns: readonly CsvColumn[]): string[] {
  return [`${id} AS id`, `${csvLineSql(columns.map((c) => c.sql))} AS line`];
}

/**
 * Largest piece handed to the socket, in characters (one row may overrun it). A page rendered as one string was
 * ~200 KB: each write of it is a native buffer above glibc's 128 KiB mmap threshold, and freeing those raises the
 * threshold, after which such buffers come from the heap and are not given back (measured on a fresh server: a CSV of
 * 222,089 sessions grew its RSS by ~100 MB in 200 KB writes, ~18 MB in pieces of 32K characters).
 */
export const CSV_CHUNK_CHARS = 32 * 1024;

/**
 * CSV rendered page by page as the client reads it: `nextPage(lastId)` is called for the rows after `lastId` (null for
 * the first page) only when the socket has taken the previous page, so memory stays at about one page whatever the
 * export's size, and a slow or vanished client stops the queries instead of piling rows up. Same bytes as `toCsv`
 * over all the rows.
 */
export function csvStream(columns: readonly CsvColumn[], nextPage: (lastId: number | null) => Promise<CsvLine[]>): Readable {
  async function* render(): AsyncGenerator<string> {
    yield columns.map((c) => csvCell(c.header)).join(',') + '\r\n';
    let lastId: number | null = null;
    for (;;) {
      const rows = await nextPage(lastId);
      if (rows.length === 0) return;
      let out = '';
      for (const row of rows) {
        out += row.line + '\r\n';
        if (out.length >= CSV_CHUNK_CHARS) {
          yield out;
          out = '';
        }
      }
      if (out) yield out;
      lastId = rows[rows.length - 1]!.id;
    }
  }
  return Readable.from(render(), { objectMode: false });
}
