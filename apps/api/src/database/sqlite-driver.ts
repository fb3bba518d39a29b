import sqlite3 = require('sqlite3');

/**
 * The sqlite3 module handed to TypeORM. TypeORM's SqliteDriver always calls `sqlite3.verbose()`, which wraps every
 * Database/Statement method process-wide so that each call builds an `Error` for its stack and `util.inspect`s its
 * arguments (the SQL and every bound value): at ingestion rates that was the biggest single cost after GC. The
 * module given here answers `verbose()` with itself, unchanged. RSYNCHUB_SQLITE_VERBOSE=1 turns the real verbose
 * mode back on (SQLite errors then carry the JavaScript stack of the call that caused them), for debugging.
 */
export function sqliteDriver(env: NodeJS.ProcessEnv = process.env): typeof sqlite3 {
  if (sqliteVerboseFromEnv(env)) return sqlite3.verbose();
  const quiet = Object.create(sqlite3) as typeof sqlite3 & { verbose: () => typeof sqlite3 };
  Object.defineProperty(quiet, 'verbose', { value: () => quiet });
  return quiet;
}

export function sqliteVerboseFromEnv(env: NodeJS.ProcessEnv): boolean {
  const raw = (env.RSYNCHUB_SQLITE_VERBOSE ?? '').trim().toLowerCase();
  if (raw === '' || ['0', 'false', 'no', 'off'].includes(raw)) return false;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  throw new Error(`RSYNCHUB_SQLITE_VERBOSE must be 1 or 0 (true/false, yes/no, on/off), got "${env.RSYNCHUB_SQLITE_VERBOSE}"`);
}
