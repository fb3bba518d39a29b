// Test helpers shared by the *.test.ts files (not exported from the package).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The log captured from a real rsync 3.5.0 daemon by fixtures/capture.sh. Tests run from dist/, the file stays in src/. */
export const FIXTURE_PATH = join(__dirname, '..', 'src', 'fixtures', 'rsync-3.5.0-daemon.log');

export function readFixture(): Buffer {
  return readFileSync(FIXTURE_PATH);
}

/** The fixture's lines (split at `\n`, without it). */
export function fixtureLines(): Buffer[] {
  const data = readFixture();
  const lines: Buffer[] = [];
  let from = 0;
  for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, from)) {
    lines.push(data.subarray(from, nl));
    from = nl + 1;
  }
  if (from < data.length) lines.push(data.subarray(from));
  return lines;
}

/** Builds bytes from parts: strings are UTF-8 encoded, number arrays are raw bytes. */
export function bytes(...parts: (string | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}
