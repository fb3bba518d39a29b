import * as fs from 'node:fs';

/**
 * The database holds admin password hashes, API token hashes, sealed rsync passwords and the audit log: owner only.
 * SQLite creates its -wal and -shm files with the main file's mode, so creating that one 0600 (whatever the umask)
 * covers them; files an older version left 0644 are tightened too.
 */
export function ownerOnlyDatabaseFiles(database: string): void {
  fs.closeSync(fs.openSync(database, fs.constants.O_CREAT | fs.constants.O_RDWR, 0o600));
  for (const file of [database, `${database}-wal`, `${database}-shm`, `${database}-journal`]) {
    try {
      if (fs.statSync(file).mode & 0o077) fs.chmodSync(file, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
