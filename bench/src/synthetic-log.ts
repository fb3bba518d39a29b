import * as fs from 'node:fs';
import { TRANSFER_LOG_FORMAT } from '@rsynchub/rsync-log';

/**
 * Writes a realistic daemon log of about `lines` lines: sessions of `filesPerSession` received files each, with the
 * connect / start / per-file / totals lines the real daemon writes (see the captured fixture), pids interleaved in
 * pairs like concurrent clients. Returns the number of lines written and of file lines among them.
 */
export function writeSyntheticLog(file: string, lines: number, filesPerSession = 100): { lines: number; files: number; sessions: number } {
  if (TRANSFER_LOG_FORMAT !== '%o|%a|%h|%m|%u|%l|%b|%i|%M|%f') throw new Error('synthetic lines follow a different log format');
  const fd = fs.openSync(file, 'a');
  let written = 0;
  let files = 0;
  let sessions = 0;
  let pid = 100_000;
  const at = '2026/11/25 10:00:00';
  let chunk: string[] = [];
  const flush = () => {
    fs.writeSync(fd, chunk.join(''));
    chunk = [];
  };
  while (written < lines) {
    const a = pid++;
    const b = pid++;
    for (const p of [a, b]) {
      chunk.push(`${at} [${p}] connect from client (10.0.0.${p % 250})\n`, `${at} [${p}] rsync to bench/ from alice@client (10.0.0.${p % 250})\n`);
      written += 2;
      sessions++;
    }
    for (let i = 0; i < filesPerSession; i++) {
      for (const p of [a, b]) {
        chunk.push(`${at} [${p}] recv|10.0.0.${p % 250}|client|bench|alice|${4096 + i}|${4200 + i}|>f+++++++++|2026/11/25-09:59:59|dir${i % 10}/session-${p}-file-${i}.dat\n`);
        written++;
        files++;
      }
    }
    for (const p of [a, b]) {
      chunk.push(`${at} [${p}] sent 1234 bytes  received ${filesPerSession * 4200} bytes  total size ${filesPerSession * 4096}\n`);
      written++;
    }
    if (chunk.length > 20_000) flush();
  }
  flush();
  fs.closeSync(fd);
  return { lines: written, files, sessions };
}
