import { Readable } from 'node:stream';
import { csvCell } from '../common/csv';

export interface CsvColumn<T> {
  header: string;
  value: (row: T) => unknown;
}

/**
 * CSV rendered page by page as the client reads it: `nextPage(last)` is called for the rows after `last` (null for
 * the first page) only when the socket has taken the previous page, so memory stays at about one page whatever the
 * export's size, and a slow or vanished client stops the queries instead of piling rows up. Same bytes as `toCsv`
 * over all the rows.
 */
/**
 * Largest piece handed to the socket, in characters (one row may overrun it). A page rendered as one string was
 * ~200 KB: each write of it is a native buffer above glibc's 128 KiB mmap threshold, and freeing those raises the
 * threshold, after which such buffers come from the heap and are not given back. The CSV of 222,089 sessions grew the
 * server's RSS by ~100 MB that way; in pieces of 32K characters it grows ~18 MB (`npm run bench -- scale`).
 */
export const CSV_CHUNK_CHARS = 32 * 1024;

export function csvStream<T>(columns: CsvColumn<T>[], nextPage: (last: T | null) => Promise<T[]>): Readable {
  async function* render(): AsyncGenerator<string> {
    yield columns.map((c) => csvCell(c.header)).join(',') + '\r\n';
    let last: T | null = null;
    for (;;) {
      const rows = await nextPage(last);
      if (rows.length === 0) return;
      let out = '';
      for (const row of rows) {
        for (let i = 0; i < columns.length; i++) out += (i ? ',' : '') + csvCell(columns[i]!.value(row));
        out += '\r\n';
        if (out.length >= CSV_CHUNK_CHARS) {
          yield out;
          out = '';
        }
      }
      if (out) yield out;
      last = rows[rows.length - 1]!;
    }
  }
  return Readable.from(render(), { objectMode: false });
}
