/**
 * Imported first by main.ts, before anything can touch libuv's thread pool (it is sized once, on first use).
 * argon2 and sqlite3 both run on that pool; the default 4 threads let a few password checks starve every query.
 * PasswordWorkGate keeps argon2 to at most 2 threads, so 8 leaves SQLite and file I/O room. An operator's own
 * UV_THREADPOOL_SIZE wins.
 */
process.env.UV_THREADPOOL_SIZE ||= '8';
