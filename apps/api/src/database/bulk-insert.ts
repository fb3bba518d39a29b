import type { EntityManager } from 'typeorm';

/** SQLite's default limit of bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
const MAX_PARAMETERS = 32_766;

/**
 * Inserts many rows with multi-row INSERT statements of plain bound parameters. TypeORM's insert builder spends
 * seconds on parameter bookkeeping for thousands of rows (a bulk import); this is the same SQL without it.
 * `table` and `columns` are our own constants, never input. Values must already be in their stored form.
 */
export async function insertRows(em: EntityManager, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement);
    await em.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')}`, chunk.flat());
  }
}

/** A Date as TypeORM stores a `datetime` column in SQLite: UTC, `YYYY-MM-DD HH:MM:SS.mmm`. */
export function sqliteDatetime(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 23);
}
