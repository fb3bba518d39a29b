/**
 * The follower hands out lines as views into its read buffer, without a copy per line (issue 10, ingestion speed).
 * That is only safe if a buffer that lines point into is never read into again: lines kept from early reads must
 * still hold their own bytes after many later reads, across read slices and lines split between two reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogFollower } from './log-follower';

test('lines kept from earlier reads keep their bytes while later reads go on (no buffer reuse under a view)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-follow-views-'));
  const file = path.join(dir, 'rsyncd.log');
  try {
    const expected: string[] = [];
    const kept: Buffer[] = [];
    const f = new LogFollower(file, []);
    fs.writeFileSync(file, '');
    for (let round = 0; round < 12; round++) {
      // ~0.6 MiB per round, lines of varying length; the last one of a round is completed by the next round.
      let chunk = '';
      for (let i = 0; i < 6000; i++) {
        const l = `round ${round} line ${i} ${'x'.repeat((i * 37) % 150)}`;
        expected.push(l);
        chunk += `${l}\n`;
      }
      const cut = chunk.length - 7;
      fs.appendFileSync(file, chunk.slice(0, cut));
      for (const l of f.read(256 * 1024).lines) kept.push(l.line);
      fs.appendFileSync(file, chunk.slice(cut));
      // Small slices: many reads, each of which would land in a reused buffer.
      for (;;) {
        const r = f.read(256 * 1024);
        for (const l of r.lines) kept.push(l.line);
        if (r.caughtUp) break;
      }
    }
    f.close();
    assert.equal(kept.length, expected.length);
    for (let i = 0; i < expected.length; i++) assert.equal(kept[i]!.toString(), expected[i], `line ${i}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
