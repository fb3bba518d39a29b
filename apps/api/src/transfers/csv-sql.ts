/**
 * CSV cells rendered by SQLite, so an export page arrives as one string per row instead of an object of ~18 values
 * that JavaScript then formats. Those objects outlived V8's young generation and were promoted: a CSV of 241,418
 * sessions grew the server's heap by ~100 MB (heapUsed 163 -> 263 MB) and its RSS by 7-100 MB depending on when the
 * old generation was collected; four CSVs of a 1M-file session at once, +25-51 MB. With one string per row: +0-3 MB
 * and +0-1 MB, and the sessions export takes 3.2 s instead of 4.8 s.
 *
 * The expression is `csvCell` (common/csv.ts) in SQL, and must give the same bytes (csv-sql.test.ts holds them to it):
 * NULL is empty; a value starting with = + - @ TAB or CR gets a leading ' (CSV injection); a value containing a double
 * quote, comma, CR or LF is quoted with its quotes doubled. Numbers are rendered by SQLite: integers as JavaScript
 * would; the columns exported are integers and text only.
 */

/** `expr` is trusted SQL (a column of the query), never user input. */
export function csvCellSql(expr: string): string {
  const text = `CAST(${expr} AS TEXT)`;
  const guarded = `(CASE WHEN substr(${text}, 1, 1) IN ('=', '+', '-', '@', char(9), char(13)) THEN '''' ELSE '' END || ${text})`;
  const needsQuotes = `(instr(${text}, '"') > 0 OR instr(${text}, ',') > 0 OR instr(${text}, char(13)) > 0 OR instr(${text}, char(10)) > 0)`;
  return `(CASE WHEN ${expr} IS NULL THEN '' WHEN ${needsQuotes} THEN '"' || replace(${guarded}, '"', '""') || '"' ELSE ${guarded} END)`;
}

/** One CSV line (without its CRLF) of the given column expressions. */
export function csvLineSql(exprs: readonly string[]): string {
  return exprs.map(csvCellSql).join(` || ',' || `);
}
